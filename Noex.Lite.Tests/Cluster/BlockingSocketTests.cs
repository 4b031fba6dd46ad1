using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Noex.Lite.Tests;

/// <summary>
/// The transport's sockets stay in blocking mode (one asynchronous call would turn them non-blocking for good and route
/// every receive through the runtime's event loop, the cost <see cref="Connection"/> avoids), and the blocking connect
/// and handshake still meet their deadlines and a stop.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public sealed partial class BlockingSocketTests
{
    private const string Secret = "blocking-sockets";
    private const int GetFlags = 3;         // F_GETFL
    private const int NonBlocking = 0x800;  // O_NONBLOCK on Linux

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    private static partial int Fcntl(IntPtr fd, int command);

    private static bool IsBlocking(Connection connection)
    {
        var flags = Fcntl(connection.SocketHandle, GetFlags);
        Assert.True(flags >= 0, $"fcntl failed: {Marshal.GetLastPInvokeError()}");
        return (flags & NonBlocking) == 0;
    }

    [Fact]
    public async Task BothSidesSockets_StayBlocking_ThroughCallsCastsAndAStalledSend()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // O_NONBLOCK is read with Linux's fcntl; CI runs on Linux
        }
        await using var pair = await TestCluster.StartAsync(2, Secret, o => o with
        {
            HeartbeatInterval = TimeSpan.FromSeconds(5),
        }, proxied: true);
        var (a, b, proxyA, _) = pair;
        var echo = await a.Runtime.StartAsync(new Counter());
        for (var i = 0; i < 100; i++)
        {
            await b.Runtime.CallAsync(echo, "get");
        }
        // A stall: the proxy stops reading, the kernel's buffers fill, and the send finishes on a thread of its own.
        Assert.True(b.Connections.TryGetConnection(a.Id, out var fromB));
        proxyA.Paused = true;
        var pad = Value.Binary(new byte[64 * 1024]);
        var sent = 0;
        while (!fromB.SendBlocked)
        {
            Assert.True(sent < 2_000, "the send never stalled");
            Assert.True(await b.Runtime.CastAsync(echo, pad));
            sent++;
            if (sent % 8 == 0)
            {
                await Task.Yield();
            }
        }
        proxyA.Paused = false;
        Assert.Equal(sent, (await b.Runtime.CallAsync(echo, "get", TimeSpan.FromSeconds(60))).AsInt64());

        Assert.True(a.Connections.TryGetConnection(b.Id, out var fromA));
        Assert.True(IsBlocking(fromA), "a's socket turned non-blocking");
        Assert.True(IsBlocking(fromB), "b's socket turned non-blocking");
    }

    [Fact]
    public async Task AStop_EndsASendStalledOnAPeerThatDoesNotRead()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret, o => o with
        {
            HeartbeatInterval = TimeSpan.FromSeconds(5),
        }, proxied: true);
        var (a, b, proxyA, _) = pair;
        var sink = await a.Runtime.StartAsync(new Counter());
        Assert.True(b.Connections.TryGetConnection(a.Id, out var fromB));
        proxyA.Paused = true; // and it stays paused: nothing will ever drain b's kernel buffer
        var pad = Value.Binary(new byte[64 * 1024]);
        // Until the write loop stalls; a full queue refuses casts meanwhile (the loop then only waits for the stall).
        for (var sent = 0; !fromB.SendBlocked && b.Runtime.Cast(sink, pad); sent++)
        {
            Assert.True(sent < 2_000, "the send never stalled");
            if (sent % 8 == 7)
            {
                await Task.Yield();
            }
        }
        await Wait.UntilAsync(() => fromB.SendBlocked);

        // The goodbye cannot get through, so the stop gives up on the drain after its grace and closes the socket,
        // which ends the blocked send on its thread; nothing is left waiting.
        await b.StopAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(fromB.IsClosed);
        Assert.False(fromB.SendBlocked);
    }

    [Fact]
    public async Task AConnectionThatCloses_IsReleased_ItsDescriptorClosedAtOnce()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        Assert.True(a.Connections.TryGetConnection(b.Id, out var onA));
        Assert.True(b.Connections.TryGetConnection(a.Id, out var onB));
        Assert.False(onA.SocketClosed || onB.SocketClosed);

        proxyA.ResetAll();
        proxyB.ResetAll();
        // Both sides see the reset, and each releases its connection (not at the next GC): the descriptors are closed.
        await Wait.UntilAsync(() => onA.SocketClosed && onB.SocketClosed);
        // The nodes redial and carry on over new connections.
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));
        Assert.True(b.Connections.TryGetConnection(a.Id, out var again));
        Assert.NotSame(onB, again);
    }

    [Fact]
    public async Task DialToAPeerThatNeverAnswers_FailsAtTheHandshakeDeadline()
    {
        using var silent = Listen(out var port);
        var failures = new ConcurrentQueue<HandshakeException>();
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret, $"mute@127.0.0.1:{port}") with
        {
            HandshakeTimeout = TimeSpan.FromMilliseconds(500),
        });
        a.HandshakeFailed += failures.Enqueue;
        // The kernel completes the TCP handshake into the backlog; nobody ever reads, so only the deadline ends the dial.
        await Wait.UntilAsync(() => failures.Any(f => f.Failure == HandshakeFailure.Timeout));
    }

    [Fact]
    public async Task AStop_EndsADialBlockedInItsHandshake_WithoutWaitingForTheDeadline()
    {
        using var silent = Listen(out var port);
        var a = await Node.StartAsync(TestNodes.Options("a", Secret, $"mute@127.0.0.1:{port}") with
        {
            HandshakeTimeout = TimeSpan.FromMinutes(10),
        });
        // The dial has reached the silent listener: it is blocked reading the challenge.
        using var accepted = await silent.AcceptAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var buffer = new byte[1];
        Assert.Equal(1, await accepted.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(30)));

        await a.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromMinutes(2)); // far below the 10-minute deadline
        // And the dial's socket was closed: the silent side reads the end of the stream.
        using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var rest = new byte[4096];
        while (await accepted.ReceiveAsync(rest, SocketFlags.None, drain.Token) > 0)
        {
        }
    }

    [Fact]
    public async Task DialToAPortWithNoListener_IsRefusedAtOnce_AndNotRetriedOnADeadSocket()
    {
        int port;
        using (Listen(out port))
        {
        }
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret));
        var ghost = NodeId.Parse($"ghost@127.0.0.1:{port}");
        var error = await Assert.ThrowsAsync<NodeNotReachableException>(() => a.DialAsync(ghost));
        Assert.Contains("ConnectionRefused", error.Message, StringComparison.Ordinal);
        // A host name with two addresses (::1 and 127.0.0.1) gets a fresh socket for each; both are refused.
        error = await Assert.ThrowsAsync<NodeNotReachableException>(() => a.DialAsync(NodeId.Parse($"ghost@localhost:{port}")));
        Assert.Contains("ConnectionRefused", error.Message, StringComparison.Ordinal);
    }

    private static Socket Listen(out int port)
    {
        var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(16);
        port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        return listener;
    }

    /// <summary>Answers get with the number of casts it has seen.</summary>
    private sealed class Counter : GenServer<long>
    {
        protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) => new(0L);

        protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long state) =>
            new(CallResult<long>.WithReply(state, state));

        protected override ValueTask<long> HandleCastAsync(Value message, long state) => new(state + 1);
    }
}
