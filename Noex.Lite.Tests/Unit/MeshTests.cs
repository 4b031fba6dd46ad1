using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

/// <summary>The mesh's bookkeeping of sessions, driven through its transport callbacks with connections that never touch the network.</summary>
[Trait("Category", Category.Unit)]
public sealed class MeshTests : IAsyncDisposable
{
    private static readonly NodeOptions s_options = TestNodes.Options("a", "mesh-tests");
    private static readonly NodeId s_peer = NodeId.Parse("b@127.0.0.1:1");
    private readonly ProcessRuntime _runtime = new();
    private readonly Mesh _mesh;
    private readonly ConcurrentQueue<string> _events = new();

    public MeshTests()
    {
        _mesh = new Mesh(s_options, NodeId.Parse("a@127.0.0.1:2"), Transport.Listen(s_options), _runtime);
        _mesh.NodeUp += info => _events.Enqueue($"up {info.Incarnation}");
        _mesh.NodeDown += down => _events.Enqueue($"down {down.Reason}");
    }

    /// <summary>The mesh as its transport sees it.</summary>
    private ITransportEvents Events => _mesh;

    [Fact]
    public void ConnectionUp_ReplacingASessionWhoseCloseIsNotReportedYet_ReportsTheDownBeforeTheUp()
    {
        var first = Unconnected(s_peer, s_options);
        var second = Unconnected(s_peer, s_options);

        Events.OnConnectionUp(first, null);
        // The first connection ends, and its own report is still on its way (a connection that never started does not
        // report: here, the test reports it later) when the peer's next connection is adopted.
        first.Close(NodeDownReason.ConnectionReset);
        Events.OnConnectionUp(second, null);
        Events.OnClosed(first);

        Assert.Equal(["up 7", "down ConnectionReset", "up 7"], _events);
        Assert.True(_mesh.GetNode(s_peer) is { Status: NodeStatus.Connected });
    }

    [Fact]
    public void Closed_ConnectionThatWasNeverTheSession_RaisesNothing()
    {
        var session = Unconnected(s_peer, s_options);
        var other = Unconnected(s_peer, s_options);

        Events.OnConnectionUp(session, null);
        other.Close(NodeDownReason.ConnectionClosed);
        Events.OnClosed(other);

        Assert.Equal(["up 7"], _events);
    }

    public async ValueTask DisposeAsync()
    {
        await _mesh.DisposeAsync();
        await _runtime.DisposeAsync();
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
