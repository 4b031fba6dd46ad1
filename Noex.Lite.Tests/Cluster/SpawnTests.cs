using System.Collections.Concurrent;
using System.Diagnostics;

namespace Noex.Lite.Tests;

/// <summary>Remote spawn, the behaviour registry, remote stop and dead letters between real nodes on loopback.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class SpawnTests
{
    /// <summary>A counter whose start value is init's args; casts {"type":"inc"} add, calls {"type":"get"} read.</summary>
    internal sealed class Counter : GenServer<long>
    {
        protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) =>
            new(args.TryGetInt64(out var start) ? start : 0);

        protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long state) =>
            new(CallResult<long>.WithReply(state, state));

        protected override async ValueTask<long> HandleCastAsync(Value message, long state)
        {
            if (message.TryGetProperty("block", out var ms))
            {
                await Task.Delay((int)ms.AsInt64());
            }
            return state + 1;
        }
    }

    private sealed class Thrower : GenServer<long>
    {
        protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("init exploded");
    }

    /// <summary>Init waits for a gate (ignoring cancellation, like slow user code), telling the test when it began.</summary>
    private sealed class Gated(Task gate, TaskCompletionSource started) : GenServer<long>
    {
        protected override async ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken)
        {
            started.TrySetResult();
            await gate;
            return 0;
        }
    }

    private const string Secret = "spawn-tests";

    /// <summary>For the tests that pause a link: a heartbeat slow enough that a pause of a few seconds is not a node down.</summary>
    private static NodeOptions SlowHeartbeat(NodeOptions options) => options with { HeartbeatInterval = TimeSpan.FromSeconds(3) };

    /// <summary>Two nodes, each with the "counter" and "thrower" behaviours registered.</summary>
    private static async Task<TestCluster> PairAsync()
    {
        var pair = await TestCluster.StartAsync(2, Secret);
        foreach (var node in pair.Nodes)
        {
            node.Behaviors.Register("counter", () => new Counter());
            node.Behaviors.Register("thrower", () => new Thrower());
        }
        return pair;
    }

    /// <summary>Registers "gated" on <paramref name="node"/>: its init says it began, then waits for the gate to open.</summary>
    private static (TaskCompletionSource Gate, TaskCompletionSource Started) RegisterGated(Node node)
    {
        var gate = new TaskCompletionSource();
        var started = new TaskCompletionSource();
        node.Behaviors.Register("gated", () => new Gated(gate.Task, started));
        return (gate, started);
    }

    /// <summary>Waits until neither node has a spawn or stop in any table: the tables never leak.</summary>
    private static Task TablesEmpty(params Node[] nodes) => Wait.UntilAsync(() => nodes.All(n => n.PendingSpawnCounts == (0, 0, 0)));

    private static readonly Value s_get = Value.Object(("type", "get"));

    [Fact]
    public async Task SpawnAsync_NoRegistration_RunsOnTargetWithInitArgsAndRegistersNothing()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;

        var counter = await a.SpawnAsync("counter", b.Id, new SpawnOptions { Args = 41 });
        // 'none' with a name registers nothing (the original registered it locally anyway).
        var named = await a.SpawnAsync("counter", b.Id, new SpawnOptions { Name = "not-registered", Registration = SpawnRegistration.None });

        Assert.Equal(b.Id.ToString(), counter.Node);
        Assert.True(b.Runtime.IsAlive(counter));
        Assert.Equal(41, (await a.Runtime.CallAsync(counter, s_get)).AsInt64());
        Assert.True(b.Runtime.IsAlive(named));
        Assert.Equal(0, b.Runtime.Registry.Count);
        await TablesEmpty(a, b);
    }

    [Fact]
    public async Task SpawnAsync_LocalRegistration_NameRegisteredOnTheTargetOnly()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;

        var counter = await a.SpawnAsync("counter", b.Id, new SpawnOptions { Name = "c1", Args = 3 });

        Assert.Equal(counter, b.Runtime.Registry.Whereis("c1"));
        Assert.Null(a.Runtime.Registry.Whereis("c1"));
        Assert.Equal(3, (await b.Runtime.CallAsync("c1", s_get)).AsInt64());
        await TablesEmpty(a, b);
    }

    [Fact]
    public async Task SpawnAsync_GlobalRegistration_NameVisibleOnEveryNodeAndGoneWithTheProcess()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;

        var counter = await a.SpawnAsync("counter", b.Id, new SpawnOptions { Name = "g1", Registration = SpawnRegistration.Global, Args = 4 });

        Assert.Equal(counter, b.GlobalRegistry.Whereis("g1"));
        await Wait.UntilAsync(() => a.GlobalRegistry.Whereis("g1") == counter);
        Assert.Null(b.Runtime.Registry.Whereis("g1"));
        Assert.Equal(4, (await a.Runtime.CallAsync(a.GlobalRegistry.Lookup("g1"), s_get)).AsInt64());
        await a.Runtime.StopAsync(counter);
        await Wait.UntilAsync(() => a.GlobalRegistry.Whereis("g1") is null && b.GlobalRegistry.Whereis("g1") is null);
        await Assert.ThrowsAsync<ArgumentException>(() => a.SpawnAsync("counter", b.Id, new SpawnOptions { Registration = SpawnRegistration.Global }));
        await TablesEmpty(a, b);
    }

    [Fact]
    public async Task SpawnAsync_GlobalNameTaken_RegistrationErrorAndTheSpawnedProcessStopped()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var holder = await a.Runtime.StartAsync(new Counter());
        a.GlobalRegistry.Register("shared", holder);
        await Wait.UntilAsync(() => b.GlobalRegistry.Whereis("shared") == holder);
        var before = b.Runtime.ProcessCount;

        var error = await Assert.ThrowsAsync<RemoteSpawnRegistrationException>(() =>
            a.SpawnAsync("counter", b.Id, new SpawnOptions { Name = "shared", Registration = SpawnRegistration.Global }));

        Assert.Equal(SpawnRegistration.Global, error.Registration);
        Assert.Equal("shared", error.RegisteredName);
        Assert.Contains(holder.ToString(), error.Detail);
        Assert.Equal(holder, b.GlobalRegistry.Whereis("shared"));
        await Wait.UntilAsync(() => b.Runtime.ProcessCount == before);
        // On the local node the same rule holds.
        await Assert.ThrowsAsync<RemoteSpawnRegistrationException>(() =>
            a.SpawnAsync("counter", a.Id, new SpawnOptions { Name = "shared", Registration = SpawnRegistration.Global }));
        await TablesEmpty(a, b);
    }

    [Fact]
    public async Task SpawnAsync_OnTheLocalNodeId_SpawnsLocallyWithTheSameErrors()
    {
        await using var pair = await PairAsync();
        var (a, _) = pair;

        var counter = await a.SpawnAsync("counter", a.Id, new SpawnOptions { Name = "here", Args = 9 });

        Assert.Equal(a.Id.ToString(), counter.Node);
        Assert.Equal(counter, a.Runtime.Registry.Whereis("here"));
        Assert.Equal(9, (await a.Runtime.CallAsync(counter, s_get)).AsInt64());
        await Assert.ThrowsAsync<BehaviorNotFoundException>(() => a.SpawnAsync("nope", a.Id));
        await Assert.ThrowsAsync<RemoteSpawnRegistrationException>(() => a.SpawnAsync("counter", a.Id, new SpawnOptions { Name = "here" }));
        await Assert.ThrowsAsync<RemoteSpawnInitException>(() => a.SpawnAsync("thrower", a.Id));
    }

    [Fact]
    public async Task SpawnAsync_UnknownBehaviour_BehaviorNotFoundNamingBehaviourAndNode()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        // Known on the caller, unknown on the target: only the target's registry counts.
        a.Behaviors.Register("only-on-a", () => new Counter());

        var error = await Assert.ThrowsAsync<BehaviorNotFoundException>(() => a.SpawnAsync("only-on-a", b.Id));

        Assert.Equal("only-on-a", error.BehaviorName);
        Assert.Equal(b.Id.ToString(), error.NodeId);
        await TablesEmpty(a, b);
    }

    [Fact]
    public async Task SpawnAsync_InitThrows_InitErrorWithTypeAndMessageAndNoProcessLeft()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var before = b.Runtime.ProcessCount;

        var error = await Assert.ThrowsAsync<RemoteSpawnInitException>(() => a.SpawnAsync("thrower", b.Id));

        Assert.Equal("init exploded", error.Reason);
        Assert.Equal(nameof(InvalidOperationException), error.ErrorType);
        Assert.Equal("thrower", error.BehaviorName);
        await Wait.UntilAsync(() => b.Runtime.ProcessCount == before);
        await TablesEmpty(a, b);
    }

    [Fact]
    public async Task SpawnAsync_InitTakesTooLong_InitTimeoutAndTheProcessKilled()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var (gate, started) = RegisterGated(b);
        var before = b.Runtime.ProcessCount;

        var error = await Assert.ThrowsAsync<RemoteSpawnInitTimeoutException>(() =>
            a.SpawnAsync("gated", b.Id, new SpawnOptions { InitTimeout = TimeSpan.FromMilliseconds(300) }));

        Assert.Equal(TimeSpan.FromMilliseconds(300), error.Timeout);
        Assert.True(started.Task.IsCompleted);
        await Wait.UntilAsync(() => b.Runtime.ProcessCount == before);
        gate.SetResult();
        await TablesEmpty(a, b);
    }

    [Fact]
    public async Task SpawnAsync_NameTakenOnTarget_RegistrationErrorWithTheName()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var holder = await b.Runtime.StartAsync(new Counter(), default, new StartOptions { Name = "taken" });
        var before = b.Runtime.ProcessCount;

        var error = await Assert.ThrowsAsync<RemoteSpawnRegistrationException>(() => a.SpawnAsync("counter", b.Id, new SpawnOptions { Name = "taken" }));

        Assert.Equal("taken", error.RegisteredName);
        Assert.Equal(SpawnRegistration.Local, error.Registration);
        Assert.Contains(holder.ToString(), error.Detail);
        Assert.Equal(holder, b.Runtime.Registry.Whereis("taken"));
        await Wait.UntilAsync(() => b.Runtime.ProcessCount == before);
    }

    [Fact]
    public async Task SpawnAsync_TargetNeverAnswers_SpawnTimeoutThenTheLateSuccessIsStopped()
    {
        // Both nodes behind proxies, with a heartbeat slow enough that a pause of a few seconds is not a node down.
        await using var pair = await TestCluster.StartAsync(2, Secret, SlowHeartbeat, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var (gate, started) = RegisterGated(b);
        var before = b.Runtime.ProcessCount;
        var spawn = a.SpawnAsync("gated", b.Id, new SpawnOptions { SpawnTimeout = TimeSpan.FromSeconds(1.5), InitTimeout = TimeSpan.FromSeconds(30) });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // The reply will be stuck in the proxies until the caller has given up.
        proxyA.Paused = true;
        proxyB.Paused = true;
        gate.SetResult();
        await Wait.UntilAsync(() => b.Runtime.ProcessCount == before + 1);
        var error = await Assert.ThrowsAsync<RemoteSpawnTimeoutException>(() => spawn);
        proxyA.Paused = false;
        proxyB.Paused = false;

        Assert.Equal(TimeSpan.FromSeconds(1.5), error.Timeout);
        Assert.Equal(b.Id.ToString(), error.NodeId);
        // The callee hears the caller gave up and stops the process its late success started.
        await Wait.UntilAsync(() => b.Runtime.ProcessCount == before);
        await TablesEmpty(a, b);
        Assert.True(a.IsConnected(b.Id));
    }

    [Fact]
    public async Task SpawnAsync_PausedLink_SpawnTimeoutAndTheStartAbandonedOnTheTarget()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret, SlowHeartbeat, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        b.Behaviors.Register("counter", () => new Counter());
        var before = b.Runtime.ProcessCount;

        proxyA.Paused = true;
        proxyB.Paused = true;
        var watch = Stopwatch.StartNew();
        await Assert.ThrowsAsync<RemoteSpawnTimeoutException>(() => a.SpawnAsync("counter", b.Id, new SpawnOptions { SpawnTimeout = TimeSpan.FromSeconds(1) }));
        Assert.True(watch.Elapsed >= TimeSpan.FromSeconds(0.9), $"timed out after {watch.Elapsed.TotalMilliseconds} ms");
        proxyA.Paused = false;
        proxyB.Paused = false;

        // The request and the cancel arrive together: whatever the target started is stopped, nothing is left over.
        await TablesEmpty(a, b);
        await Wait.UntilAsync(() => b.Runtime.ProcessCount == before);
        var later = await a.SpawnAsync("counter", b.Id, new SpawnOptions { Args = 1 });
        Assert.Equal(1, (await a.Runtime.CallAsync(later, s_get)).AsInt64());
    }

    [Fact]
    public async Task SpawnAsync_CancelledWhileInitRuns_CanceledAndNoProcessLeft()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var (gate, started) = RegisterGated(b);
        var before = b.Runtime.ProcessCount;
        using var cancel = new CancellationTokenSource();

        var spawn = a.SpawnAsync("gated", b.Id, new SpawnOptions { InitTimeout = TimeSpan.FromSeconds(30), SpawnTimeout = TimeSpan.FromSeconds(30) }, cancel.Token);
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => spawn);
        await Wait.UntilAsync(() => b.Runtime.ProcessCount == before);
        gate.SetResult();
        await TablesEmpty(a, b);
        Assert.Equal(before, b.Runtime.ProcessCount);
    }

    [Fact]
    public async Task SpawnAsync_TargetStopsMidSpawn_FailsAtOnceWithNodeNotReachable()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var (gate, started) = RegisterGated(b);
        var spawn = a.SpawnAsync("gated", b.Id, new SpawnOptions { InitTimeout = TimeSpan.FromSeconds(60), SpawnTimeout = TimeSpan.FromSeconds(60) });
        await started.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var watch = Stopwatch.StartNew();

        var stopping = b.StopAsync();
        var error = await Assert.ThrowsAsync<NodeNotReachableException>(() => spawn);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(30), $"failed after {watch.Elapsed.TotalMilliseconds} ms, not at once");
        Assert.Equal(b.Id.ToString(), error.NodeId);
        gate.SetResult();
        await stopping;
        await TablesEmpty(a);
        await Assert.ThrowsAsync<NodeNotReachableException>(() => a.SpawnAsync("counter", b.Id));
    }

    [Fact]
    public async Task SpawnAsync_ArgsThatCannotBeEncoded_FailsWithoutSendingAndTheTableStaysEmpty()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var deep = Value.Null;
        for (var i = 0; i < 100; i++)
        {
            deep = Value.Array(deep);
        }

        await Assert.ThrowsAsync<ValueCodecException>(() => a.SpawnAsync("counter", b.Id, new SpawnOptions { Args = deep }));

        await TablesEmpty(a, b);
    }

    [Fact]
    public async Task StopAsync_RemoteRef_CompletesWhenEndedWithTheReasonAndAGoneProcessIsNotRunning()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var counter = await a.SpawnAsync("counter", b.Id);
        var exit = b.Runtime.WaitForExitAsync(counter);

        await a.Runtime.StopAsync(counter, ExitReason.Error("enough", "Test"));

        Assert.False(b.Runtime.IsAlive(counter));
        Assert.True(exit.IsCompleted);
        Assert.Equal(ExitReason.Error("enough", "Test"), await exit);
        var again = await Assert.ThrowsAsync<RemoteServerNotRunningException>(() => a.Runtime.StopAsync(counter));
        Assert.Equal(counter, again.Target);
        await Assert.ThrowsAsync<RemoteServerNotRunningException>(() => a.Runtime.StopAsync(new ProcessRef(b.Id.ToString(), 123_456)));
        await Assert.ThrowsAsync<NodeNotReachableException>(() => a.Runtime.StopAsync(new ProcessRef("c@127.0.0.1:1", 1)));
        await TablesEmpty(a, b);
    }

    [Fact]
    public async Task DeadLetters_NodeUnreachable_CountedAndRaisedOnTheSender()
    {
        await using var pair = await PairAsync();
        var (a, _) = pair;
        var events = new ConcurrentQueue<DeadLetterEvent>();
        a.DeadLetter += events.Enqueue;
        var nowhere = new ProcessRef("c@127.0.0.1:1", 7);
        var message = Value.Object(("type", "inc"));

        Assert.False(a.Runtime.Cast(nowhere, message));

        Assert.Equal(1, a.RemoteDeadLetters);
        var e = Assert.Single(events);
        Assert.Equal(new DeadLetterEvent(nowhere, message, DeadLetterReason.NodeUnreachable), e);
    }

    [Fact]
    public async Task DeadLetters_TargetGoneOnTheRemoteNode_CountedAndRaisedThere()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var events = new ConcurrentQueue<DeadLetterEvent>();
        b.DeadLetter += events.Enqueue;
        var counter = await a.SpawnAsync("counter", b.Id);
        await a.Runtime.StopAsync(counter);
        var before = b.Runtime.DeadLetters;

        Assert.True(a.Runtime.Cast(counter, Value.Object(("type", "late"))));

        await Wait.UntilAsync(() => !events.IsEmpty);
        var e = Assert.Single(events);
        Assert.Equal(counter, e.Target);
        Assert.Equal(DeadLetterReason.NoProcess, e.Reason);
        Assert.Equal("late", e.Message["type"].AsString());
        Assert.Equal(before + 1, b.Runtime.DeadLetters);
    }

    [Fact]
    public async Task DeadLetters_RemoteMailboxFull_CountedAndRaisedThere()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var events = new ConcurrentQueue<DeadLetterEvent>();
        b.DeadLetter += events.Enqueue;
        var bounded = await b.Runtime.StartAsync(new Counter(), default, new StartOptions { MailboxCapacity = 1, MailboxOverflow = MailboxOverflow.DropNewest });
        var block = Value.Object(("block", 300));

        for (var i = 0; i < 20; i++)
        {
            a.Runtime.Cast(bounded, block);
        }

        await Wait.UntilAsync(() => !events.IsEmpty);
        Assert.All(events, e => Assert.Equal(DeadLetterReason.MailboxFull, e.Reason));
        Assert.All(events, e => Assert.Equal(bounded, e.Target));
    }

    [Fact]
    public async Task NodeMailboxCapacity_RemoteSendersToAFullMailbox_CallFailsTypedCastIsADeadLetterThere()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret, o => o.Name == "b" ? SlowHeartbeat(o) with { MailboxCapacity = 1 } : SlowHeartbeat(o));
        var (a, b) = pair;
        var events = new ConcurrentQueue<DeadLetterEvent>();
        b.DeadLetter += events.Enqueue;
        // Bounded by b's default (one message, Reject), with no bound of its own.
        var counter = await b.Runtime.StartAsync(new Counter());
        Assert.True(b.Runtime.TryGetCell(counter, out var cell));

        // One cast keeps the handler busy, a second fills the one slot.
        Assert.True(a.Runtime.Cast(counter, Value.Object(("block", 3000))));
        await Wait.UntilAsync(() => cell.MessagesHandled == 1 && cell.Count == 0);
        Assert.True(a.Runtime.Cast(counter, "inc"));
        await Wait.UntilAsync(() => cell.Count == 1);

        // A call from the other node fails with the typed error (the wire's mailbox_full), not its timeout.
        await Assert.ThrowsAsync<MailboxFullException>(() => a.Runtime.CallAsync(counter, s_get, TimeSpan.FromSeconds(10)).AsTask());
        Assert.Empty(events);
        // A cast from the other node is a dead letter where the mailbox is; its sender was told only that it was sent.
        Assert.True(a.Runtime.Cast(counter, "lost"));
        await Wait.UntilAsync(() => !events.IsEmpty);
        var dead = Assert.Single(events);
        Assert.Equal(DeadLetterReason.MailboxFull, dead.Reason);
        Assert.Equal("lost", dead.Message.AsString());
    }

    [Fact]
    public async Task DeadLetters_OutboundQueueFull_CountedAndRaisedOnTheSender()
    {
        // b, the sender, has a small outbound queue.
        await using var pair = await TestCluster.StartAsync(2, Secret, o => o.Name == "b"
            ? SlowHeartbeat(o) with { MaxFrameLength = 64 * 1024, MaxOutboundQueueBytes = 256 * 1024 }
            : SlowHeartbeat(o), proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var events = new ConcurrentQueue<DeadLetterEvent>();
        b.DeadLetter += events.Enqueue;
        var target = await a.Runtime.StartAsync(new Counter());
        var big = Value.Object(("pad", new string('x', 16 * 1024)));

        // The link stops reading: the kernel's buffers fill, then b's queue, then casts are refused.
        proxyA.Paused = true;
        proxyB.Paused = true;
        var refused = 0;
        for (var i = 0; i < 20_000 && refused == 0; i++)
        {
            if (!b.Runtime.Cast(target, big))
            {
                refused++;
            }
            else if (i % 50 == 49)
            {
                await Task.Yield();
            }
        }
        proxyA.Paused = false;
        proxyB.Paused = false;

        Assert.Equal(1, refused);
        var e = Assert.Single(events);
        Assert.Equal(DeadLetterReason.QueueFull, e.Reason);
        Assert.Equal(target, e.Target);
        Assert.Equal(1, b.RemoteDeadLetters);
    }

    [Fact]
    public async Task HostileBodies_MalformedSpawnClosesTheLinkAsProtocolError_StrayRepliesAndCancelsAreHarmless()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var events = NodeEvents.Watch(b);
        Assert.True(a.Connections.TryGetConnection(b.Id, out var connection));
        var before = b.Runtime.ProcessCount;

        // A reply and an ack for spawns nobody asked for, a cancel of an unknown spawn, a stop reply for an unknown stop.
        connection.TryEnqueue(new RawMessage(ProtocolVectors.Get("spawn-reply").Bytes("hex")));
        connection.TryEnqueue(new RawMessage(ProtocolVectors.Get("spawn-ack").Bytes("hex")));
        connection.TryEnqueue(new RawMessage(ProtocolVectors.Get("spawn-cancel").Bytes("hex")));
        connection.TryEnqueue(new RawMessage(ProtocolVectors.Get("stop-reply-not-running").Bytes("hex")));
        var counter = await a.SpawnAsync("counter", b.Id, new SpawnOptions { Args = 2 });
        Assert.Equal(2, (await a.Runtime.CallAsync(counter, s_get)).AsInt64());
        Assert.True(events.Downs.IsEmpty);

        var bad = ProtocolVectors.Get("spawn-request-local").Bytes("hex");
        bad[17] = 9; // no such registration
        connection.TryEnqueue(new RawMessage(bad));

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        Assert.Equal(NodeDownReason.ProtocolError, events.Downs.First().Reason);
        Assert.Equal(before + 1, b.Runtime.ProcessCount);
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));
        Assert.Equal(2, (await a.Runtime.CallAsync(counter, s_get)).AsInt64());
    }

    [Fact]
    public async Task Facades_StartRemoteAndStop_OverTheDefaultNode()
    {
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret));
        b.Behaviors.Register("counter", () => new Counter());
        var a = await Cluster.StartAsync(TestNodes.Options("facade-a", Secret, b.Id.ToString()));
        try
        {
            Behaviors.Register("counter", () => new Counter());
            Assert.True(Behaviors.Has("counter"));
            Assert.Equal(["counter"], Behaviors.GetStats().Names);
            await Wait.UntilAsync(() => a.IsConnected(b.Id));

            var counter = await GenServers.StartRemoteAsync("counter", b.Id.ToString(), new SpawnOptions { Name = "fc", Args = 7 });
            var second = await RemoteSpawn.SpawnAsync("counter", b.Id, new SpawnOptions { Args = 8 });

            Assert.Equal(counter, b.Runtime.Registry.Whereis("fc"));
            Assert.Equal(7, (await GenServers.CallAsync(counter, s_get)).AsInt64());
            Assert.Equal(8, (await GenServers.CallAsync(second, s_get)).AsInt64());
            await GenServers.StopAsync(counter);
            Assert.False(b.Runtime.IsAlive(counter));
            await Assert.ThrowsAsync<InvalidNodeIdException>(() => GenServers.StartRemoteAsync("counter", "not a node"));
        }
        finally
        {
            await Cluster.StopAsync();
        }
        Assert.Throws<ClusterNotStartedException>(() => Behaviors.Has("counter"));
    }
}
