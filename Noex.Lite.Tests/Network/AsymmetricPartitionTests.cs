using System.Diagnostics;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// A partition that is not a split: A and C cannot reach each other but both still reach B, for a minute. Gossip through
/// B keeps telling A and C of each other; that must not turn into cycles of downs and ups.
/// </summary>
[Collection(NetworkCollection.Name)]
[Trait("Category", Category.Network)]
public class AsymmetricPartitionTests(ITestOutputHelper output)
{
    private const string Secret = "network-asymmetric";
    private static readonly TimeSpan s_hold = TimeSpan.FromSeconds(60);

    [NetnsFact]
    public async Task AAndCCutBothReachB_HeldAMinute_OneDownEachAndNoFlapping_ThenAllUp()
    {
        await using var network = await VirtualNetwork.CreateAsync(3);
        var nodes = await NetworkNodes.StartMeshAsync(network, Secret, "--heartbeat", "300", "--threshold", "3");
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        var marks = nodes.Select(n => n.Mark()).ToArray();

        var cut = Stopwatch.GetTimestamp();
        network.Partition([network[0]], [network[2]]);
        // The scenario itself is "hold for a minute": whatever the nodes do in it is what the test is about.
        await Task.Delay(s_hold);
        var ends = nodes.Select(n => n.Mark()).ToArray();
        var during = nodes.Select((n, i) => n.PeerEvents(marks[i], ends[i])).ToArray();
        var peers = await Task.WhenAll(nodes.Select(n => n.PeersAsync()));

        for (var i = 0; i < nodes.Length; i++)
        {
            var events = during[i];
            output.WriteLine($"{nodes[i].Id} during the {s_hold.TotalSeconds:0} s: {events.Count(e => !e.Up)} down, {events.Count(e => e.Up)} up" +
                $"{string.Concat(events.Select(e => $"\n  +{NetworkNodes.Ms(cut, e.At):0} ms {e}"))}\n  connected at the end: [{string.Join(", ", peers[i].Select(p => p.ToString()))}]");
        }
        var aDown = Assert.Single(during[0]);
        Assert.Equal((false, c.Id, nameof(NodeDownReason.HeartbeatTimeout)), (aDown.Up, aDown.Peer, aDown.Reason));
        var cDown = Assert.Single(during[2]);
        Assert.Equal((false, a.Id, nameof(NodeDownReason.HeartbeatTimeout)), (cDown.Up, cDown.Peer, cDown.Reason));
        Assert.Empty(during[1]);
        Assert.Equal([b.Id], peers[0]);
        Assert.Equal([b.Id], peers[2]);

        var healed = Stopwatch.GetTimestamp();
        network.Heal();
        await NodeHostCommands.WaitForFullMeshAsync(nodes, NetworkNodes.MeshBound);
        output.WriteLine($"healed: full mesh again after {NetworkNodes.Ms(healed, Stopwatch.GetTimestamp()):0} ms");
    }
}
