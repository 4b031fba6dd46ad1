namespace Noex.Lite.Tests;

/// <summary>
/// Each instrument of the <c>Noex.Lite</c> meter moves when its event happens, read by a real
/// <see cref="System.Diagnostics.Metrics.MeterListener"/>: casts sent and dead letters by reason, the node gauges
/// (processes, mailbox depth, peers connected, the runtime's dead letters) by their <c>node</c> tag, and the transport's
/// frames, bytes, queue bytes, connections and reconnects. The refused-input counter is
/// <see cref="ConnectionCauseTests"/>'s.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class NodeMetricsTests
{
    private const string Secret = "node-metrics-tests";

    [Fact]
    public async Task RemoteCasts_AreCountedAsSent_LocalOnesAreNot()
    {
        using var metrics = new MetricRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var remote = await b.Runtime.StartAsync(new Idle());
        var local = await a.Runtime.StartAsync(new Idle());
        var before = metrics.Sum("noex.remote.casts_sent");

        for (var i = 0; i < 10; i++)
        {
            Assert.True(a.Runtime.Cast(remote, i));
            Assert.True(a.Runtime.Cast(local, i));
        }
        Assert.True(await a.Runtime.CastAsync(remote, 10).Within());

        Assert.Equal(11, metrics.Sum("noex.remote.casts_sent") - before);
    }

    [Fact]
    public async Task DeadLetters_AreCountedByReason_OnTheNodeThatRaisesThem()
    {
        using var metrics = new MetricRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var noProcessBefore = metrics.Sum("noex.remote.dead_letters", ("reason", "NoProcess"));
        var unreachableBefore = metrics.Sum("noex.remote.dead_letters", ("reason", "NodeUnreachable"));
        var runtimeBefore = metrics.Read("noex.process.dead_letters", b) ?? 0;

        // To a node a is not connected to: a's dead letter.
        Assert.False(a.Runtime.Cast(new ProcessRef("nowhere@127.0.0.1:1", 7), "lost"));
        // To a process b does not run: b's dead letter, and its runtime's.
        Assert.True(a.Runtime.Cast(new ProcessRef(b.Id.ToString(), 999_999), "lost"));

        await Wait.UntilAsync(() => metrics.Sum("noex.remote.dead_letters", ("reason", "NoProcess")) > noProcessBefore);
        Assert.Equal(1, metrics.Sum("noex.remote.dead_letters", ("reason", "NodeUnreachable")) - unreachableBefore);
        Assert.Equal(1, metrics.Sum("noex.remote.dead_letters", ("reason", "NoProcess")) - noProcessBefore);
        Assert.Equal(runtimeBefore + 1, metrics.Read("noex.process.dead_letters", b));
        Assert.Equal(b.Runtime.DeadLetters, metrics.Read("noex.process.dead_letters", b));
    }

    [Fact]
    public async Task Processes_IsEachNodesProcessCount_UnderItsNodeTag()
    {
        using var metrics = new MetricRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;

        for (var i = 0; i < 5; i++)
        {
            await a.Runtime.StartAsync(new Idle());
        }

        Assert.Equal(a.Runtime.ProcessCount, metrics.Read("noex.processes", a));
        Assert.Equal(b.Runtime.ProcessCount, metrics.Read("noex.processes", b));
        Assert.Equal(5, metrics.Read("noex.processes", a) - metrics.Read("noex.processes", b));
        // A stopped node reports nothing.
        await a.StopAsync();
        Assert.Null(metrics.Read("noex.processes", a));
        Assert.NotNull(metrics.Read("noex.processes", b));
    }

    [Fact]
    public async Task MailboxGauges_ShowTheMessagesWaitingAndTheDeepestMailbox_ThenEmpty()
    {
        using var metrics = new MetricRecorder();
        await using var cluster = await TestCluster.StartAsync(1, Secret);
        var a = cluster[0];
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var stuck = await a.Runtime.StartAsync(new Stuck(gate.Task));
        var other = await a.Runtime.StartAsync(new Stuck(gate.Task));

        // The first cast holds each process in its handler; the rest wait in its mailbox.
        for (var i = 0; i < 41; i++)
        {
            a.Runtime.Cast(stuck, i);
        }
        for (var i = 0; i < 11; i++)
        {
            a.Runtime.Cast(other, i);
        }

        await Wait.UntilAsync(() => metrics.Read("noex.mailbox.messages", a) == 50 && metrics.Read("noex.mailbox.deepest", a) == 40);
        gate.SetResult();
        await Wait.UntilAsync(() => metrics.Read("noex.mailbox.messages", a) == 0 && metrics.Read("noex.mailbox.deepest", a) == 0);
    }

    [Fact]
    public async Task NodesConnected_CountsThePeersUp_AndFallsWhenOneLeaves()
    {
        using var metrics = new MetricRecorder();
        await using var cluster = await TestCluster.StartAsync(3, Secret);
        var (a, b, c) = cluster;

        Assert.All(cluster.Nodes, n => Assert.Equal(2, metrics.Read("noex.nodes.connected", n)));

        await c.StopAsync();

        await Wait.UntilAsync(() => metrics.Read("noex.nodes.connected", a) == 1 && metrics.Read("noex.nodes.connected", b) == 1);
    }

    [Fact]
    public async Task TransportCounters_MoveWithTraffic_AndConnectionsAndQueueBytesAreGauged()
    {
        using var metrics = new MetricRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret, proxied: true);
        var (a, b) = cluster;
        var target = await b.Runtime.StartAsync(new Idle());
        string[] counters = ["noex.transport.frames_sent", "noex.transport.frames_received", "noex.transport.bytes_sent", "noex.transport.bytes_received"];
        var before = counters.Select(c => metrics.Sum(c)).ToArray();

        await a.Runtime.CallAsync(target, new string('x', 10_000)).Within();

        // A call and its reply: a frame and its bytes each way, at least.
        var moved = counters.Select((c, i) => metrics.Sum(c) - before[i]).ToArray();
        Assert.All(moved.Take(2), frames => Assert.True(frames >= 2, $"frames moved by {frames}"));
        Assert.All(moved.Skip(2), bytes => Assert.True(bytes >= 10_000, $"bytes moved by {bytes}"));
        Assert.True(metrics.Read("noex.transport.connections") >= 2);

        // The link stops moving: what a casts waits in its queue, then drains when it moves again (well inside the 3 s
        // a paused link takes to be declared silent).
        foreach (var proxy in cluster.Proxies)
        {
            proxy.Paused = true;
        }
        var big = new string('q', 1024 * 1024);
        for (var i = 0; i < 40; i++)
        {
            a.Runtime.Cast(target, big);
        }
        await Wait.UntilAsync(() => metrics.Read("noex.transport.queue_bytes") > 1024 * 1024);
        foreach (var proxy in cluster.Proxies)
        {
            proxy.Paused = false;
        }
        await Wait.UntilAsync(() => metrics.Read("noex.transport.queue_bytes") == 0);
    }

    [Fact]
    public async Task LostConnection_CountsTheCloseByReason_AndTheRedialAsAReconnect()
    {
        using var metrics = new MetricRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret, proxied: true);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);
        var reconnects = metrics.Sum("noex.transport.reconnects");
        var closed = metrics.Sum("noex.transport.connections_closed");

        foreach (var proxy in cluster.Proxies)
        {
            proxy.ResetAll();
        }

        await Wait.UntilAsync(() => !events.Downs.IsEmpty && a.IsConnected(b.Id) && b.IsConnected(a.Id));
        Assert.True(metrics.Sum("noex.transport.reconnects") > reconnects);
        Assert.True(metrics.Sum("noex.transport.connections_closed") - closed >= 2);
        var reason = events.Downs.First().Reason.ToString();
        Assert.True(metrics.Sum("noex.transport.connections_closed", ("reason", reason)) >= 1);
    }

    /// <summary>A process whose handler waits for <c>gate</c>, so that what is cast to it waits in its mailbox.</summary>
    private sealed class Stuck(Task gate) : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(Value.Null, state));

        protected override async ValueTask<int> HandleCastAsync(Value message, int state)
        {
            await gate.ConfigureAwait(false);
            return state + 1;
        }
    }
}
