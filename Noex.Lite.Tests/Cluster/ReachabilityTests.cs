namespace Noex.Lite.Tests;

/// <summary>
/// Reach queries (protocol.md §5.6): a node asks its peers whether they reach a node it lost; answers over real
/// connections, the refusals of malformed or unagreed messages, and an old peer that is not asked.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class ReachabilityTests
{
    private const string Secret = "reachability-tests";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task AskAsync_AboutALinkCutOnlyHere_PeersReachIt_AboutAStoppedNode_NoneDoes()
    {
        await using var cluster = await TestCluster.StartAsync(["a", "b", "c"], Secret, DistributedSupervisorTesting.FastDetection, proxied: true);
        var (a, b, c) = cluster;
        var peers = new[] { b.Id, c.Id };

        cluster.Partition(["a"], ["c"]);
        await Wait.UntilAsync(() => !a.IsConnected(c.Id));
        var cut = await a.Reach.AskAsync(c.Id, [b.Id], s_timeout);
        Assert.Equal(new ReachVerdict(1, 0, 1, 0), cut);
        Assert.False(cut.LostToAll);

        cluster.Heal();
        await cluster.WaitForMeshAsync();
        Assert.Equal(new ReachVerdict(1, 0, 1, 0), await a.Reach.AskAsync(c.Id, peers, s_timeout)); // c itself is never asked
        // b answers about itself as reachable.
        Assert.Equal(new ReachVerdict(1, 0, 1, 0), await a.Reach.AskAsync(b.Id, [c.Id], s_timeout));

        await c.DisposeAsync();
        await Wait.UntilAsync(() => !a.IsConnected(c.Id) && !b.IsConnected(c.Id));
        var gone = await a.Reach.AskAsync(c.Id, [b.Id], s_timeout);
        Assert.Equal(new ReachVerdict(1, 1, 0, 0), gone);
        Assert.True(gone.LostToAll);
        // A peer counted as connected whose connection is gone is no answer.
        Assert.False((await a.Reach.AskAsync(c.Id, [b.Id, NodeId.Parse("x@127.0.0.1:1")], s_timeout)).LostToAll);
        Assert.Equal(0, a.Reach.PendingCount);
    }

    [Fact]
    public async Task APeerWithoutTheCapability_IsNotAsked_And0x32FromItClosesTheConnection()
    {
        await using var cluster = await TestCluster.StartAsync(3, Secret, o => o.Name == "b" ? o with { Protocol = new ProtocolOffer(1, 2, Capabilities.TraceContext | Capabilities.LinkAck) } : o);
        var (a, b, c) = cluster;
        Assert.True(a.Connections.TryGetConnection(b.Id, out var toB));
        Assert.Equal(Capabilities.None, toB.Protocol.Capabilities & Capabilities.Reach);

        // b does not speak reach: only c is asked (and c reaches b).
        Assert.Equal(new ReachVerdict(0, 0, 0, 0), await a.Reach.AskAsync(c.Id, [b.Id], s_timeout));
        Assert.Equal(new ReachVerdict(1, 0, 1, 0), await a.Reach.AskAsync(b.Id, [c.Id], s_timeout));

        var events = NodeEvents.Watch(a);
        Assert.True(b.Connections.TryGetConnection(a.Id, out var toA));
        toA.TryEnqueue(new Reachability.ReachRequest(1, c.Id.ToString()));
        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        Assert.Equal((b.Id, NodeDownReason.ProtocolError), (events.Downs.First().Peer, events.Downs.First().Reason));
    }

    [Fact]
    public async Task OnMessage_MalformedOrReserved_IsAProtocolError()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret);
        var (a, b) = pair;
        Assert.True(a.Connections.TryGetConnection(b.Id, out var connection));
        IClusterService service = a.Reach;

        Assert.False(service.OnMessage(connection, [0x32, 1, 0, 0, 0, 0, 0, 0, 0]));            // no node
        Assert.False(service.OnMessage(connection, [0x32, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0x61, 0])); // a byte too many
        Assert.False(service.OnMessage(connection, [0x33, 1, 0, 0, 0, 0, 0, 0, 0, 2]));          // status 2
        Assert.False(service.OnMessage(connection, [0x33, 1, 0, 0, 0, 0, 0, 0, 0]));             // no status
        Assert.False(service.OnMessage(connection, [0x34, 0]));
        Assert.False(service.OnMessage(connection, [0x37]));
        // A reply nobody waits for is read and dropped.
        Assert.True(service.OnMessage(connection, [0x33, 9, 0, 0, 0, 0, 0, 0, 0, 1]));
    }
}
