using System.Diagnostics;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// A host whose network interface goes down for 20 s and comes back, its process running throughout: the peers see it go
/// down by heartbeat timeout, and it rejoins once the link is back, as the same incarnation, without a restart.
/// </summary>
[Collection(NetworkCollection.Name)]
[Trait("Category", Category.Network)]
public class LinkOutageTests(ITestOutputHelper output)
{
    private const string Secret = "network-outage";
    private static readonly TimeSpan s_outage = TimeSpan.FromSeconds(20);

    [NetnsFact]
    public async Task InterfaceDownFor20s_PeersSeeHeartbeatTimeout_ThenItRejoinsWithoutARestart()
    {
        await using var network = await VirtualNetwork.CreateAsync(3);
        // 500 ms × 3: the outage is seen within 1.5 s, and it is far longer than that.
        var nodes = await NetworkNodes.StartMeshAsync(network, Secret, "--heartbeat", "500", "--threshold", "3");
        var (n1, n2, n3) = (nodes[0], nodes[1], nodes[2]);
        var echo3 = await n3.StartEchoAsync();
        var marks = nodes.Select(n => n.Mark()).ToArray();

        var down = Stopwatch.GetTimestamp();
        VirtualNetwork.SetLink(network[2], up: false);
        PeerEvent? Seen(int seer, NodeProcess peer, bool up) => nodes[seer].PeerEvents(marks[seer]).FirstOrDefault(e => e.Up == up && e.Peer == peer.Id);
        await Wait.UntilAsync(() => Seen(0, n3, up: false) is not null && Seen(1, n3, up: false) is not null);
        var detected = new[] { Seen(0, n3, up: false)!, Seen(1, n3, up: false)! };
        output.WriteLine($"n3's link down: n1 saw {detected[0].Reason} after {NetworkNodes.Ms(down, detected[0].At):0} ms, n2 {detected[1].Reason} after {NetworkNodes.Ms(down, detected[1].At):0} ms");
        Assert.All(detected, d => Assert.Equal(nameof(NodeDownReason.HeartbeatTimeout), d.Reason));

        // The scenario: the link stays down this long in all, whatever the nodes do meanwhile.
        await Task.Delay(s_outage - Stopwatch.GetElapsedTime(down));
        var n3Saw = n3.PeerEvents(marks[2]);
        output.WriteLine($"n3 during the outage: {string.Join(", ", n3Saw.Select(e => $"+{NetworkNodes.Ms(down, e.At):0} ms {e}"))}");
        var up = Stopwatch.GetTimestamp();
        VirtualNetwork.SetLink(network[2], up: true);

        await NodeHostCommands.WaitForFullMeshAsync(nodes, NetworkNodes.MeshBound);
        var rejoined = new[] { Seen(0, n3, up: true)!, Seen(1, n3, up: true)! };
        output.WriteLine($"link up again: n1 saw n3 up after {NetworkNodes.Ms(up, rejoined[0].At):0} ms, n2 after {NetworkNodes.Ms(up, rejoined[1].At):0} ms; " +
            $"full mesh after {NetworkNodes.Ms(up, Stopwatch.GetTimestamp()):0} ms");

        // The same process and incarnation: it printed READY once, nobody saw it restart, and its id is unchanged.
        Assert.Single(n3.Lines, l => l.StartsWith("READY ", StringComparison.Ordinal));
        Assert.DoesNotContain(nodes.SelectMany(n => n.PeerEvents()), e => e.Reason == nameof(NodeDownReason.Restarted));
        var calls = await n1.CallAsync(n3.Id, echo3, 20, TimeSpan.FromSeconds(5));
        output.WriteLine($"n1→n3 after the outage: {calls}");
        Assert.Equal(20, calls.Ok);
    }
}
