using System.Diagnostics;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// Distributed supervision on a real network: five NodeHost processes in five network namespaces, split by nft drop
/// rules (the sockets stay open; only the failure detector can tell). The supervisor is partitioned away; a partition
/// heals one node at a time; one link is cut while both its ends still reach the rest. After each: one supervisor and
/// one instance of each child, and no live child restarted.
/// </summary>
[Collection(NetworkCollection.Name)]
[Trait("Category", Category.Network)]
public class SupervisorPartitionTests(ITestOutputHelper output)
{
    private const string Secret = "network-dsup";
    private const string Group = "pool";

    /// <summary>Five nodes, 200 ms × 3 heartbeats: a cut is seen in well under a second.</summary>
    private static async Task<(VirtualNetwork Network, NodeProcess[] Nodes)> StartAsync()
    {
        var network = await VirtualNetwork.CreateAsync(5);
        return (network, await NetworkNodes.StartMeshAsync(network, Secret, "--heartbeat", "200", "--threshold", "3"));
    }

    /// <summary>Live instances of each child over all nodes, as each node reports its own.</summary>
    private static async Task<Dictionary<string, List<(string Node, long Process)>>> InstancesAsync(NodeProcess[] nodes)
    {
        var all = await Task.WhenAll(nodes.Select(async n => (n.Id.Name, Workers: await n.WorkersAsync())));
        return all.SelectMany(n => n.Workers.Select(w => (w.Child, n.Name, w.Process)))
            .GroupBy(w => w.Child).ToDictionary(g => g.Key, g => g.Select(w => (w.Name, w.Process)).ToList());
    }

    private static async Task StartGroupAsync(NodeProcess[] nodes, int count, string hosts)
    {
        Assert.True(await nodes[0].StartMemberAsync(Group, count, hosts));
        foreach (var node in nodes.Skip(1))
        {
            Assert.False(await node.StartMemberAsync(Group, count, hosts));
        }
        // Every standby holds the active member's children before anything is cut.
        await Wait.UntilAsync(async () => (await Task.WhenAll(nodes.Skip(1).Select(n => n.LocalAsync(Group)))).All(l => l.Children.Count == count), NetworkNodes.MeshBound);
    }

    /// <summary>Runs <paramref name="scenario"/> on five fresh nodes, and prints every member's events whatever the outcome.</summary>
    private async Task RunShowingEventsAsync(Func<VirtualNetwork, NodeProcess[], Task> scenario)
    {
        var (network, nodes) = await StartAsync();
        await using var _ = network;
        try
        {
            await scenario(network, nodes);
        }
        finally
        {
            foreach (var node in nodes)
            {
                output.WriteLine($"{node.Id.Name}: {string.Join("; ", node.GroupEvents(Group).Select(e => $"{e.Kind} {e.Child} {e.Node} {e.From} {e.Reason}"))}");
            }
        }
    }

    [NetnsFact]
    public Task ActiveMemberPartitionedAway_MajorityTakesOver_MinorityStandsDown_HealLeavesOneSupervisorAndOneInstanceEach() => RunShowingEventsAsync(PartitionAwayAsync);

    private async Task PartitionAwayAsync(VirtualNetwork network, NodeProcess[] nodes)
    {
        await StartGroupAsync(nodes, 4, "n2,n4");
        var before = await nodes[0].LocalAsync(Group);
        Assert.Equal(["n2", "n4", "n2", "n4"], before.Children.OrderBy(c => c.Key).Select(c => c.Value.Node));

        var split = Stopwatch.GetTimestamp();
        network.Partition(network.Hosts.Take(2), network.Hosts.Skip(2));

        // n1 (two of five) stands down; n3, first in line on the majority side, takes over and adopts n4's children.
        await Wait.UntilAsync(() => nodes[0].Count(Group, DistributedSupervisorEventKind.SupervisorStoodDown) == 1
            && nodes[2].Count(Group, DistributedSupervisorEventKind.SupervisorTookOver) == 1
            && nodes[2].Count(Group, DistributedSupervisorEventKind.ChildMigrated) == 2, NetworkNodes.MeshBound);
        var took = nodes[2].GroupEvents(Group).First(e => e.Kind == nameof(DistributedSupervisorEventKind.SupervisorTookOver));
        Assert.Equal(nodes[0].Id.ToString(), took.From);
        var during = await nodes[2].LocalAsync(Group);
        Assert.True(during.Active);
        Assert.Equal(before.Children["w2"], during.Children["w2"]);
        Assert.Equal(before.Children["w4"], during.Children["w4"]);
        Assert.Equal(("n4", "n4"), (during.Children["w1"].Node, during.Children["w3"].Node)); // moved off n2, out of reach

        var healed = Stopwatch.GetTimestamp();
        network.Heal();
        await NodeHostCommands.WaitForFullMeshAsync(nodes, NetworkNodes.MeshBound);
        // The old instances on n2 are stopped by the active member; n1's member stands by for n3's.
        await Wait.UntilAsync(async () => (await InstancesAsync(nodes)).Values.All(i => i.Count == 1)
            && (await nodes[0].LocalAsync(Group)).Children.SequenceEqual(during.Children), NetworkNodes.MeshBound);
        var instances = await InstancesAsync(nodes);
        Assert.Equal(during.Children.OrderBy(c => c.Key).Select(c => c.Value), instances.OrderBy(i => i.Key).Select(i => i.Value.Single()));
        var locals = await Task.WhenAll(nodes.Select(n => n.LocalAsync(Group)));
        Assert.Equal([false, false, true, false, false], locals.Select(l => l.Active));
        Assert.All(nodes, n => Assert.Equal(n == nodes[2] ? 1 : 0, n.Count(Group, DistributedSupervisorEventKind.SupervisorTookOver)));
        output.WriteLine($"split {{n1,n2}}|{{n3,n4,n5}}: n3 took over {NetworkNodes.Ms(split, took.At):0} ms after the cut (600 ms of silence to detect); " +
            $"2 children on the cut-off n2 moved, 2 on n4 adopted (needless restarts: 0); after the heal ({NetworkNodes.Ms(healed, Stopwatch.GetTimestamp()):0} ms) one active member and one instance of each child");
    }

