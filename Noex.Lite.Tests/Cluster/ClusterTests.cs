using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

/// <summary>Several nodes in one process on loopback: formation, gossip, failure detection, security at the door.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class ClusterTests
{
    private const string Secret = "cluster-secret";

    [Fact]
    public async Task StartAsync_ThreeNodesFromOneSeed_FormAFullMeshThroughGossip()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret));
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()));
        await using var c = await Node.StartAsync(TestNodes.Options("c", Secret, a.Id.ToString()));

        // b and c only know a; gossip must tell them of each other.
        await Wait.UntilAsync(() => b.IsConnected(c.Id) && c.IsConnected(b.Id) && a.IsConnected(b.Id) && a.IsConnected(c.Id));

        Assert.Equal(new[] { b.Id, c.Id }.Order(), a.GetConnectedNodes().Select(n => n.Id).Order());
        Assert.All(a.GetConnectedNodes(), n => Assert.NotEqual(0UL, n.Incarnation));
    }

    [Fact]
    public async Task NodeUp_Fires_OncePerPeer_WithItsInfo()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret));
        var ups = new ConcurrentQueue<NodeInfo>();
        a.NodeUp += ups.Enqueue;
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()));

        await Wait.UntilAsync(() => !ups.IsEmpty);

        var up = Assert.Single(ups);
        Assert.Equal(b.Id, up.Id);
        Assert.Equal(NodeStatus.Connected, up.Status);
        Assert.Equal(b.Incarnation, up.Incarnation);
    }

    [Fact]
    public async Task StopAsync_PeersSeeGracefulShutdownAtOnce()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret));
        await using var c = await Node.StartAsync(TestNodes.Options("c", Secret, a.Id.ToString()));
        var b = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()));
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && c.IsConnected(b.Id));
        var events = NodeEvents.Watch(a, c);

        await b.StopAsync();

        await Wait.UntilAsync(() => events.Downs.Count == 2);
        Assert.All(events.Downs, d => Assert.Equal((b.Id, NodeDownReason.GracefulShutdown), (d.Peer, d.Reason)));
        Assert.Null(a.GetNode(b.Id)); // it meant to leave: forgotten, not redialled
    }

    [Fact]
    public async Task StartAsync_WrongSecret_RejectedOnBothSidesWithNoNodeUp()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", "right"));
        var ups = 0;
        var failures = new ConcurrentQueue<(string Side, HandshakeException Error)>();
        a.NodeUp += _ => Interlocked.Increment(ref ups);
        a.HandshakeFailed += e => failures.Enqueue(("a", e));
        var options = TestNodes.Options("b", "wrong", a.Id.ToString());
        await using var b = await Node.StartAsync(options);
        b.NodeUp += _ => Interlocked.Increment(ref ups);
        b.HandshakeFailed += e => failures.Enqueue(("b", e));

        await Wait.UntilAsync(() => failures.Any(f => f.Side == "a") && failures.Any(f => f.Side == "b"));

        Assert.All(failures, f => Assert.Equal(HandshakeFailure.AuthFailed, f.Error.Failure));
        Assert.Contains(failures, f => f.Side == "b" && f.Error.ByPeer);
        Assert.Equal(0, Volatile.Read(ref ups));
        Assert.False(a.IsConnected(b.Id));
        Assert.Empty(a.GetConnectedNodes());
    }

    [Fact]
    public async Task StartAsync_SeedStartsLate_JoinsWhenItAppears()
    {
        // A port for the seed, free now, so that the seed can take it later.
        var port = TestNodes.FreePort();
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret, $"seed@127.0.0.1:{port}"));

        await using var seed = await Node.StartAsync(TestNodes.Options("seed", Secret) with { Port = port });

        await Wait.UntilAsync(() => b.IsConnected(seed.Id) && seed.IsConnected(b.Id));
    }

    [Fact]
    public async Task Restart_SameNameAndPort_IsReconnectedAsANewIncarnation()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret));
        var b1 = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()));
        await Wait.UntilAsync(() => a.IsConnected(b1.Id));
        var port = b1.Id.Port;
        var first = b1.Incarnation;
        await b1.StopAsync();
        await Wait.UntilAsync(() => !a.IsConnected(b1.Id));

        await using var b2 = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()) with { Port = port });

        await Wait.UntilAsync(() => a.IsConnected(b2.Id));
        Assert.Equal(b1.Id, b2.Id);
        Assert.NotEqual(first, a.GetNode(b2.Id)!.Incarnation);
    }

    [Fact]
    public async Task Listener_RandomBytesAndOversizedLengths_ClosedWhileLegitimatePeersStillJoin()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret));
        var random = new Random(42);
        for (var i = 0; i < 20; i++)
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", a.Id.Port);
            var garbage = new byte[random.Next(1, 2000)];
            random.NextBytes(garbage);
            if (i % 4 == 0)
            {
                garbage[0] = 0xff; // a length far above the 1 KiB handshake limit
                garbage[1] = 0xff;
            }
            var stream = client.GetStream();
            try
            {
                await stream.WriteAsync(garbage);
                // The node closes the connection: reading ends (0 bytes, or a reset) instead of hanging.
                var buffer = new byte[64];
                using var timeout = new CancellationTokenSource(Bounded.Wait);
                while (await stream.ReadAsync(buffer, timeout.Token) > 0)
                {
                }
            }
            catch (IOException)
            {
                // Reset by the node: also a close.
            }
        }

        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()));
        await Wait.UntilAsync(() => a.IsConnected(b.Id));
    }
}
