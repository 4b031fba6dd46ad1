using static Noex.Lite.Tests.DistributedSupervisorTesting;

namespace Noex.Lite.Tests;

/// <summary>
/// The distributed supervisor with its production host on in-process nodes: children spawned through each node's
/// behaviour registry, watched by remote monitors, registered under global names; a partition cut by proxies (T23).
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class DistributedSupervisorClusterTests
{
    private const string Secret = "dsup-cluster-tests";

    /// <summary>Waits as <see cref="Wait.UntilAsync(Func{bool}, TimeSpan?, CancellationToken)"/> does, but a timeout says which wait and what the cluster looked like.</summary>
    private static async Task UntilAsync(Func<bool> condition, string step, Func<string> state)
    {
        try
        {
            await Wait.UntilAsync(condition);
        }
        catch (TimeoutException)
        {
            throw new Xunit.Sdk.XunitException($"{step} timed out: {state()}");
        }
    }

    [Fact]
    public async Task Partition_RealSpawnsMonitorsAndNames_ExactlyOneInstanceAndOneNameOwnerAfterHeal()
    {
        // A proxy in front of every node; c is cut off by cutting exactly the connections between c and the others,
        // whoever dialled them, so a and b keep each other (T09's technique).
        await using var cluster = await TestCluster.StartAsync(3, Secret, FastDetection, proxied: true);
        var (a, b, c) = cluster;
        var (pa, pb, pc) = (cluster.Proxies[0], cluster.Proxies[1], cluster.Proxies[2]);
        var nodes = cluster.Nodes;
        foreach (var node in nodes)
        {
            node.Behaviors.Register("worker", () => new Worker());
        }
        var ids = new[] { "w1", "w2", "w3", "w4" };
        await using var supervisor = await DistributedSupervisor.StartAsync(a, new DistributedSupervisorOptions
        {
            NodeSelector = Prefer(c.Id, b.Id),
            Children = ids.Select(id => new DistributedChildSpec(id, "worker") { Args = Value.Object(("id", id)), GlobalName = $"svc-{id}" }).ToArray(),
        });
        var log = new EventLog();
        supervisor.LifecycleEvent += log.Add;
        string State() =>
            $"processes a/b/c {a.Runtime.ProcessCount}/{b.Runtime.ProcessCount}/{c.Runtime.ProcessCount}; pending spawns at c {c.PendingSpawnCounts}; " +
            $"names at a/b/c {string.Join(",", ids.Select(id => $"{a.GlobalRegistry.Whereis($"svc-{id}")}/{b.GlobalRegistry.Whereis($"svc-{id}")}/{c.GlobalRegistry.Whereis($"svc-{id}")}"))}; " +
            $"children {string.Join(",", supervisor.GetChildren().Select(ch => ch.Ref))}; events {string.Join(",", log.Events.Select(e => $"{e.Kind}:{e.ChildId}"))}";
        var before = supervisor.GetChildren().ToDictionary(ch => ch.Id, ch => ch.Ref);
        Assert.All(supervisor.GetChildren(), ch => Assert.Equal(c.Id, ch.Node));
        await UntilAsync(() => ids.All(id => nodes.All(n => n.GlobalRegistry.Whereis($"svc-{id}") == before[id])), "step 1", State);
        Assert.Equal(ids.Length, c.Runtime.ProcessCount);

        // Every spawn acknowledged: c would stop one whose caller vanished before acknowledging it (§5.3).
        await UntilAsync(() => c.PendingSpawnCounts.Incoming == 0, "step 2", State);
        // c is cut off from both a and b, and keeps running.
        pc.Cut("a");
        pc.Cut("b");
        pa.Cut("c");
        pb.Cut("c");
        await UntilAsync(() => log.Count(DistributedSupervisorEventKind.ChildMigrated) == ids.Length, "step 3", State);
        Assert.All(ids, id => Assert.Equal(1, log.Count(DistributedSupervisorEventKind.ChildMigrated, id)));
        Assert.All(supervisor.GetChildren(), ch => Assert.Equal(b.Id, ch.Node));
        Assert.True(a.IsConnected(b.Id), "a and b kept each other: a majority");
        Assert.Equal(ids.Length, c.Runtime.ProcessCount);
        var moved = supervisor.GetChildren().ToDictionary(ch => ch.Id, ch => ch.Ref);
        await UntilAsync(() => ids.All(id => a.GlobalRegistry.Whereis($"svc-{id}") == moved[id]), "step 4", State);

        pc.Mend("a");
        pc.Mend("b");
        pa.Mend("c");
        pb.Mend("c");
        // Healed: the instances left on c are stopped, and every node names the current instances.
        await UntilAsync(() => c.Runtime.ProcessCount == 0, "step 5", State);
        await UntilAsync(() => ids.All(id => nodes.All(n => n.GlobalRegistry.Whereis($"svc-{id}") == moved[id])), "step 6", State);
        Assert.Equal(ids.Length, b.Runtime.ProcessCount);
        Assert.All(ids, id => Assert.Equal(moved[id], supervisor.GetChild(id)!.Ref));
        foreach (var id in ids)
        {
            Assert.Equal(id, (await c.Runtime.CallAsync(c.GlobalRegistry.Lookup($"svc-{id}"), "args?"))["id"].AsString());
        }
        Assert.Equal(ids.Length, log.Count(DistributedSupervisorEventKind.ChildMigrated));
        Assert.True(supervisor.IsRunning);
    }
}