    [NetnsFact]
    public async Task PartitionHealsOneNodeAtATime_UnnamedSupervisorOnTheMinority_RestartsNoHealthyChild()
    {
        var (network, nodes) = await StartAsync();
        await using var _ = network;
        var n1 = nodes[0];
        Assert.True(await n1.StartMemberAsync("-", 2, "n4,n5")); // unnamed: it lives on n1
        var before = await n1.LocalAsync("-");
        Assert.Equal(["n4", "n5"], before.Children.OrderBy(c => c.Key).Select(c => c.Value.Node));

        network.Partition(network.Hosts.Take(2), network.Hosts.Skip(2));
        await Wait.UntilAsync(() => n1.Count("-", DistributedSupervisorEventKind.NodeFailureDetected) == 2, NetworkNodes.MeshBound);

        // n3 comes back first: n1 sees three of five, a quorum, while n4 and n5 are still out of its sight. n3 reaches
        // them, so they are not lost.
        network.Heal();
        network.Partition(network.Hosts.Take(2), network.Hosts.Skip(3));
        await Wait.UntilAsync(() => n1.Count("-", DistributedSupervisorEventKind.NodeReachableByOthers) >= 2, NetworkNodes.MeshBound);
        Assert.Equal(0, n1.Count("-", DistributedSupervisorEventKind.ChildMigrated));

        network.Heal();
        await NodeHostCommands.WaitForFullMeshAsync(nodes, NetworkNodes.MeshBound);
        await Wait.UntilAsync(async () => (await n1.LocalAsync("-")).Children.SequenceEqual(before.Children), NetworkNodes.MeshBound);
        var instances = await InstancesAsync(nodes);
        Assert.Equal(before.Children.OrderBy(c => c.Key).Select(c => c.Value), instances.OrderBy(i => i.Key).Select(i => i.Value.Single()));
        Assert.Equal(0, n1.Count("-", DistributedSupervisorEventKind.ChildMigrated) + n1.Count("-", DistributedSupervisorEventKind.ChildRestarted));
        output.WriteLine("heal one node at a time: n3 back first gave n1 a quorum; n4 and n5 were reachable by n3, so no child moved; needless restarts: 0");
    }

    [NetnsFact]
    public Task OneLinkCut_BothEndsStillReachTheRest_NoChildDuplicated_NoTakeover() => RunShowingEventsAsync(CutOneLinkAsync);

    private async Task CutOneLinkAsync(VirtualNetwork network, NodeProcess[] nodes)
    {
        // The active member on n1, its child on n3; the link n1–n3 alone is cut.
        await StartGroupAsync(nodes, 1, "n3");
        var before = await nodes[0].LocalAsync(Group);

        network.Partition([network[0]], [network[2]]);
        // n1 sees n3 lost and n3's standby sees n1 (the active member's node) lost; each asks the others, who reach both.
        await Wait.UntilAsync(() => nodes[0].Count(Group, DistributedSupervisorEventKind.NodeReachableByOthers) >= 1
            && nodes[2].Count(Group, DistributedSupervisorEventKind.NodeReachableByOthers) >= 1, NetworkNodes.MeshBound);
        var instances = await InstancesAsync(nodes);
        Assert.Equal([before.Children["w1"]], instances["w1"]);
        Assert.All(nodes, n => Assert.Equal(0, n.Count(Group, DistributedSupervisorEventKind.SupervisorTookOver) + n.Count(Group, DistributedSupervisorEventKind.ChildMigrated)));
        Assert.True((await nodes[0].LocalAsync(Group)).Active);

        network.Heal();
        await NodeHostCommands.WaitForFullMeshAsync(nodes, NetworkNodes.MeshBound);
        // A crash after the heal is still the one active member's to restart, once.
        await nodes[1].SendAsync($"dsup-crash {Group} w1");
        // Restarted once: as a crash, or as a loss if the crash beats the watch renewed after the heal (noproc then).
        await Wait.UntilAsync(() => nodes[0].Count(Group, DistributedSupervisorEventKind.ChildRestarted) + nodes[0].Count(Group, DistributedSupervisorEventKind.ChildMigrated) == 1, NetworkNodes.MeshBound);
        await Wait.UntilAsync(async () => (await InstancesAsync(nodes))["w1"].Count == 1, NetworkNodes.MeshBound);
        Assert.All(nodes, n => Assert.Equal(0, n.Count(Group, DistributedSupervisorEventKind.SupervisorTookOver)));
        output.WriteLine("one cut link n1–n3: neither end concluded the other lost (the other three reach both); one instance throughout");
    }
}
