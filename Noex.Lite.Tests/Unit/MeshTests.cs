using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

/// <summary>The mesh's bookkeeping of sessions, driven through its transport callbacks with connections that never touch the network.</summary>
[Trait("Category", Category.Unit)]
public class MeshTests
{
    [Fact]
    public async Task ConnectionUp_ReplacingASessionWhoseCloseIsNotReportedYet_ReportsTheDownBeforeTheUp()
    {
        var options = TestNodes.Options("a", "mesh-tests");
        var peer = NodeId.Parse("b@127.0.0.1:1");
        var runtime = new ProcessRuntime();
        var mesh = new Mesh(options, NodeId.Parse("a@127.0.0.1:2"), Transport.Listen(options), runtime);
        var events = new ConcurrentQueue<string>();
        mesh.NodeUp += info => events.Enqueue($"up {info.Incarnation}");
        mesh.NodeDown += down => events.Enqueue($"down {down.Reason}");
        ITransportEvents transport = mesh;
        var first = Unconnected(peer, options);
        var second = Unconnected(peer, options);

        transport.OnConnectionUp(first, null);
        // The first connection ends, and its own report is still on its way (a connection that never started does not
        // report: here, the test reports it later) when the peer's next connection is adopted.
        first.Close(NodeDownReason.ConnectionReset);
        transport.OnConnectionUp(second, null);
        transport.OnClosed(first);

        Assert.Equal(["up 7", "down ConnectionReset", "up 7"], events);
        Assert.True(mesh.GetNode(peer) is { Status: NodeStatus.Connected });
        await mesh.StopAsync(new CancellationToken(canceled: true));
        await runtime.DisposeAsync();
    }

    [Fact]
    public async Task Closed_ConnectionThatWasNeverTheSession_RaisesNothing()
    {
        var options = TestNodes.Options("a", "mesh-tests");
        var peer = NodeId.Parse("b@127.0.0.1:1");
        var runtime = new ProcessRuntime();
        var mesh = new Mesh(options, NodeId.Parse("a@127.0.0.1:2"), Transport.Listen(options), runtime);
        var events = new ConcurrentQueue<string>();
        mesh.NodeUp += info => events.Enqueue($"up {info.Incarnation}");
        mesh.NodeDown += down => events.Enqueue($"down {down.Reason}");
        ITransportEvents transport = mesh;
        var session = Unconnected(peer, options);
        var other = Unconnected(peer, options);

        transport.OnConnectionUp(session, null);
        other.Close(NodeDownReason.ConnectionClosed);
        transport.OnClosed(other);

        Assert.Equal(["up 7"], events);
        await mesh.StopAsync(new CancellationToken(canceled: true));
        await runtime.DisposeAsync();
    }

    /// <summary>A connection to <paramref name="peer"/> (incarnation 7) over a socket that is never connected.</summary>
    internal static Connection Unconnected(NodeId peer, NodeOptions? options = null) =>
        new(new Socket(SocketType.Stream, ProtocolType.Tcp), null, peer, 7, new SessionKeys(new byte[32], new byte[32]), options ?? NodeOptions.Default, new Ignore());

    private sealed class Ignore : IConnectionHandler
    {
        public void OnMessage(Connection connection, ReadOnlySpan<byte> message)
        {
        }

        public void OnClosed(Connection connection)
        {
        }
    }
}
