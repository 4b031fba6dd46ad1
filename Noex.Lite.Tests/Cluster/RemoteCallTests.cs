using System.Diagnostics;

namespace Noex.Lite.Tests;

/// <summary>Calls and casts between nodes through transparent routing: a remote ref is called like a local one.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class RemoteCallTests
{
    /// <summary>A counter: casts {"type":"inc"} add, calls {"type":"get"} read; "boom" throws; "hang" never replies.</summary>
    private sealed class Counter : GenServer<long>
    {
        protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) =>
            new(args.TryGetInt64(out var start) ? start : 0);

        protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long state) =>
            request["type"].AsString() switch
            {
                "get" => new(CallResult<long>.WithReply(state, state)),
                "echo" => new(CallResult<long>.WithReply(request["value"], state)),
                "boom" => throw new InvalidOperationException("the counter exploded"),
                "hang" => new(CallResult<long>.NoReply(state)),
                _ => new(CallResult<long>.WithReply(Value.Null, state)),
            };

        protected override ValueTask<long> HandleCastAsync(Value message, long state) =>
            new(message["type"].AsString() == "inc" ? state + (message.TryGetProperty("by", out var by) ? by.AsInt64() : 1) : state);
    }

    /// <summary>Whether both nodes run with <see cref="NodeOptions.UnsafePreferInlineScheduling"/> (the derived class).</summary>
    protected virtual bool Inline => false;

    private const string Secret = "remote-tests";

    private NodeOptions Scheduling(NodeOptions options) => options with { UnsafePreferInlineScheduling = Inline };

    private Task<TestCluster> PairAsync() => TestCluster.StartAsync(2, Secret, Scheduling);

    [Fact]
    public async Task CallAsync_RefOnAnotherNode_RoutesTransparentlyAndReplies()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var counter = await b.Runtime.StartAsync(new Counter(), 41);

        var reply = await a.Runtime.CallAsync(counter, Value.Object(("type", "get")));

        Assert.Equal(41, reply.AsInt64());
        Assert.Equal(b.Id.ToString(), counter.Node);
        var complex = Value.Parse("""{"nested":[1,2.5,"é",{"k":null}],"big":9223372036854775807}""");
        Assert.Equal(complex, await a.Runtime.CallAsync(counter, Value.Object(("type", "echo"), ("value", complex))));
    }

    [Fact]
    public async Task Casts_ManyThenACall_AllArriveInOrderBeforeTheCall()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var counter = await b.Runtime.StartAsync(new Counter());
        var inc = Value.Object(("type", "inc"));

        for (var i = 0; i < 100_000; i++)
        {
            Assert.True(a.Runtime.Cast(counter, inc));
        }
        var total = await a.Runtime.CallAsync(counter, Value.Object(("type", "get")), TimeSpan.FromSeconds(60));

        Assert.Equal(100_000, total.AsInt64());
    }

    [Fact]
    public async Task Cast_WarmPath_AllocatesNothingOnTheSendingThread()
    {
        // Encoding a cast straight into the connection's pooled frame writer is the sender's whole share of the work.
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var counter = await b.Runtime.StartAsync(new Counter());
        var inc = Value.Object(("type", "inc"), ("by", 1));
        Assert.True(a.Connections.TryGetConnection(b.Id, out var connection));
        // Bursts that drain before the next, so the frame writers never need to grow while we measure.
        async Task<long> SendAsync()
        {
            long allocated = 0;
            for (var burst = 0; burst < 20; burst++)
            {
                var before = GC.GetAllocatedBytesForCurrentThread();
                for (var i = 0; i < 1_000; i++)
                {
                    a.Runtime.Cast(counter, inc);
                }
                allocated += GC.GetAllocatedBytesForCurrentThread() - before;
                await Wait.UntilAsync(() => connection.QueuedBytes == 0);
            }
            return allocated;
        }
        await SendAsync(); // warm: both frame writers grown, JIT done
        await SendAsync();

        var allocated = await SendAsync();

        Assert.True(allocated < 1024, $"20,000 casts allocated {allocated} bytes on the sending thread");
        Assert.Equal(60_000, (await a.Runtime.CallAsync(counter, Value.Object(("type", "get")), TimeSpan.FromSeconds(60))).AsInt64());
    }

    [Fact]
    public async Task CallAsync_ConcurrentCallersBothWays_EveryReplyReachesItsCaller()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var onB = await b.Runtime.StartAsync(new Counter());
        var onA = await a.Runtime.StartAsync(new Counter());

        var calls = Enumerable.Range(0, 2000).Select(async i =>
        {
            var (runtime, target) = i % 2 == 0 ? (a.Runtime, onB) : (b.Runtime, onA);
            var reply = await runtime.CallAsync(target, Value.Object(("type", "echo"), ("value", i)));
            Assert.Equal(i, reply.AsInt64());
        });
        await Task.WhenAll(calls);

        await Wait.UntilAsync(() => a.PendingRemoteCalls == 0 && b.PendingRemoteCalls == 0);
    }

    [Fact]
    public async Task CallAsync_UnknownRef_FailsWithRemoteServerNotRunning()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var nobody = new ProcessRef(b.Id.ToString(), 987654);

        var e = await Assert.ThrowsAsync<RemoteServerNotRunningException>(async () => await a.Runtime.CallAsync(nobody, "hello"));

        Assert.Equal(nobody, e.Target);
        Assert.IsAssignableFrom<ServerNotRunningException>(e);
    }

    [Fact]
    public async Task CallAsync_HandlerThrows_CallerGetsTypeAndMessageAndTheLinkStaysUp()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var counter = await b.Runtime.StartAsync(new Counter());

        var e = await Assert.ThrowsAsync<CallFailedException>(async () => await a.Runtime.CallAsync(counter, Value.Object(("type", "boom"))));

        Assert.Equal(nameof(InvalidOperationException), e.Reason.ErrorType);
        Assert.Contains("the counter exploded", e.Reason.Message, StringComparison.Ordinal);
        Assert.True(a.IsConnected(b.Id));
        var other = await b.Runtime.StartAsync(new Counter(), 5);
        Assert.Equal(5, (await a.Runtime.CallAsync(other, Value.Object(("type", "get")))).AsInt64());
    }

    [Fact]
    public async Task CallAsync_NoReply_TimesOutAsRemoteCallTimeoutAndLeavesNoPendingEntry()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var counter = await b.Runtime.StartAsync(new Counter());

        var e = await Assert.ThrowsAsync<RemoteCallTimeoutException>(async () =>
            await a.Runtime.CallAsync(counter, Value.Object(("type", "hang")), TimeSpan.FromMilliseconds(200)));

        Assert.Equal(counter, e.Target);
        Assert.Equal(TimeSpan.FromMilliseconds(200), e.Timeout);
        await Wait.UntilAsync(() => a.PendingRemoteCalls == 0); // swept on the next heartbeat tick
    }

    [Fact]
    public async Task CallAsync_ManyShortTimeoutsOnTheRealClock_EveryOneTimesOut()
    {
        // Timers tick on a millisecond clock and deadlines on the timestamp clock: a timer that fires a hair early
        // must re-arm, not leave the call waiting forever. Waiters are pooled, so this also reuses them many times.
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var events = NodeEvents.Watch(a, b);
        var counter = await b.Runtime.StartAsync(new Counter());
        var hang = Value.Object(("type", "hang"));

        for (var round = 0; round < 20; round++)
        {
            var calls = Enumerable.Range(0, 10).Select(i => a.Runtime.CallAsync(counter, hang, TimeSpan.FromMilliseconds(5 + (i * 7))).AsTask()).ToArray();
            var all = Task.WhenAll(calls);
            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(30)));
            Assert.True(all.IsCompleted, $"round {round}: a call with a short timeout never completed");
            Assert.True(events.Downs.IsEmpty, string.Join("; ", events.Downs));
            Assert.All(calls, c => Assert.IsType<RemoteCallTimeoutException>(c.Exception!.InnerException));
        }
    }

    [Fact]
    public async Task CallAsync_TargetNodeStopsMidCall_FailsAtOnceWithNodeNotReachable()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var counter = await b.Runtime.StartAsync(new Counter());
        var call = a.Runtime.CallAsync(counter, Value.Object(("type", "hang")), TimeSpan.FromMinutes(5)).AsTask();
        await Wait.UntilAsync(() => a.PendingRemoteCalls == 1);
        var stopped = Stopwatch.GetTimestamp();

        await b.StopAsync();

        var e = await Assert.ThrowsAsync<NodeNotReachableException>(() => call);
        Assert.Equal(b.Id.ToString(), e.NodeId);
        Assert.True(Stopwatch.GetElapsedTime(stopped) < TimeSpan.FromSeconds(30), "the call waited for its timeout");
        Assert.Equal(0, a.PendingRemoteCalls);
    }

    [Fact]
    public async Task CallAsync_NodeNotConnected_FailsWithNodeNotReachable()
    {
        await using var a = await Node.StartAsync(Scheduling(TestNodes.Options("a", Secret)));

        var e = await Assert.ThrowsAsync<NodeNotReachableException>(async () =>
            await a.Runtime.CallAsync(new ProcessRef("ghost@127.0.0.1:1", 1), "hi"));

        Assert.Equal("ghost@127.0.0.1:1", e.NodeId);
        Assert.False(a.Runtime.Cast(new ProcessRef("ghost@127.0.0.1:1", 1), "hi"));
        Assert.Equal(1, a.RemoteDeadLetters);
    }

    [Fact]
    public async Task CallAsync_ValueTooDeepForTheWire_FailsWithACodecErrorAndSendsNothing()
    {
        await using var pair = await PairAsync();
        var (a, b) = pair;
        var counter = await b.Runtime.StartAsync(new Counter());
        var deep = Value.Null;
        for (var i = 0; i < 100; i++)
        {
            deep = Value.Array(deep);
        }

        var e = await Assert.ThrowsAsync<ValueCodecException>(async () =>
            await a.Runtime.CallAsync(counter, Value.Object(("type", "echo"), ("value", deep))));

        Assert.Equal(ValueCodecError.DepthExceeded, e.Error);
        Assert.Equal(0, a.PendingRemoteCalls);
        Assert.Equal(0, (await a.Runtime.CallAsync(counter, Value.Object(("type", "get")))).AsInt64());
    }
}
