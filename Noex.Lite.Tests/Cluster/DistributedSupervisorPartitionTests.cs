using static Noex.Lite.Tests.DistributedSupervisorTesting;

namespace Noex.Lite.Tests;

/// <summary>
/// Reliability case T23 on in-process nodes: a node hosting children is cut off by a proxy (a black hole, both ways) while
/// it keeps running, then the link heals. The partition policy decides who restarts what; after the heal exactly one
/// instance of each child is alive.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class DistributedSupervisorPartitionTests
{
    private const string Secret = "dsup-partition-tests";

    /// <summary>
    /// b, whose children are lost, behind a proxy; a, the supervisor's node, dials it through that proxy. Children go to b
    /// while it is a candidate.
    /// </summary>
    private static Task<TestCluster> PairAsync() => TestCluster.StartAsync(["b", "a"], Secret, FastDetection, proxied: true);

    /// <summary>Live processes, among all ever spawned, that are instances of the child (by the id in their init args).</summary>
    private static async Task<int> LiveInstancesAsync(Node[] nodes, InProcessChildHost host, string childId)
    {
        var live = 0;
        foreach (var (node, process) in host.Spawned)
        {
            var owner = nodes.First(n => n.Id == node);
            if (owner.Runtime.IsAlive(process) && (await owner.Runtime.CallAsync(process, "args?"))["id"].AsString() == childId)
            {
                live++;
            }
        }
        return live;
    }

    [Fact]
    public async Task Partition_SupervisorOnMajoritySide_MigratesOnceAndStopsTheStaleInstancesOnHeal()
    {
        await using var cluster = await TestCluster.StartAsync(["c", "a", "b"], Secret, FastDetection, proxied: true);
        var (c, a, b) = cluster;
        var nodes = new[] { a, b, c };
        // Four children, more than the intensity's three: one node failure counts once.
        var ids = new[] { "w1", "w2", "w3", "w4" };
        var (supervisor, host, log) = await StartInProcessAsync(a, new DistributedSupervisorOptions
        {
            NodeSelector = Prefer(c.Id),
            Children = ids.Select(id => new DistributedChildSpec(id, "worker") { Args = Value.Object(("id", id)) }).ToArray(),
        }, b, c);
        await using var _ = supervisor;
        var before = supervisor.GetChildren().ToDictionary(ch => ch.Id, ch => ch.Ref);
        Assert.All(supervisor.GetChildren(), ch => Assert.Equal(c.Id, ch.Node));

        // c cut off from both (whichever of a pair dialled): a one-link cut would leave c reachable through b, and then
        // c's children are not lost (SupervisorFailoverTests).
        cluster.Isolate("c");
        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.ChildMigrated) == ids.Length);

        // a sees b: two of three nodes, a majority, so it restarted them, each once and away from c...
        Assert.Equal(1, log.Count(DistributedSupervisorEventKind.NodeFailureDetected));
        Assert.All(ids, id => Assert.Equal(1, log.Count(DistributedSupervisorEventKind.ChildMigrated, id)));
        Assert.All(supervisor.GetChildren(), ch => Assert.NotEqual(c.Id, ch.Node));
        Assert.Equal(ids.Length, supervisor.GetStats().NodeFailureRestarts);
        Assert.True(supervisor.IsRunning);
        // ...while the old instances still run on c, cut off.
        Assert.All(before.Values, r => Assert.True(c.Runtime.IsAlive(r)));

        cluster.Heal();
        await Wait.UntilAsync(() => before.Values.All(r => !c.Runtime.IsAlive(r)));

        foreach (var id in ids)
        {
            Assert.Equal(1, await LiveInstancesAsync(nodes, host, id));
        }
        Assert.Equal(ids.Length * 2, host.Spawned.Count);
        Assert.Equal(ids.Length, log.Count(DistributedSupervisorEventKind.ChildMigrated));
    }

    [Fact]
    public async Task Partition_SupervisorOnMinoritySide_WaitsAndKeepsTheLiveInstancesOnHeal()
    {
        await using var pair = await PairAsync();
        var (b, a) = pair;
        var proxy = pair.Proxies[0];
        var (supervisor, host, log) = await StartInProcessAsync(a, new DistributedSupervisorOptions
        {
            NodeSelector = Prefer(b.Id),
            Children = [new DistributedChildSpec("w1", "worker") { Args = Value.Object(("id", "w1")) }],
        }, b);
        await using var _ = supervisor;
        var before = supervisor.GetChild("w1")!.Ref;
        var events = NodeEvents.Watch(a);

        proxy.Blackhole = true;
        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.NodeFailureDetected) == 1);
        // One of two is no majority: a does not restart what may be running on b.
        Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildMigrated));
        proxy.Blackhole = false;
        await Wait.UntilAsync(() => !events.Ups.IsEmpty && a.IsConnected(b.Id));
        // Settled once the supervisor has processed the node's return; a second healthy connection proves the link.
        await Wait.UntilAsync(() => b.Runtime.IsAlive(before) && supervisor.GetChild("w1")!.Ref == before);
        Assert.Equal("w1", (await a.Runtime.CallAsync(before, "args?"))["id"].AsString());

        Assert.Single(host.Spawned);
        Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildMigrated));
        Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildRestarted));
    }

    [Fact]
    public async Task Partition_MinoritySide_ChildThatDiedMeanwhile_IsRestartedOnceOnHeal()
    {
        await using var pair = await PairAsync();
        var (b, a) = pair;
        var proxy = pair.Proxies[0];
        var (supervisor, host, log) = await StartInProcessAsync(a, new DistributedSupervisorOptions
        {
            NodeSelector = Prefer(b.Id),
            Children = [new DistributedChildSpec("w1", "worker") { Args = Value.Object(("id", "w1")), Restart = RestartType.Transient }],
        }, b);
        await using var _ = supervisor;
        var before = supervisor.GetChild("w1")!.Ref;

        proxy.Blackhole = true;
        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.NodeFailureDetected) == 1);
        // Out of sight, the instance ends (even normally); the minority side could not know and did not act.
        await b.Runtime.StopAsync(before, ExitReason.Normal);
        Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildMigrated));
        proxy.Blackhole = false;

        // On heal it asks again, hears noproc, and treats it as the node's failure: the transient child comes back once.
        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.ChildMigrated) == 1);
        var now = supervisor.GetChild("w1")!;
        Assert.NotEqual(before, now.Ref);
        Assert.Equal(1, await LiveInstancesAsync([a, b], host, "w1"));
        Assert.Equal(2, host.Spawned.Count);
    }

    [Fact]
    public async Task Partition_PolicyAlways_TwoNodes_MigratesThenStopsTheStaleInstanceOnHeal()
    {
        await using var pair = await PairAsync();
        var (b, a) = pair;
        var proxy = pair.Proxies[0];
        var (supervisor, host, log) = await StartInProcessAsync(a, new DistributedSupervisorOptions
        {
            NodeSelector = Prefer(b.Id),
            PartitionPolicy = PartitionPolicy.Always,
            Children = [new DistributedChildSpec("w1", "worker") { Args = Value.Object(("id", "w1")), Restart = RestartType.Transient }],
        }, b);
        await using var _ = supervisor;
        var before = supervisor.GetChild("w1")!.Ref;

        proxy.Blackhole = true;
        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.ChildMigrated) == 1);
        var moved = supervisor.GetChild("w1")!;
        Assert.Equal(a.Id, moved.Node);
        Assert.True(b.Runtime.IsAlive(before));
        proxy.Blackhole = false;
        await Wait.UntilAsync(() => !b.Runtime.IsAlive(before));

        Assert.True(a.Runtime.IsAlive(moved.Ref));
        Assert.Equal(1, await LiveInstancesAsync([a, b], host, "w1"));
        Assert.Equal(1, log.Count(DistributedSupervisorEventKind.ChildMigrated));
    }

    [Fact]
    public async Task NodeLost_TemporaryChild_IsRemovedWithNodeDown()
    {
        await using var pair = await PairAsync();
        var (b, a) = pair;
        var proxy = pair.Proxies[0];
        var (supervisor, _, log) = await StartInProcessAsync(a, new DistributedSupervisorOptions
        {
            NodeSelector = Prefer(b.Id),
            PartitionPolicy = PartitionPolicy.Always,
            Children =
            [
                new DistributedChildSpec("temp", "worker") { Args = Value.Object(("id", "temp")), Restart = RestartType.Temporary },
                new DistributedChildSpec("trans", "worker") { Args = Value.Object(("id", "trans")), Restart = RestartType.Transient },
            ],
        }, b);
        await using var _ = supervisor;

        // Lost from sight (not stopped: a graceful stop would end the children with shutdown first).
        proxy.Blackhole = true;
        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.ChildMigrated) == 1 && log.Count(DistributedSupervisorEventKind.ChildStopped) == 1);

        Assert.Contains(log.Events, e => e.Kind == DistributedSupervisorEventKind.ChildStopped && e.ChildId == "temp" && e.Reason == "node_down");
        Assert.Equal(["trans"], supervisor.GetChildren().Select(ch => ch.Id));
        Assert.Equal(a.Id, supervisor.GetChild("trans")!.Node);
        var failure = Assert.Single(log.Events, e => e.Kind == DistributedSupervisorEventKind.NodeFailureDetected);
        Assert.Equal(["temp", "trans"], failure.AffectedChildren!.Order());
    }
}
