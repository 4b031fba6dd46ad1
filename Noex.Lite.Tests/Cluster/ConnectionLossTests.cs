using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

/// <summary>
/// Every way a connection can end, provoked for real, and what the node says about it: the reason, the incarnation that
/// was lost, the detail in words and the exception behind it, on <see cref="Node.NodeDown"/> and
/// <see cref="Node.ConnectionClosed"/>.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class ConnectionLossTests
{
    private const string Secret = "connection-loss-tests";

    [Fact]
    public async Task Goodbye_PeerSeesGracefulShutdown_TheStoppingNodeLocalShutdown()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);
        var closedOnB = new ConcurrentQueue<ConnectionClosedEvent>();
        b.ConnectionClosed += closedOnB.Enqueue;
        var (bId, bIncarnation) = (b.Id, b.Incarnation);

        await b.StopAsync();

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        var down = Assert.Single(events.Downs).Down;
        Assert.Equal((bId, bIncarnation, NodeDownReason.GracefulShutdown), (down.Node, down.Incarnation, down.Reason));
        Assert.Equal(("the peer said goodbye", "goodbye"), (down.Detail, down.Cause));
        Assert.Null(down.Error);
        var closed = Assert.Single(closedOnB);
        Assert.Equal((a.Id, a.Incarnation, NodeDownReason.LocalShutdown), (closed.Peer, closed.PeerIncarnation, closed.Reason));
        Assert.Equal(("this node is stopping", "stopping"), (closed.Detail, closed.Cause));
    }

    [Fact]
    public async Task EndOfStream_IsConnectionClosed()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret, proxied: true);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a, b);

        foreach (var proxy in cluster.Proxies)
        {
            proxy.CloseAll();
        }

        await Wait.UntilAsync(() => events.Downs.Any(d => d.Seer == a) && events.Downs.Any(d => d.Seer == b));
        // Each end reads the FIN; one that was writing at that moment may meet the reset of a write to a closed socket.
        Assert.Contains(events.Downs, d => d.Reason == NodeDownReason.ConnectionClosed);
        Assert.All(events.Downs, d => Assert.Equal(
            d.Reason == NodeDownReason.ConnectionClosed ? "the peer closed the connection" : d.Down.Error!.Message, d.Down.Detail));
    }

    [Fact]
    public async Task Reset_IsConnectionReset_WithTheSocketError()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret, proxied: true);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a, b);

        foreach (var proxy in cluster.Proxies)
        {
            proxy.ResetAll();
        }

        await Wait.UntilAsync(() => events.Downs.Any(d => d.Seer == a) && events.Downs.Any(d => d.Seer == b));
        Assert.Contains(events.Downs, d => d.Reason == NodeDownReason.ConnectionReset);
        Assert.All(events.Downs.Where(d => d.Reason == NodeDownReason.ConnectionReset), d =>
        {
            Assert.IsAssignableFrom<SocketException>(d.Down.Error);
            Assert.Equal(d.Down.Error!.Message, d.Down.Detail);
        });
    }

    [Fact]
    public async Task Silence_IsHeartbeatTimeout_SayingHowLongAndTheLimit()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret, proxied: true);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);

        foreach (var proxy in cluster.Proxies)
        {
            proxy.Blackhole = true;
        }

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        var down = Assert.Single(events.Downs).Down;
        Assert.Equal((b.Id, NodeDownReason.HeartbeatTimeout), (down.Node, down.Reason));
        Assert.Matches(@"^nothing arrived for \d+ ms \(the limit is 3 heartbeats of 1000 ms\)$", down.Detail);
        Assert.Equal("silence", down.Cause);
        Assert.Null(down.Error);
    }

    [Fact]
    public async Task CorruptedFrame_IsProtocolError_NamingTheTagThatFailed()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret, proxied: true);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);

        // The next bytes to a (a heartbeat at the latest) arrive with a flipped bit in their tag.
        cluster.Proxies[0].CorruptNextToTarget();

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        var down = Assert.Single(events.Downs).Down;
        Assert.Equal((b.Id, NodeDownReason.ProtocolError), (down.Node, down.Reason));
        Assert.IsType<FrameException>(down.Error);
        Assert.Contains("HMAC-SHA256 tag", down.Detail, StringComparison.Ordinal);
        Assert.Equal("frame:BadTag", down.Cause);
    }

    [Fact]
    public async Task MalformedMessage_IsProtocolError_NamingTheTypeAndThePeer()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);
        Assert.True(b.Connections.TryGetConnection(a.Id, out var toA));

        // A call (type 0x10) of 3 bytes, where its header alone is 21: a well-framed, authenticated message that is not one.
        toA.TryEnqueue(new RawMessage([0x10, 0x01, 0x02]));

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        var down = Assert.Single(events.Downs).Down;
        Assert.Equal((b.Id, NodeDownReason.ProtocolError), (down.Node, down.Reason));
        Assert.Equal($"Malformed message of type 0x10 (3 bytes) from {b.Id}", down.Detail);
        Assert.Equal("message:0x10", down.Cause);
        Assert.IsType<NoexException>(down.Error);
    }

    [Fact]
    public async Task GoodbyeWithTrailingBytes_IsAProtocolError_NotALeave()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);
        var removed = new System.Collections.Concurrent.ConcurrentQueue<NodeRemovedEvent>();
        a.NodeRemoved += removed.Enqueue;
        Assert.True(b.Connections.TryGetConnection(a.Id, out var toA));

        toA.TryEnqueue(new RawMessage([0x02, 0x00]));

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        var down = events.Downs.First().Down;
        Assert.Equal((b.Id, NodeDownReason.ProtocolError), (down.Node, down.Reason));
        Assert.Equal($"Malformed goodbye from {b.Id}: 1 bytes follow it", down.Detail);
        Assert.Equal("message:0x02", down.Cause);
        // Not a leave: b is still a member, redialled, and back.
        await Wait.UntilAsync(() => a.IsConnected(b.Id));
        Assert.Empty(removed);
    }

    [Fact]
    public async Task NewIncarnation_IsRestarted_NamingBothIncarnations()
    {
        await using var cluster = await TestCluster.StartAsync(["a", "x"], Secret);
        var (a, x1) = cluster;
        var events = NodeEvents.Watch(a);

        // x2 takes x1's identity (same name, advertising x1's port), as x restarted would.
        await using var x2 = await Node.StartAsync(TestNodes.Options("x", Secret, a.Id.ToString()) with { AdvertisedPort = x1.ListenPort });

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        var down = events.Downs.First().Down;
        Assert.Equal((x1.Id, x1.Incarnation, NodeDownReason.Restarted), (down.Node, down.Incarnation, down.Reason));
        Assert.Equal($"incarnation {x2.Incarnation} of {x1.Id} connected, so incarnation {x1.Incarnation} is gone", down.Detail);
        Assert.Equal("new_incarnation", down.Cause);
        Assert.Null(down.Error);
    }
}
