using System.Collections.Concurrent;
using System.Diagnostics.Tracing;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

/// <summary>
/// Every way a connection ends, and every handshake that fails, provoked for real: its cause (the token of
/// <see cref="ConnectionCause"/>, the detail, the exception) reaches the public event, the log (a real
/// <see cref="EventListener"/>) with the same fields at the level the reason deserves, and, for an input the node
/// refused, the <c>noex.protocol.refused</c> counter by kind and error.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class ConnectionCauseTests
{
    private const string Secret = "connection-cause-tests";
    private const int ProtocolErrorEvent = 13;
    private const int ConnectionLostEvent = 12;
    private const int ConnectionClosedEvent = 11;

    [Fact]
    public async Task CorruptedFrame_CauseIsTheFrameError_InTheEventTheLogAndTheRefusedCount()
    {
        using var log = new LogRecorder();
        using var metrics = new MetricRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret, proxied: true);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);

        cluster.Proxies[0].CorruptNextToTarget();

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        var down = events.Downs.First().Down;
        Assert.Equal((NodeDownReason.ProtocolError, "frame:BadTag"), (down.Reason, down.Cause));
        AssertLogged(log, a, down, ProtocolErrorEvent, EventLevel.Error);
        Assert.True(metrics.Sum("noex.protocol.refused", ("kind", "frame"), ("error", "BadTag")) >= 1);
    }

    /// <summary>Raw messages an authenticated peer might send that break the protocol, each with the cause it must
    /// produce: a call of 3 bytes where its header alone is 21, and a fragment shorter than its own 9-byte header.</summary>
    [Theory]
    [InlineData(new byte[] { 0x10, 0x01, 0x02 }, "message", "0x10")]
    [InlineData(new byte[] { 0x03, 0x01, 0x02 }, "fragment", "Truncated")]
    public async Task MalformedMessageOrFragment_CauseNamesItsRule_InTheEventTheLogAndTheRefusedCount(byte[] raw, string kind, string error)
    {
        using var log = new LogRecorder();
        using var metrics = new MetricRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);
        Assert.True(b.Connections.TryGetConnection(a.Id, out var toA));

        toA.TryEnqueue(new RawMessage(raw));

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        var down = events.Downs.First().Down;
        Assert.Equal((NodeDownReason.ProtocolError, $"{kind}:{error}"), (down.Reason, down.Cause));
        AssertLogged(log, a, down, ProtocolErrorEvent, EventLevel.Error);
        Assert.Equal(1, metrics.Sum("noex.protocol.refused", ("kind", kind), ("error", error)));
    }

    [Fact]
    public async Task Silence_CauseIsSilence_InTheEventAndTheLogAsALoss()
    {
        using var log = new LogRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret, proxied: true);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);

        foreach (var proxy in cluster.Proxies)
        {
            proxy.Blackhole = true;
        }

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        var down = events.Downs.First().Down;
        Assert.Equal((NodeDownReason.HeartbeatTimeout, "silence"), (down.Reason, down.Cause));
        AssertLogged(log, a, down, ConnectionLostEvent, EventLevel.Warning);
        // The member-down says it too, with the reason and the detail.
        var memberDown = Assert.Single(log.Of(a, 2), e => e["peer"] == b.Id.ToString());
        Assert.Equal(("HeartbeatTimeout", down.Detail), (memberDown["reason"], memberDown["detail"]));
    }

    [Fact]
    public async Task EndOfStreamOrReset_CauseIsEndOfStreamOrTheSocketError_InTheEventAndTheLogAsALoss()
    {
        using var log = new LogRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret, proxied: true);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a, b);

        foreach (var proxy in cluster.Proxies)
        {
            proxy.CloseAll();
        }

        await Wait.UntilAsync(() => events.Downs.Any(d => d.Seer == a) && events.Downs.Any(d => d.Seer == b));
        Assert.Contains(events.Downs, d => d.Down.Cause == "end_of_stream");
        foreach (var seen in events.Downs)
        {
            // Each end reads the FIN; one that was writing at that moment may meet the reset of a write to a closed socket.
            Assert.Equal(seen.Reason == NodeDownReason.ConnectionClosed ? "end_of_stream" : SocketCause(seen.Down.Error), seen.Down.Cause);
            AssertLogged(log, seen.Seer, seen.Down, ConnectionLostEvent, EventLevel.Warning);
        }
    }

    [Fact]
    public async Task Reset_CauseNamesTheSocketError_InTheEventAndTheLogAsALoss()
    {
        using var log = new LogRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret, proxied: true);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a, b);

        foreach (var proxy in cluster.Proxies)
        {
            proxy.ResetAll();
        }

        await Wait.UntilAsync(() => events.Downs.Any(d => d.Seer == a) && events.Downs.Any(d => d.Seer == b));
        Assert.Contains(events.Downs, d => d.Reason == NodeDownReason.ConnectionReset);
        foreach (var reset in events.Downs.Where(d => d.Reason == NodeDownReason.ConnectionReset))
        {
            Assert.Equal(SocketCause(reset.Down.Error), reset.Down.Cause);
            AssertLogged(log, reset.Seer, reset.Down, ConnectionLostEvent, EventLevel.Warning);
        }
    }

    [Fact]
    public async Task Goodbye_CauseIsGoodbye_AndTheStoppingNodesOwnCloseIsStopping_BothLoggedAsClosed()
    {
        using var log = new LogRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);
        var closedOnB = new ConcurrentQueue<ConnectionClosedEvent>();
        b.ConnectionClosed += closedOnB.Enqueue;

        await b.StopAsync();

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        var down = events.Downs.First().Down;
        Assert.Equal((NodeDownReason.GracefulShutdown, "goodbye"), (down.Reason, down.Cause));
        AssertLogged(log, a, down, ConnectionClosedEvent, EventLevel.Informational);
        var closed = Assert.Single(closedOnB);
        Assert.Equal((NodeDownReason.LocalShutdown, "stopping"), (closed.Reason, closed.Cause));
        var written = Assert.Single(log.Of(b, ConnectionClosedEvent), e => e["peer"] == a.Id.ToString());
        Assert.Equal(("LocalShutdown", "stopping", closed.Detail), (written["reason"], written["cause"], written["detail"]));
    }

    [Fact]
    public async Task NewIncarnation_CauseIsNewIncarnation_LoggedAsClosed()
    {
        using var log = new LogRecorder();
        await using var cluster = await TestCluster.StartAsync(["a", "x"], Secret);
        var (a, x1) = cluster;
        var events = NodeEvents.Watch(a);

        await using var x2 = await Node.StartAsync(TestNodes.Options("x", Secret, a.Id.ToString()) with { AdvertisedPort = x1.ListenPort });

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        var down = events.Downs.First().Down;
        Assert.Equal((NodeDownReason.Restarted, "new_incarnation"), (down.Reason, down.Cause));
        AssertLogged(log, a, down, ConnectionClosedEvent, EventLevel.Informational);
    }

    [Fact]
    public async Task WrongSecret_EachSideRaisesAndLogsItsHandshakeFailure_TheRefusingSideCountsIt()
    {
        using var log = new LogRecorder();
        using var metrics = new MetricRecorder();
        await using var cluster = await TestCluster.StartAsync(1, Secret);
        var a = cluster[0];
        var failures = new ConcurrentQueue<(Node Seer, HandshakeException Error)>();
        a.HandshakeFailed += e => failures.Enqueue((a, e));

        await using var stranger = await Node.StartAsync(TestNodes.Options("stranger", "another-secret", a.Id.ToString()));
        stranger.HandshakeFailed += e => failures.Enqueue((stranger, e));

        // The acceptor finds the dialer's proof wrong and refuses; the dialer hears the refusal.
        await Wait.UntilAsync(() => failures.Any(f => f.Seer == a) && failures.Any(f => f.Seer == stranger));
        var refused = failures.First(f => f.Seer == a).Error;
        Assert.Equal((HandshakeFailure.AuthFailed, false), (refused.Failure, refused.ByPeer));
        var heard = failures.First(f => f.Seer == stranger).Error;
        Assert.Equal((HandshakeFailure.AuthFailed, true, a.Id), (heard.Failure, heard.ByPeer, heard.Peer));
        foreach (var (seer, error) in new[] { (a, refused), (stranger, heard) })
        {
            var written = log.Of(seer, 14).First(e => e["message"] == error.Message);
            Assert.Equal(EventLevel.Warning, written.Level);
            Assert.Equal(error.Failure.ToString(), written["failure"]);
            Assert.Equal(error.ByPeer, written.Fields["byPeer"]);
            Assert.Equal(error.Peer?.ToString() ?? error.RemoteEndPoint!.ToString(), written["peer"]);
        }
        Assert.True(metrics.Sum("noex.protocol.refused", ("kind", "handshake"), ("error", "AuthFailed")) >= 1);
        Assert.True(metrics.Sum("noex.transport.handshake_failures", ("failure", "AuthFailed")) >= 2);
    }

    [Fact]
    public async Task ConnectionOverThePendingHandshakeBound_IsRefusedAsBusy_RaisedLoggedAndCounted()
    {
        using var log = new LogRecorder();
        using var metrics = new MetricRecorder();
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret) with { MaxPendingHandshakes = 1, HandshakeTimeout = TimeSpan.FromSeconds(20) });
        var failures = new ConcurrentQueue<HandshakeException>();
        a.HandshakeFailed += failures.Enqueue;
        using var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var refused = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        // The first connection says nothing and holds the only handshake slot (the accept loop takes it before it accepts
        // the next connection); the second is refused at once.
        await holder.ConnectAsync("127.0.0.1", a.ListenPort);
        await refused.ConnectAsync("127.0.0.1", a.ListenPort);

        await Wait.UntilAsync(() => !failures.IsEmpty);
        var busy = Assert.Single(failures);
        Assert.Equal((HandshakeFailure.Busy, false, null), (busy.Failure, busy.ByPeer, busy.Peer));
        Assert.Equal(refused.LocalEndPoint!.ToString(), busy.RemoteEndPoint!.ToString());
        var written = Assert.Single(log.Of(a, 14));
        Assert.Equal(("Busy", refused.LocalEndPoint.ToString(), busy.Message), (written["failure"], written["peer"], written["message"]));
        Assert.Equal(1, metrics.Sum("noex.protocol.refused", ("kind", "handshake"), ("error", "Busy")));
    }

    [Fact]
    public async Task UnknownMessageType_IsDroppedCountedAndLoggedAtVerbose_TheLinkStaysUp()
    {
        using var log = new LogRecorder();
        using var metrics = new MetricRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var events = NodeEvents.Watch(a);
        Assert.True(b.Connections.TryGetConnection(a.Id, out var toA));

        toA.TryEnqueue(new RawMessage([0x38, 1, 2, 3]));

        await Wait.UntilAsync(() => log.Of(a, 15).Count > 0);
        var dropped = Assert.Single(log.Of(a, 15));
        Assert.Equal(EventLevel.Verbose, dropped.Level);
        Assert.Equal((b.Id.ToString(), "0x38", 4), (dropped["peer"], dropped["messageType"], dropped.Fields["length"]));
        Assert.Equal(1, metrics.Sum("noex.protocol.refused", ("kind", "unknown_type"), ("error", "0x38")));
        Assert.Empty(events.Downs);
        Assert.True(a.IsConnected(b.Id));
    }

    /// <summary>The cause a socket error gives: its code, from the exception or the one inside it.</summary>
    private static string SocketCause(Exception? error) => error switch
    {
        SocketException e => $"socket:{e.SocketErrorCode}",
        IOException { InnerException: SocketException e } => $"socket:{e.SocketErrorCode}",
        _ => $"no socket error in {error}",
    };

    /// <summary>
    /// The log holds one event <paramref name="id"/> at <paramref name="level"/> from <paramref name="seer"/> about the
    /// connection <paramref name="down"/> reports, with the same incarnation, reason, cause and detail.
    /// </summary>
    private static void AssertLogged(LogRecorder log, Node seer, NodeDownEvent down, int id, EventLevel level)
    {
        var written = Assert.Single(log.Of(seer, id), e => e["peer"] == down.Node.ToString() && e["cause"] == down.Cause);
        Assert.Equal(level, written.Level);
        Assert.Equal(down.Incarnation, written.Fields["peerIncarnation"]);
        Assert.Equal(down.Detail, written["detail"]);
        if (id != ProtocolErrorEvent)
        {
            Assert.Equal(down.Reason.ToString(), written["reason"]);
        }
        // Nothing is said twice: no other close event about that connection.
        Assert.DoesNotContain(log.Of(seer).Where(e => e.Id is ProtocolErrorEvent or ConnectionLostEvent or ConnectionClosedEvent && e != written),
            e => e["peer"] == down.Node.ToString() && (ulong)e.Fields["peerIncarnation"]! == down.Incarnation && e["cause"] == down.Cause);
    }
}
