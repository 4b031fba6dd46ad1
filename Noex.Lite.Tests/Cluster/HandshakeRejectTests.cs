namespace Noex.Lite.Tests;

/// <summary>The dialer's side of protocol.md §4.3 against a raw acceptor: what it refuses, it refuses with a REJECT.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class HandshakeRejectTests
{
    private const string Secret = "handshake-reject-tests";

    [Fact]
    public async Task ChallengeFromAnotherNode_IsRefusedWithARejectWrongNode()
    {
        // An acceptor at a seed's address that answers as another node (y for x): the dialer must say why it leaves.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret));
        var dial = a.DialAsync(NodeId.Parse($"x@127.0.0.1:{port}"));
        using var socket = await listener.AcceptSocketAsync().Within();
        var buffer = new byte[2048];
        var read = 0;
        while (read < 2 || read < 2 + buffer[0] + (buffer[1] << 8))
        {
            read += await socket.ReceiveAsync(buffer.AsMemory(read), System.Net.Sockets.SocketFlags.None).AsTask().Within();
        }
        var secret = new HandshakeSecret(Secret);
        var y = NodeId.Parse($"y@127.0.0.1:{port}");
        var other = Handshake.Accept(secret, y, 1, new byte[Handshake.NonceLength]);
        var challenge = other.OnHello(Handshake.Dial(secret, a.Id, a.Incarnation, y, new byte[Handshake.NonceLength]).CreateHello());
        await socket.SendAsync(challenge, System.Net.Sockets.SocketFlags.None);

        var e = await Assert.ThrowsAsync<HandshakeException>(() => dial.Within());
        Assert.Equal(HandshakeFailure.WrongNode, e.Failure);
        var reject = new byte[4];
        var got = 0;
        while (got < 4)
        {
            var n = await socket.ReceiveAsync(reject.AsMemory(got), System.Net.Sockets.SocketFlags.None).AsTask().Within();
            Assert.NotEqual(0, n);
            got += n;
        }
        Assert.Equal(new byte[] { 0x02, 0x00, 0x05, 0x02 }, reject); // length 2, REJECT, wrong_node
    }
}
