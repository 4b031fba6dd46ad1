using System.Diagnostics;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// T08 on a real network: five nodes in five network namespaces split by nft drop rules on the bridge (no proxy), so the
/// sockets stay open and only the failure detector can tell.
/// </summary>
[Collection(NetworkCollection.Name)]
[Trait("Category", Category.Network)]
public class PartitionTests(ITestOutputHelper output)
{
    private const string Secret = "network-partition";

    [NetnsFact]
    public async Task T08_SplitTwoThree_EachSideSeesTheOtherTimeOut_ThenTheMeshHealsAndCallsCross()
    {
        await using var network = await VirtualNetwork.CreateAsync(5);
        // 200 ms × 3: a partition is seen in well under a second.
        var nodes = await NetworkNodes.StartMeshAsync(network, Secret, "--heartbeat", "200", "--threshold", "3");
        var echoes = await Task.WhenAll(nodes.Select(n => n.StartEchoAsync()));
        NodeProcess[] left = [nodes[0], nodes[1]];
        NodeProcess[] right = [nodes[2], nodes[3], nodes[4]];
        var marks = nodes.Select(n => n.Mark()).ToArray();

        var split = Stopwatch.GetTimestamp();
        network.Partition(network.Hosts.Take(2), network.Hosts.Skip(2));

        // Each side sees every node of the other go down, first of all by heartbeat timeout, and keeps its own side.
        PeerEvent? FirstDown(int seer, NodeProcess peer) =>
            nodes[seer].PeerEvents(marks[seer]).FirstOrDefault(e => !e.Up && e.Peer == peer.Id);
        var crossing = (from a in Enumerable.Range(0, 5)
                        from b in Enumerable.Range(0, 5)
                        where a < 2 != b < 2
                        select (Seer: a, Peer: b)).ToArray();
        await Wait.UntilAsync(() => crossing.All(p => FirstDown(p.Seer, nodes[p.Peer]) is not null));
        foreach (var (seer, peer) in crossing)
        {
            Assert.Equal(nameof(NodeDownReason.HeartbeatTimeout), FirstDown(seer, nodes[peer])!.Reason);
        }
        await Task.WhenAll(left.Select(n => n.WaitForPeersAsync(left.Where(m => m != n).Select(m => m.Id), NetworkNodes.MeshBound)));
        await Task.WhenAll(right.Select(n => n.WaitForPeersAsync(right.Where(m => m != n).Select(m => m.Id), NetworkNodes.MeshBound)));
        var detections = crossing.Select(p => NetworkNodes.Ms(split, FirstDown(p.Seer, nodes[p.Peer])!.At)).ToArray();
        output.WriteLine($"partition {{n1,n2}}|{{n3,n4,n5}}: all {crossing.Length} downs by heartbeat timeout, after {detections.Min():0}–{detections.Max():0} ms (600 ms of silence, counted from the last frame before the cut)");

        var healed = Stopwatch.GetTimestamp();
        network.Heal();
        await NodeHostCommands.WaitForFullMeshAsync(nodes, NetworkNodes.MeshBound);
        output.WriteLine($"healed: full mesh again after {NetworkNodes.Ms(healed, Stopwatch.GetTimestamp()):0} ms");

        var n1ToN4 = await nodes[0].CallAsync(nodes[3].Id, echoes[3], 20, TimeSpan.FromSeconds(5));
        var n5ToN2 = await nodes[4].CallAsync(nodes[1].Id, echoes[1], 20, TimeSpan.FromSeconds(5));
        output.WriteLine($"calls across the former split: n1→n4 {n1ToN4}; n5→n2 {n5ToN2}");
        Assert.Equal(20, n1ToN4.Ok);
        Assert.Equal(20, n5ToN2.Ok);
    }
}
