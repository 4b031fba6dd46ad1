using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Noex.Lite.Tests;

/// <summary>Simultaneous dials, TLS, churn, and an authenticated peer that lies about a frame's length.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class ClusterEdgeTests
{
    private const string Secret = "edge-tests";

    /// <summary>Quicker redials than <see cref="TestNodes"/>' for the tests where nodes dial each other at once or come and go.</summary>
    private static NodeOptions QuickRedials(NodeOptions options) => options with
    {
        ReconnectBaseDelay = TimeSpan.FromMilliseconds(20),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(200),
    };

    [Fact]
    public async Task SimultaneousDials_BothSeedEachOther_OneConnectionAndOneNodeUpEach()
    {
        // Fixed ports so each can name the other as a seed before either starts.
        var (portA, portB) = (TestNodes.FreePort(), TestNodes.FreePort());
        var upsA = 0;
        var upsB = 0;
        var startA = Node.StartAsync(QuickRedials(TestNodes.Options("a", Secret, $"b@127.0.0.1:{portB}")) with { Port = portA });
        var startB = Node.StartAsync(QuickRedials(TestNodes.Options("b", Secret, $"a@127.0.0.1:{portA}")) with { Port = portB });
        await using var a = await startA;
        await using var b = await startB;
        a.NodeUp += _ => Interlocked.Increment(ref upsA);
        b.NodeUp += _ => Interlocked.Increment(ref upsB);

        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));

        Assert.Single(a.GetConnectedNodes());
        Assert.Single(b.GetConnectedNodes());
        Assert.True(Volatile.Read(ref upsA) <= 1 && Volatile.Read(ref upsB) <= 1);
    }

    [Fact]
    public async Task Tls_BothSidesWithCertificates_FormTheClusterInsideTls()
    {
        using var certificate = SelfSigned();
        var server = new SslServerAuthenticationOptions { ServerCertificate = certificate };
        var client = new SslClientAuthenticationOptions
        {
            TargetHost = "noex-test",
            // Pin the test's own certificate: the cluster's CA in real use.
            RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == certificate.GetCertHashString(),
        };
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret) with { TlsServerOptions = server, TlsClientOptions = client });
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()) with { TlsServerOptions = server, TlsClientOptions = client });
        await using var c = await Node.StartAsync(TestNodes.Options("c", Secret, a.Id.ToString()) with { TlsServerOptions = server, TlsClientOptions = client });

        await Wait.UntilAsync(() => b.IsConnected(c.Id) && a.IsConnected(b.Id) && a.IsConnected(c.Id));
    }

    [Fact]
    public async Task Tls_PlainPeerAtATlsNode_IsNotAdmitted()
    {
        using var certificate = SelfSigned();
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret) with
        {
            TlsServerOptions = new SslServerAuthenticationOptions { ServerCertificate = certificate },
            TlsClientOptions = new SslClientAuthenticationOptions { TargetHost = "noex-test" },
            HandshakeTimeout = TimeSpan.FromSeconds(2),
        });
        var ups = 0;
        a.NodeUp += _ => Interlocked.Increment(ref ups);
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()) with { HandshakeTimeout = TimeSpan.FromSeconds(2) });
        var failed = new TaskCompletionSource();
        b.HandshakeFailed += _ => failed.TrySetResult();

        await failed.Task.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(0, Volatile.Read(ref ups));
        Assert.False(b.IsConnected(a.Id));
    }

    [Fact]
    public async Task Churn_FiveNodesJoiningLeavingAndRestarting_SurvivorsAgreeOnMembership()
    {
        var nodes = new List<Node> { await Node.StartAsync(QuickRedials(TestNodes.Options("n0", Secret))) };
        var seed = nodes[0].Id.ToString();
        try
        {
            for (var i = 1; i < 5; i++)
            {
                nodes.Add(await Node.StartAsync(QuickRedials(TestNodes.Options($"n{i}", Secret, seed))));
            }
            await AllAgree(nodes);
            for (var round = 0; round < 3; round++)
            {
                // One leaves gracefully, one restarts on the same port, one new node joins.
                var leaving = nodes[1];
                nodes.Remove(leaving);
                await leaving.StopAsync();
                var restarting = nodes[2];
                await restarting.StopAsync();
                nodes[2] = await Node.StartAsync(QuickRedials(TestNodes.Options(restarting.Id.Name, Secret, seed)) with { Port = restarting.Id.Port });
                nodes.Add(await Node.StartAsync(QuickRedials(TestNodes.Options($"j{round}", Secret, seed))));
                await AllAgree(nodes);
            }
        }
        finally
        {
            foreach (var node in nodes)
            {
                await node.DisposeAsync();
            }
        }

        static Task AllAgree(List<Node> nodes) => Wait.UntilAsync(() => nodes.All(n =>
            n.GetConnectedNodes().Select(i => i.Id).Order().SequenceEqual(nodes.Where(o => o != n).Select(o => o.Id).Order())));
    }

    [Fact]
    public async Task AuthenticatedPeer_FourGigabyteLengthPrefix_ClosedAsProtocolErrorWithoutAllocating()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret));
        var events = NodeEvents.Watch(a);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync("127.0.0.1", a.ListenPort);
        var me = NodeId.Parse("rogue@127.0.0.1:1");
        var handshake = Handshake.Dial(new HandshakeSecret("edge-tests"), me, 1, a.Id, RandomNumberGenerator.GetBytes(32));
        await socket.SendAsync(handshake.CreateHello());
        await socket.SendAsync(handshake.OnChallenge(await ReceiveMessage(socket)));
        handshake.OnWelcome(await ReceiveMessage(socket));
        await Wait.UntilAsync(() => a.IsConnected(me));
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);

        // Authenticated, then a frame whose length prefix claims 4 GiB - 1 (protocol.md §3.4 step 2).
        await socket.SendAsync(new byte[] { 0xff, 0xff, 0xff, 0xff, 0x01, 0x01 });

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        Assert.Equal(NodeDownReason.ProtocolError, Assert.Single(events.Downs).Reason);
        Assert.True(GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore < 16 * 1024 * 1024, "the length was believed");
        var buffer = new byte[64];
        while (await socket.ReceiveAsync(buffer) > 0)
        {
            // The node closed the connection: reading ends.
        }
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()));
        await Wait.UntilAsync(() => a.IsConnected(b.Id));
    }

    [Fact]
    public async Task SlowSender_OneByteAtATime_ClosedAtTheHandshakeDeadline()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret) with { HandshakeTimeout = TimeSpan.FromSeconds(1) });
        var failures = new ConcurrentQueue<HandshakeException>();
        a.HandshakeFailed += failures.Enqueue;
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync("127.0.0.1", a.ListenPort);
        var hello = Handshake.Dial(new HandshakeSecret("edge-tests"), NodeId.Parse("slow@127.0.0.1:1"), 1, a.Id, new byte[32]).CreateHello();
        var closed = false;
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));

        // A slowloris: a valid HELLO, one byte every 100 ms (it would take ~9 s); the node must not wait for it.
        for (var i = 0; i < hello.Length && !closed; i++)
        {
            try
            {
                await socket.SendAsync(hello.AsMemory(i, 1));
                await Task.Delay(100, bound.Token);
                closed = socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0;
            }
            catch (SocketException)
            {
                closed = true;
            }
        }

        Assert.True(closed, "the node kept a slow sender's handshake open past its deadline");
        await Wait.UntilAsync(() => failures.Any(f => f.Failure == HandshakeFailure.Timeout));
    }

    [Fact]
    public async Task Listener_ManyHostileConnections_MemoryStaysFlat()
    {
        // A short deadline: garbage that happens to start with a small length waits for it.
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret) with { HandshakeTimeout = TimeSpan.FromSeconds(1) });
        var random = new Random(3);
        async Task BatchAsync()
        {
            for (var i = 0; i < 200; i++)
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync("127.0.0.1", a.ListenPort);
                var garbage = new byte[random.Next(2, 3000)];
                random.NextBytes(garbage);
                try
                {
                    await socket.SendAsync(garbage);
                    var buffer = new byte[64];
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0)
                    {
                    }
                }
                catch (SocketException)
                {
                }
            }
        }
        await BatchAsync(); // warm: pools, JIT, the accept path
        var before = GC.GetTotalMemory(forceFullCollection: true);

        await BatchAsync();
        await BatchAsync();

        var growth = GC.GetTotalMemory(forceFullCollection: true) - before;
        Assert.True(growth < 4 * 1024 * 1024, $"400 hostile connections left {growth:N0} bytes behind");
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()));
        await Wait.UntilAsync(() => a.IsConnected(b.Id));
    }

    private static async Task<byte[]> ReceiveMessage(Socket socket)
    {
        var header = new byte[2];
        await socket.ReceiveAsync(header);
        var body = new byte[BinaryPrimitives.ReadUInt16LittleEndian(header)];
        var read = 0;
        while (read < body.Length)
        {
            read += await socket.ReceiveAsync(body.AsMemory(read));
        }
        return [.. header, .. body];
    }

    internal static X509Certificate2 SelfSigned()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=noex-test", key, HashAlgorithmName.SHA256);
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        // Round-trip through PKCS#12 so the private key is usable by SslStream on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
    }
}
