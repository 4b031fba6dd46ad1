using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

/// <summary>
/// protocol.md §4.6 between live nodes: a node of this build and one that speaks version 1 only (the build from before
/// negotiation, kept as a mode) connect whichever dials, call each other both ways and share names; two version 2 nodes
/// use the capabilities both offer; and a forged REJECT cannot downgrade two version 2 nodes to version 1.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public sealed class MixedVersionTests
{
    private const string Secret = "mixed-version-tests";

    /// <summary>Replies to any call with the request and the name of its node.</summary>
    private sealed class Echo : GenServer<string>
    {
        protected override ValueTask<string> InitAsync(Value args, CancellationToken cancellationToken) => new(args.AsString());

        protected override ValueTask<CallResult<string>> HandleCallAsync(Value request, CallFrom from, string state) =>
            new(CallResult<string>.WithReply(Value.Object(("echo", request), ("on", state)), state));
    }

    [Theory]
    [InlineData("a")] // the version 1 node is the seed: the newer one dials it, is refused, and falls back
    [InlineData("b")] // the version 1 node dials: its HELLO is version 1, and the newer node answers in kind
    public async Task Version1NodeAndNewerNode_ConnectAtVersion1_AndCallEachOtherBothWays(string old)
    {
        await using var pair = await TestCluster.StartAsync(2, Secret, o => o.Name == old ? o with { Protocol = ProtocolOffer.Version1 } : o);
        var (a, b) = pair;

        foreach (var (node, peer) in new[] { (a, b), (b, a) })
        {
            Assert.True(node.Connections.TryGetConnection(peer.Id, out var connection));
            Assert.Equal(new Negotiated(1, Capabilities.None), connection.Protocol);
        }
        var onA = await a.Runtime.StartAsync(new Echo(), "a");
        var onB = await b.Runtime.StartAsync(new Echo(), "b");
        Assert.Equal("b", (await a.Runtime.CallAsync(onB, "ping").Within())["on"].AsString());
        Assert.Equal("a", (await b.Runtime.CallAsync(onA, "pong").Within())["on"].AsString());
        a.GlobalRegistry.Register("mixed:leader", onA);
        await Wait.UntilAsync(() => b.GlobalRegistry.Whereis("mixed:leader") == onA);
    }

    [Fact]
    public async Task NewerNodeDialingAVersion1Node_IsRefusedOnceThenConnectsWithAFallbackHello()
    {
        await using var old = await Node.StartAsync(TestNodes.Options("old", Secret) with { Protocol = ProtocolOffer.Version1 });
        var refused = new ConcurrentQueue<HandshakeException>();
        old.HandshakeFailed += refused.Enqueue;
        await using var newer = await Node.StartAsync(TestNodes.Options("newer", Secret));

        await newer.DialAsync(old.Id).Within();

        // The version 1 node refused the newer HELLO (what a build from before negotiation does) and then took the
        // fallback one on a second connection: one refusal, one connection at version 1.
        Assert.Equal(HandshakeFailure.Version, Assert.Single(refused).Failure);
        Assert.True(newer.Connections.TryGetConnection(old.Id, out var connection));
        Assert.Equal(1, connection.Protocol.Version);
    }

    [Fact]
    public async Task TwoNewerNodes_UseVersion2AndOnlyTheCapabilitiesBothOffer()
    {
        // Bits stand in for capabilities not defined yet: the rule is the intersection, whatever the bits mean.
        await using var pair = await TestCluster.StartAsync(2, Secret, o => o with
        {
            Protocol = new ProtocolOffer(1, 2, o.Name == "a" ? (Capabilities)0b0111 : (Capabilities)(0b0110 | (1UL << 40))),
        });
        var (a, b) = pair;

        foreach (var (node, peer) in new[] { (a, b), (b, a) })
        {
            Assert.True(node.Connections.TryGetConnection(peer.Id, out var connection));
            Assert.Equal(new Negotiated(2, (Capabilities)0b0110), connection.Protocol);
        }
        var onB = await b.Runtime.StartAsync(new Echo(), "b");
        Assert.Equal("b", (await a.Runtime.CallAsync(onB, "ping").Within())["on"].AsString());
    }

    [Fact]
    public async Task ForgedRejectBetweenTwoNewerNodes_IsCaughtByTheDowngradeSentinel()
    {
        // A man in the middle answers the first HELLO with REJECT version, as a version 1 node would, then lets the
        // dialer's fallback through: the acceptor speaks version 2, sees the sentinel and refuses, so no version 1
        // connection is made behind the two nodes' backs.
        using var relay = new TcpListener(IPAddress.Loopback, 0);
        relay.Start();
        var relayPort = ((IPEndPoint)relay.LocalEndpoint).Port;
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret) with { AdvertisedPort = relayPort });
        var refused = new ConcurrentQueue<HandshakeException>();
        b.HandshakeFailed += refused.Enqueue;
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret));
        var forging = ForgeOneRejectThenRelayAsync(relay, b.ListenPort);

        var e = await Assert.ThrowsAsync<HandshakeException>(() => a.DialAsync(b.Id).Within());

        Assert.Equal(HandshakeFailure.Version, e.Failure);
        Assert.True(e.ByPeer);
        await Wait.UntilAsync(() => !refused.IsEmpty);
        Assert.Equal(HandshakeFailure.Version, Assert.Single(refused).Failure);
        Assert.Contains("downgrade", Assert.Single(refused).Message, StringComparison.Ordinal);
        Assert.False(a.Connections.TryGetConnection(b.Id, out _));
        relay.Stop();
        await forging.WaitAsync(Bounded.Wait).ContinueWith(_ => { }, TaskScheduler.Default);
    }

    /// <summary>Answers the first connection's HELLO with a forged REJECT version; relays the second to the node.</summary>
    private static async Task ForgeOneRejectThenRelayAsync(TcpListener relay, int nodePort)
    {
        using (var first = await relay.AcceptSocketAsync())
        {
            var hello = new byte[1026];
            await first.ReceiveAsync(hello, SocketFlags.None);
            await first.SendAsync(new byte[] { 0x02, 0x00, 0x05, 0x01 }, SocketFlags.None); // REJECT version
        }
        using var second = await relay.AcceptSocketAsync();
        using var node = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await node.ConnectAsync(IPAddress.Loopback, nodePort);
        await Task.WhenAny(PipeAsync(second, node), PipeAsync(node, second));
    }

    private static async Task PipeAsync(Socket from, Socket to)
    {
        var buffer = new byte[4096];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None);
            }
        }
        catch (SocketException)
        {
        }
        to.Shutdown(SocketShutdown.Send);
    }
}
