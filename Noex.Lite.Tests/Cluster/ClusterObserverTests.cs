namespace Noex.Lite.Tests;

/// <summary>Cluster-wide statistics across real nodes on loopback: snapshots, per-node timeouts, subscriptions.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class ClusterObserverTests
{
    private sealed class Echo : GenServer<long>
    {
        protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) => new(0L);

        protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long state) =>
            new(CallResult<long>.WithReply(request, state + 1));

        protected override ValueTask<long> HandleCastAsync(Value message, long state) => new(state + 1);
    }

    private const string Secret = "observer-tests";

    // Generous, so that a paused link is a slow node (a snapshot timeout), not a dead one, for the whole test.
    private static NodeOptions Patient(NodeOptions options) => options with { HeartbeatMissThreshold = 20 };

    [Fact]
    public async Task GetSnapshotAsync_ASupervisorOnAnotherNode_IsReportedByItsNodeWithWhereItsChildrenRun()
    {
        await using var cluster = await TestCluster.StartAsync(3, Secret, Patient);
        var (a, b, c) = cluster;
        foreach (var node in cluster.Nodes)
        {
            node.Behaviors.Register("echo", () => new Echo());
        }
        var supervisor = await DistributedSupervisor.StartAsync(b, new DistributedSupervisorOptions
        {
            NodeSelector = NodeSelector.Custom((_, _) => c.Id),
            Children = [new DistributedChildSpec("w1", "echo") { GlobalName = "observer:w1" }, new DistributedChildSpec("w2", "echo")],
        });

        var snapshot = await a.Observer.GetSnapshotAsync(useCache: false);

        var byNode = snapshot.Nodes.ToDictionary(n => n.Node, n => n.Stats!);
        Assert.Empty(byNode[a.Id].Supervisors);
        Assert.Empty(byNode[c.Id].Supervisors);
        var report = Assert.Single(byNode[b.Id].Supervisors);
        Assert.Equal(supervisor.Id, report.Id);
        Assert.Equal("one_for_one", report.Strategy);
        Assert.Equal(["w1", "w2"], report.Children.Select(ch => ch.Id));
        Assert.All(report.Children, ch => Assert.Equal(c.Id.ToString(), ch.Process.Node));
        Assert.Equal(supervisor.GetChildren().Select(ch => ch.Ref), report.Children.Select(ch => ch.Process));
        Assert.Equal(["observer:w1", null], report.Children.Select(ch => ch.GlobalName));
        Assert.All(report.Children, ch => Assert.Equal("echo", ch.Behavior));

        await supervisor.StopAsync();
        a.Observer.InvalidateCache();
        Assert.All((await a.Observer.GetSnapshotAsync(useCache: false)).Nodes, n => Assert.Empty(n.Stats!.Supervisors));
    }

    [Fact]
    public async Task GetSnapshotAsync_ThreeNodes_ReportsEachNodeAndTotals()
    {
        await using var cluster = await TestCluster.StartAsync(3, Secret, Patient);
        var (a, b, c) = cluster;
        for (var i = 0; i < 3; i++)
        {
            await b.Runtime.StartAsync(new Echo());
        }
        var echo = await c.Runtime.StartAsync(new Echo());
        for (var i = 0; i < 50; i++)
        {
            await a.Runtime.CallAsync(echo, Value.Object(("n", i)));
        }

        var snapshot = await a.Observer.GetSnapshotAsync(useCache: false);

        Assert.Equal(a.Id, snapshot.LocalNode);
        Assert.Equal([a.Id, b.Id, c.Id], snapshot.Nodes.Select(n => n.Node).OrderBy(n => n.ToString()));
        Assert.All(snapshot.Nodes, n => Assert.Equal(NodeObservationStatus.Connected, n.Status));
        var byNode = snapshot.Nodes.ToDictionary(n => n.Node, n => n.Stats!);
        Assert.Equal(a.Id, snapshot.Nodes[0].Node);
        Assert.Equal(3, byNode[b.Id].ProcessCount);
        Assert.Equal(1, byNode[c.Id].ProcessCount);
        Assert.Equal(0, byNode[a.Id].ProcessCount);
        Assert.True(byNode[c.Id].MessagesHandled >= 50, $"c handled {byNode[c.Id].MessagesHandled}");
        Assert.True(byNode[a.Id].BytesSent > 0 && byNode[a.Id].BytesReceived > 0);
        Assert.Equal([a.Id, c.Id], byNode[b.Id].ConnectedPeers.OrderBy(p => p.ToString()));
        Assert.True(byNode[b.Id].Uptime > TimeSpan.Zero && byNode[b.Id].ManagedMemoryBytes > 0 && byNode[b.Id].WorkingSetBytes > 0);
        Assert.Equal(4, snapshot.Totals.ProcessCount);
        Assert.Equal(3, snapshot.Totals.AnsweredNodeCount);
        Assert.Equal(3, snapshot.Totals.TotalNodeCount);
        Assert.Same(snapshot, await a.Observer.GetSnapshotAsync());
        a.Observer.InvalidateCache();
        Assert.NotSame(snapshot, await a.Observer.GetSnapshotAsync()); // asked anew, though the cached one is young
        Assert.Equal(0, a.Observer.PendingCount);
    }

    [Fact]
    public async Task Idle_NobodyAsksForStatistics_TicksStopWalkingTheProcessTableUntilSomeoneAsks()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret, options => options with { HeartbeatInterval = TimeSpan.FromMilliseconds(100) });
        var (a, b) = pair;
        for (var i = 0; i < 100; i++)
        {
            await a.Runtime.StartAsync(new Echo());
        }
        a.Observer.QuietAfter = TimeSpan.FromMilliseconds(200);

        await Wait.UntilAsync(() => !a.Observer.IsSampling);
        var walks = a.Runtime.StatsWalks;
        var ticks = a.TickCount;
        await Wait.UntilAsync(() => a.TickCount >= ticks + 5);
        Assert.Equal(walks, a.Runtime.StatsWalks);

        // A request (here one from the other node) wakes the sampling; its figures are whole. The quiet period is long
        // again first: with 200 ms, a loaded machine could let the sampling fall asleep before the wait below saw it.
        a.Observer.QuietAfter = TimeSpan.FromMinutes(5);
        var stats = await b.Observer.GetNodeStatsAsync(a.Id).Within();
        await Wait.UntilAsync(() => a.Observer.IsSampling);
        Assert.Equal(100, stats.ProcessCount);
        Assert.True(a.Runtime.StatsWalks > walks);
    }

    [Fact]
    public async Task GetLocalStats_AfterTraffic_ReportsPositiveRates()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret, Patient);
        var (a, b) = pair;
        var echo = await b.Runtime.StartAsync(new Echo());

        // Traffic until the node's rate window (sampled on its heartbeat tick) holds some of it.
        NodeStats stats;
        var i = 0;
        do
        {
            await a.Runtime.CallAsync(echo, Value.Object(("n", i++)));
            stats = await a.Observer.GetNodeStatsAsync(b.Id);
        }
        while ((stats.MessagesPerSecond <= 0 || stats.BytesReceivedPerSecond <= 0 || stats.BytesSentPerSecond <= 0) && i < 100_000);

        Assert.True(stats.MessagesPerSecond > 0 && stats.BytesReceivedPerSecond > 0 && stats.BytesSentPerSecond > 0);
        Assert.Equal(b.Id, stats.Node);
    }

    [Fact]
    public async Task GetSnapshotAsync_NodeThatDoesNotAnswer_IsReportedTimeoutAndTheRestAnswer()
    {
        // c is the seed: a and b dial it through its proxy, so the a-c link runs through that proxy.
        await using var cluster = await TestCluster.StartAsync(["c", "a", "b"], Secret, Patient, proxied: true);
        var (c, a, b) = cluster;
        var proxy = cluster.Proxies[0];
        var timeouts = new System.Collections.Concurrent.ConcurrentQueue<NodeId>();
        a.Observer.NodeTimeout += timeouts.Enqueue;

        // A black hole: the request is swallowed, the sockets stay open, and the generous threshold keeps c "up".
        proxy.Blackhole = true;
        var snapshot = await a.Observer.GetSnapshotAsync(TimeSpan.FromMilliseconds(500), useCache: false);

        var byNode = snapshot.Nodes.ToDictionary(n => n.Node);
        Assert.Equal(NodeObservationStatus.Timeout, byNode[c.Id].Status);
        Assert.Null(byNode[c.Id].Stats);
        Assert.Contains("did not answer", byNode[c.Id].Error);
        Assert.Equal(NodeObservationStatus.Connected, byNode[b.Id].Status);
        Assert.Equal(NodeObservationStatus.Connected, byNode[a.Id].Status);
        Assert.Equal(2, snapshot.Totals.AnsweredNodeCount);
        Assert.Equal(3, snapshot.Totals.TotalNodeCount);
        Assert.Equal([c.Id], timeouts);
        Assert.Equal(0, a.Observer.PendingCount);
        Assert.True(a.IsConnected(c.Id), "c was slow, not down");
    }

    [Fact]
    public async Task GetNodeStatsAsync_NodeGoesDownWhileAsked_FailsAtOnceWithNodeNotReachable()
    {
        await using var pair = await TestCluster.StartAsync(["c", "a"], Secret, Patient, proxied: true);
        var (c, a) = pair;
        var proxy = pair.Proxies[0];
        proxy.Blackhole = true;

        var asking = a.Observer.GetNodeStatsAsync(c.Id, TimeSpan.FromSeconds(60));
        proxy.ResetAll();

        await Assert.ThrowsAsync<NodeNotReachableException>(() => asking.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, a.Observer.PendingCount);
    }

    [Fact]
    public async Task Subscribe_Polls_DeliversSnapshotsUntilDisposed()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret, Patient);
        var (a, _) = pair;
        var received = new System.Collections.Concurrent.ConcurrentQueue<ClusterSnapshot>();

        var subscription = a.Observer.Subscribe(TimeSpan.FromMilliseconds(100), received.Enqueue);
        await Wait.UntilAsync(() => received.Count >= 3);
        subscription.Dispose();
        subscription.Dispose();

        Assert.All(received, s => Assert.Equal(2, s.Nodes.Count));
        // Once disposed the timer is gone: a second subscription starts a fresh one, which fires at once.
        var again = new TaskCompletionSource<ClusterSnapshot>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var second = a.Observer.Subscribe(TimeSpan.FromSeconds(10), s => again.TrySetResult(s));
        Assert.Equal(2, (await again.Task.WaitAsync(TimeSpan.FromSeconds(30))).Nodes.Count);
    }

    [Fact]
    public async Task OnMessage_MalformedOrReserved_IsAProtocolError()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret));
        IClusterService service = a.Observer;

        Assert.False(service.OnMessage(null!, [0x30, 1, 2]));
        Assert.False(service.OnMessage(null!, [0x31, 1, 0, 0, 0, 0, 0, 0, 0, 0x07, 0x05]));
        Assert.Throws<FormatException>(() => NodeStats.FromValue(Value.Object(("node", "not an id"))));
    }
}
