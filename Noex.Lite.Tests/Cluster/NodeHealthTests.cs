using System.Collections.Concurrent;

namespace Noex.Lite.Tests;

/// <summary>
/// What a health check reads of a node: its <see cref="Node.State"/> through its life (and <see cref="Node.StateChanged"/>),
/// and <see cref="Node.GetHealth"/>: its seeds and how many it sees, its members and peers, its quorum.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class NodeHealthTests
{
    private const string Secret = "node-health-tests";

    [Fact]
    public async Task State_IsRunningOnceStarted_ThenStoppingAndStopped_EachRaisedOnce()
    {
        var node = await Node.StartAsync(TestNodes.Options("solo", Secret));
        Assert.Equal(NodeState.Running, node.State);
        Assert.Equal(NodeState.Running, node.GetHealth().State);
        var seen = new ConcurrentQueue<(NodeState Raised, NodeState Read, NodeState Health)>();
        node.StateChanged += state => seen.Enqueue((state, node.State, node.GetHealth().State));

        await node.StopAsync();
        await node.StopAsync();

        Assert.Equal(NodeState.Stopped, node.State);
        Assert.Equal(
            [(NodeState.Stopping, NodeState.Stopping, NodeState.Stopping), (NodeState.Stopped, NodeState.Stopped, NodeState.Stopped)],
            seen);
        var health = node.GetHealth();
        Assert.Equal((NodeState.Stopped, 0, 0), (health.State, health.Connected, health.SeedsConnected));
    }

    [Fact]
    public async Task GetHealth_CountsTheSeedsSeen_NotTheNodesOwnId_AndFollowsASeedThatGoesAndComesBack()
    {
        var (port, selfPort) = TwoFreePorts();
        var seedId = $"seed@127.0.0.1:{port}";
        // The same seed list on every node, as a deployment gives it: the node's own id among its seeds is not a seed.
        await using var node = await Node.StartAsync(TestNodes.Options("n", Secret, seedId, $"n@127.0.0.1:{selfPort}", seedId) with { Port = selfPort });

        var alone = node.GetHealth();
        Assert.Equal((NodeState.Running, 1, 0, 0), (alone.State, alone.Seeds, alone.SeedsConnected, alone.Connected));

        var seed = await Node.StartAsync(TestNodes.Options("seed", Secret) with { Port = port });
        await Wait.UntilAsync(() => node.GetHealth().SeedsConnected == 1);
        var joined = node.GetHealth();
        Assert.Equal((1, 1, 1, 1), (joined.Seeds, joined.SeedsConnected, joined.Members, joined.Connected));
        Assert.True(joined.HasQuorum);
        Assert.True(joined.Uptime > TimeSpan.Zero);

        await seed.StopAsync();
        await Wait.UntilAsync(() => node.GetHealth().SeedsConnected == 0);
        Assert.Equal(0, node.GetHealth().Connected);

        await using var back = await Node.StartAsync(TestNodes.Options("seed", Secret) with { Port = port });
        await Wait.UntilAsync(() => node.GetHealth().SeedsConnected == 1);
    }

    /// <summary>Two loopback ports that were free a moment ago, and not the same one (both probes are held at once: one
    /// probe after another may be given the port the first just freed).</summary>
    private static (int, int) TwoFreePorts()
    {
        using var first = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        using var second = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        first.Start();
        second.Start();
        return (((System.Net.IPEndPoint)first.LocalEndpoint).Port, ((System.Net.IPEndPoint)second.LocalEndpoint).Port);
    }

    [Fact]
    public async Task GetHealth_CountsMembersAndPeersConnected()
    {
        await using var cluster = await TestCluster.StartAsync(3, Secret);
        var (a, b, c) = cluster;

        var health = c.GetHealth();
        Assert.Equal((1, 1, 2, 2, true), (health.Seeds, health.SeedsConnected, health.Members, health.Connected, health.HasQuorum));
        // The first node has no seeds: ready by itself, and connected to those that joined it.
        Assert.Equal((0, 0, 2), (a.GetHealth().Seeds, a.GetHealth().SeedsConnected, a.GetHealth().Connected));
    }

    [Fact]
    public async Task GetHealth_CutOffFromEveryPeer_KeepsTheMembers_LosesThePeersAndTheQuorum()
    {
        await using var cluster = await TestCluster.StartAsync(3, Secret, proxied: true);

        // Silence without a goodbye, as a partition (a goodbye would shrink the quorum base).
        foreach (var proxy in cluster.Proxies)
        {
            proxy.Blackhole = true;
        }

        var c = cluster[2];
        await Wait.UntilAsync(() => c.GetHealth().Connected == 0);
        var cut = c.GetHealth();
        Assert.Equal((NodeState.Running, 2, 0, 0, false), (cut.State, cut.Members, cut.Connected, cut.SeedsConnected, cut.HasQuorum));
    }
}
