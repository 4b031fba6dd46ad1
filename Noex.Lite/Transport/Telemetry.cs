using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Noex.Lite;

/// <summary>
/// Metrics through System.Diagnostics, which needs no package: listen with a MeterListener, dotnet-counters
/// (<c>dotnet-counters monitor --counters Noex.Lite</c>) or OpenTelemetry's AddMeter("Noex.Lite").
/// </summary>
/// <remarks>Instruments are created once; call sites check <c>Enabled</c> first so that an unobserved counter costs a branch.</remarks>
internal static class Telemetry
{
    /// <summary>The name of the meter.</summary>
    public const string Name = NoexDiagnostics.MeterName;

    public static readonly Meter Meter = new(Name, typeof(Telemetry).Assembly.GetName().Version?.ToString());

    public static readonly Counter<long> FramesSent = Meter.CreateCounter<long>("noex.transport.frames_sent", "{frame}", "Frames sent to peers.");

    public static readonly Counter<long> FramesReceived = Meter.CreateCounter<long>("noex.transport.frames_received", "{frame}", "Frames received and verified.");

    public static readonly Counter<long> BytesSent = Meter.CreateCounter<long>("noex.transport.bytes_sent", "By", "Bytes written to peer connections.");

    public static readonly Counter<long> BytesReceived = Meter.CreateCounter<long>("noex.transport.bytes_received", "By", "Bytes read from peer connections.");

    public static readonly Counter<long> Reconnects = Meter.CreateCounter<long>("noex.transport.reconnects", "{attempt}", "Dials to a known node after the first (reconnect attempts).");

    public static readonly Counter<long> HandshakeFailures = Meter.CreateCounter<long>("noex.transport.handshake_failures", "{handshake}", "Handshakes that failed, by failure.");

    public static readonly Counter<long> ConnectionsClosed = Meter.CreateCounter<long>("noex.transport.connections_closed", "{connection}", "Connections closed, by reason.");

    public static readonly Counter<long> MembersRefused = Meter.CreateCounter<long>("noex.membership.refused", "{node}", "Node ids from seeds or gossip that were not taken as members, by cause (cap, self).");

    public static readonly Counter<long> MembersRemoved = Meter.CreateCounter<long>("noex.membership.removed", "{node}", "Members removed, by reason (left, unreachable, forgotten, replaced).");

    public static readonly Counter<long> ClaimsRefused = Meter.CreateCounter<long>("noex.registry.claims_refused", "{claim}", "Global name claims refused, by cause (stamp).");

    public static readonly Counter<long> DiscoveryFailures = Meter.CreateCounter<long>("noex.membership.discovery_failures", "{poll}", "Seed provider polls that failed.");

    public static readonly Counter<long> Refused = Meter.CreateCounter<long>("noex.protocol.refused", "{input}",
        "Inputs refused from peers, by kind (frame, fragment, message, stamp, unknown_type, member_cap, handshake) and error.");

    public static readonly Counter<long> CastsSent = Meter.CreateCounter<long>("noex.remote.casts_sent", "{cast}", "Casts to processes on other nodes, queued for sending.");

    public static readonly Counter<long> DeadLetters = Meter.CreateCounter<long>("noex.remote.dead_letters", "{message}",
        "Casts that were not delivered (the node's DeadLetter events), by reason.");

    public static readonly Counter<long> ReaderTakeovers = Meter.CreateCounter<long>("noex.transport.reader_takeovers", "{takeover}",
        "Connections whose reading moved to a new thread because what a read set off held the read thread (user code that blocks).");

    public static readonly Counter<long> ReadAheadPauses = Meter.CreateCounter<long>("noex.transport.read_ahead_pauses", "{pause}",
        "Times a connection stopped reading until a local process it fed worked off its backlog (NodeOptions.ReadAheadLimit).");

    public static readonly Counter<double> ReadAheadPauseTime = Meter.CreateCounter<double>("noex.transport.read_ahead_pause_time", "s",
        "Time connections spent not reading while a local process they fed worked off its backlog.");

    private static readonly ConcurrentDictionary<Connection, byte> s_live = new();

    static Telemetry()
    {
        Meter.CreateObservableGauge("noex.transport.queue_bytes", QueueBytes, "By", "Bytes waiting in peer outbound queues.");
        Meter.CreateObservableGauge("noex.transport.connections", () => s_live.Count, "{connection}", "Live peer connections.");
    }

    public static void ConnectionStarted(Connection connection) => s_live.TryAdd(connection, 0);

    public static void ReadAheadPaused(Connection connection, TimeSpan paused)
    {
        var peer = new KeyValuePair<string, object?>("peer", connection.PeerText);
        if (ReadAheadPauses.Enabled)
        {
            ReadAheadPauses.Add(1, peer);
        }
        if (ReadAheadPauseTime.Enabled)
        {
            ReadAheadPauseTime.Add(paused.TotalSeconds, peer);
        }
    }

    public static void ReaderTakenOver(Connection connection)
    {
        if (ReaderTakeovers.Enabled)
        {
            ReaderTakeovers.Add(1, new KeyValuePair<string, object?>("peer", connection.PeerText));
        }
    }

    public static void ConnectionEnded(Connection connection, NodeDownReason reason)
    {
        if (!s_live.TryRemove(connection, out _))
        {
            return;
        }
        if (ConnectionsClosed.Enabled)
        {
            ConnectionsClosed.Add(1, new KeyValuePair<string, object?>("reason", reason.ToString()));
        }
        if (reason == NodeDownReason.ProtocolError && Refused.Enabled && connection.CloseCause is { } cause)
        {
            // What the peer sent that broke the protocol is an input refused, with its connection.
            var (kind, error) = ConnectionCause.Split(cause);
            Refuse(kind, error);
        }
    }

    public static void HandshakeFailed(HandshakeException failure)
    {
        if (HandshakeFailures.Enabled)
        {
            HandshakeFailures.Add(1, new KeyValuePair<string, object?>("failure", failure.Failure.ToString()));
        }
        if (!failure.ByPeer)
        {
            // This node refused the handshake (or gave up on it); one the peer refused is not an input refused here.
            Refuse("handshake", failure.Failure.ToString());
        }
    }

    /// <summary>Counts <paramref name="count"/> refused inputs of <paramref name="kind"/>: a branch when nobody listens.</summary>
    public static void Refuse(string kind, string error, long count = 1)
    {
        if (Refused.Enabled)
        {
            Refused.Add(count, new KeyValuePair<string, object?>("kind", kind), new KeyValuePair<string, object?>("error", error));
        }
    }

    public static void Count(Counter<long> counter, long count, string tag, string value)
    {
        if (counter.Enabled && count > 0)
        {
            counter.Add(count, new KeyValuePair<string, object?>(tag, value));
        }
    }

    private static long QueueBytes()
    {
        long total = 0;
        foreach (var connection in s_live.Keys)
        {
            total += connection.QueuedBytes;
        }
        return total;
    }
}
