using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// Reliability cases of ../shared/reference/reliability.md §4 through a fault-injecting proxy: black hole (T04), one-way
/// loss (T05), reset (T03), corruption (T28), replay (T29), idle connections at the door (T14).
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class ClusterFaultTests(ITestOutputHelper output)
{
    // The detection tests' heartbeat: with 1 s × 3 the window is 2–3 s, wide enough that a loaded machine's scheduling
    // stalls (up to ~1 s seen under parallel builds) neither trip the detector falsely nor fake an early detection.
    private static readonly TimeSpan s_interval = TimeSpan.FromMilliseconds(1000);
    private static readonly TimeSpan s_calm = TimeSpan.FromSeconds(1);
    private const int Threshold = 3;

    private const string Secret = "fault-tests";

    /// <summary>Two nodes, each behind its proxy, whose detectors run at <paramref name="heartbeat"/> × <see cref="Threshold"/>.</summary>
    private static Task<TestCluster> PairAsync(TimeSpan heartbeat, Func<NodeOptions, NodeOptions>? configure = null) =>
        TestCluster.StartAsync(2, Secret, o =>
        {
            o = o with { HeartbeatInterval = heartbeat, HeartbeatMissThreshold = Threshold };
            return configure?.Invoke(o) ?? o;
        }, proxied: true);

    [Fact]
    public async Task Blackhole_BothWays_BothSidesSeeHeartbeatTimeoutInTheWindow()
    {
        await using var pair = await PairAsync(s_interval);
        var (a, b, proxyA, proxyB) = pair;
        var events = NodeEvents.Watch(a, b);
        var fault = Stopwatch.GetTimestamp();

        proxyA.Blackhole = true;
        proxyB.Blackhole = true;

        await Wait.UntilAsync(() => events.Downs.Count >= 2);
        var downs = events.Downs.ToArray();
        Assert.Contains(downs, d => d.Seer == a && d.Reason == NodeDownReason.HeartbeatTimeout);
        Assert.Contains(downs, d => d.Seer == b && d.Reason == NodeDownReason.HeartbeatTimeout);
        foreach (var down in downs)
        {
            var detected = Stopwatch.GetElapsedTime(fault, down.At);
            output.WriteLine($"{down.Seer.Id.Name}: {down.Reason} after {detected.TotalMilliseconds:0} ms (window {s_interval.TotalMilliseconds * (Threshold - 1)}–{s_interval.TotalMilliseconds * Threshold} ms + tick)");
            // Never before I·(k−1) minus one tick (the last frame may have arrived up to a tick before the fault).
            Assert.True(detected >= s_interval * (Threshold - 1) - s_interval / 4, $"premature: {detected.TotalMilliseconds} ms");
        }
    }

    [Fact]
    public async Task OneWayLoss_ReceiverTimesOutAndClosesSoBothSidesSeeIt()
    {
        await using var pair = await PairAsync(s_interval);
        var (a, b, proxyA, _) = pair;
        var events = NodeEvents.Watch(a, b);

        // b dialled a through a's proxy: drop what b sends, so a hears nothing while b still hears a.
        proxyA.DropToTarget = true;

        await Wait.UntilAsync(() => events.Downs.Any(d => d.Seer == a) && events.Downs.Any(d => d.Seer == b));
        Assert.Contains(events.Downs, d => d.Seer == a && d.Reason == NodeDownReason.HeartbeatTimeout);
    }

    [Fact]
    public async Task Reset_BothSidesSeeItAtOnceAndReconnect()
    {
        await using var pair = await PairAsync(s_calm);
        var (a, b, proxyA, proxyB) = pair;
        // Recorded from here on, when the pair is up already: the ups are those after the fault.
        var events = NodeEvents.Watch(a, b);
        var fault = Stopwatch.GetTimestamp();

        proxyA.ResetAll();
        proxyB.ResetAll();

        await Wait.UntilAsync(() => events.Downs.Any(d => d.Seer == a) && events.Downs.Any(d => d.Seer == b));
        Assert.All(events.Downs, d => Assert.Contains(d.Reason, new[] { NodeDownReason.ConnectionReset, NodeDownReason.ConnectionClosed }));
        foreach (var down in events.Downs)
        {
            output.WriteLine($"{down.Seer.Id.Name}: {down.Reason} after {Stopwatch.GetElapsedTime(fault, down.At).TotalMilliseconds:0} ms");
        }
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id) && events.Ups.Count >= 2);
    }

    [Theory]
    [InlineData("corrupted byte")] // T28
    [InlineData("replayed frame")] // T29
    public async Task TamperedFrame_ClosesTheConnectionAsProtocolErrorAndReconnects(string tampering)
    {
        await using var pair = await PairAsync(s_calm);
        var (a, b, proxyA, _) = pair;
        var events = NodeEvents.Watch(a, b);

        if (tampering == "corrupted byte")
        {
            proxyA.CorruptNextToTarget();
        }
        else
        {
            proxyA.ReplayNextToTarget();
        }

        await Wait.UntilAsync(() => events.Downs.Any(d => d.Seer == a));
        Assert.Contains(events.Downs, d => d.Seer == a && d.Reason == NodeDownReason.ProtocolError);
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));
    }

    [Fact]
    public async Task Restart_BeforeTheOldConnectionIsNoticed_OldIncarnationDownAsRestartedThenNewUp()
    {
        // T11: b dies behind a frozen link (a sees no close and no goodbye), and comes back at once with the same id.
        var proxyA = FaultProxy.Start();
        var proxyB = FaultProxy.Start();
        var slow = TimeSpan.FromSeconds(2); // a's detector would need 6 s: the restart must be recognised long before
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret) with { AdvertisedPort = proxyA.Port, HeartbeatInterval = slow });
        proxyA.TargetPort = a.ListenPort;
        var b1 = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()) with { AdvertisedPort = proxyB.Port, HeartbeatInterval = slow });
        proxyB.TargetPort = b1.ListenPort;
        await Wait.UntilAsync(() => a.IsConnected(b1.Id));
        var events = new ConcurrentQueue<string>();
        NodeEvents.OnDown(a, down => events.Enqueue($"down {down.Node} {down.Reason}"));
        a.NodeUp += info => events.Enqueue($"up {info.Id} {info.Incarnation}");

        proxyA.FreezeExisting();
        proxyB.FreezeExisting();
        await b1.DisposeAsync();
        await using var b2 = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()) with { AdvertisedPort = proxyB.Port, HeartbeatInterval = slow });
        proxyB.TargetPort = b2.ListenPort;

        await Wait.UntilAsync(() => events.Count >= 2);
        Assert.Equal([$"down {b1.Id} Restarted", $"up {b2.Id} {b2.Incarnation}"], events.Take(2));
        Assert.Equal(b2.Incarnation, a.GetNode(b2.Id)!.Incarnation);
        await proxyA.DisposeAsync();
        await proxyB.DisposeAsync();
    }

    [Fact]
    public async Task LargeMessageOverASlowLink_IsNotMistakenForSilence()
    {
        // T18: 8 MiB at 1.5 MiB/s takes ~5 s, far beyond the 2.1 s detector: only the bytes arriving keep the link alive.
        await using var pair = await PairAsync(TimeSpan.FromMilliseconds(700));
        var (a, b, proxyA, _) = pair;
        var events = NodeEvents.Watch(a, b);
        proxyA.BytesPerSecond = 3 * 512 * 1024;
        Assert.True(b.Connections.TryGetConnection(a.Id, out var connection));
        var large = new byte[8 * 1024 * 1024];
        large[0] = 0x7f; // a message type a does not know: dropped and counted once the whole frame is verified

        Assert.Equal(EnqueueResult.Queued, connection.TryEnqueue(new RawMessage(large)));

        await Wait.UntilAsync(() => a.UnknownMessages == 1 || !events.Downs.IsEmpty);
        Assert.Empty(events.Downs.Select(d => $"{d.Seer.Id.Name} {d.Reason}"));
        Assert.True(a.IsConnected(b.Id));
    }

    [Fact]
    public async Task FrameTrickledTooSlowly_IsCutAtItsDeadline_ThoughBytesKeepArriving()
    {
        // 4 KB/s: a 64 KiB chunk frame would take 16 s, and bytes arrive every tenth of a second, so the silence
        // detector (3 s) never fires; the frame's own deadline (3 s + 1 s per 64 KiB) must.
        await using var pair = await PairAsync(s_interval);
        var (a, b, proxyA, _) = pair;
        var events = NodeEvents.Watch(a, b);
        proxyA.BytesPerSecond = 4000;
        Assert.True(b.Connections.TryGetConnection(a.Id, out var connection));
        var large = new byte[100_000];
        large[0] = 0x7f; // a type a does not know: only its frames matter here

        Assert.Equal(EnqueueResult.Queued, connection.TryEnqueue(new RawMessage(large)));

        await Wait.UntilAsync(() => events.Downs.Any(d => d.Seer == a));
        var down = events.Downs.First(d => d.Seer == a).Down;
        Assert.Equal(NodeDownReason.HeartbeatTimeout, down.Reason);
        Assert.Contains("has been arriving for", down.Detail, StringComparison.Ordinal);
        Assert.Equal("frame_deadline", down.Cause);
        Assert.Equal(0, a.UnknownMessages);
    }

    [Theory]
    [InlineData(OverloadPolicy.Reject)]
    [InlineData(OverloadPolicy.Wait)]
    public async Task CallsIntoAStuckPeer_QueueStaysBounded_RejectFailsFastAndWaitResumes(OverloadPolicy policy)
    {
        const int Bound = 64 * 1024;
        // 5 s x 3: the link is paused on purpose; the detector must not end the test first.
        await using var pair = await PairAsync(TimeSpan.FromSeconds(5), o => o with
        {
            MaxFrameLength = Bound,
            MaxOutboundQueueBytes = Bound,
            OverloadPolicy = policy,
        });
        var (a, b, proxyA, _) = pair;
        var events = NodeEvents.Watch(a, b);
        var sink = await a.Runtime.StartAsync(new Sink());
        Assert.True(b.Connections.TryGetConnection(a.Id, out var connection));
        var payload = Value.Binary(new byte[16 * 1024]);
        var calls = new List<Task<Value>>();

        // a stops reading: the kernel buffers fill, then b's outbound queue reaches its bound.
        proxyA.Paused = true;
        var full = false;
        for (var i = 0; i < 4000 && !full; i++)
        {
            var call = b.Runtime.CallAsync(sink, payload, TimeSpan.FromSeconds(60)).AsTask();
            calls.Add(call);
            // Reject: fill until a call is refused. Wait: fill until the queue is at its bound (no call is refused).
            full = policy == OverloadPolicy.Reject ? call.IsFaulted : connection.QueuedBytes >= Bound;
        }

        Assert.True(full, "the queue never filled");
        Assert.InRange(connection.QueuedBytes, 0, Bound + (32 * 1024)); // memory stays bounded: the bound plus one message
        if (policy == OverloadPolicy.Reject)
        {
            // The call that met the full queue was refused at once, and it is the only one.
            var refused = Assert.Single(calls, c => c.IsFaulted);
            Assert.Same(calls[^1], refused);
            Assert.IsType<NodeOverloadedException>(refused.Exception!.InnerException);
            proxyA.Paused = false;
            await Task.WhenAll(calls.Where(c => !c.IsFaulted));
        }
        else
        {
            var waiting = Enumerable.Range(0, 8).Select(_ => b.Runtime.CallAsync(sink, payload, TimeSpan.FromSeconds(60)).AsTask()).ToArray();
            Assert.All(waiting, w => Assert.False(w.IsCompleted));
            Assert.InRange(connection.QueuedBytes, 0, Bound + (32 * 1024));
            proxyA.Paused = false;
            var replies = await Task.WhenAll(calls.Concat(waiting));
            Assert.All(replies, r => Assert.Equal("ok", r.AsString()));
        }
        Assert.Empty(events.Downs);
    }

    /// <summary>Answers every call with "ok".</summary>
    private sealed class Sink : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply("ok", state + 1));
    }

    [Fact]
    public async Task IdleConnections_ClosedAtTheHandshakeDeadlineWhileAPeerStillJoins()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret) with { HandshakeTimeout = TimeSpan.FromSeconds(1), MaxPendingHandshakes = 16 });
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < 1000; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync("127.0.0.1", a.ListenPort);
                idle.Add(socket);
            }
            var started = Stopwatch.GetTimestamp();
            await using var b = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()));

            await Wait.UntilAsync(() => a.IsConnected(b.Id));
            output.WriteLine($"a peer joined {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms after 1,000 idle connections");

            // Every idle socket is closed by the node (refused as busy at once, or at its handshake deadline).
            foreach (var socket in idle)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                var buffer = new byte[16];
                try
                {
                    while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0)
                    {
                    }
                }
                catch (SocketException)
                {
                }
            }
        }
        finally
        {
            idle.ForEach(s => s.Dispose());
        }
    }
}
