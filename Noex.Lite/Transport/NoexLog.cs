using System.Diagnostics.Tracing;

namespace Noex.Lite;

/// <summary>
/// What a log of the node would say, as an <see cref="EventSource"/> named <c>Noex.Lite</c> (no logging package): see it
/// with <c>dotnet-trace collect --providers Noex.Lite</c> or an <see cref="EventListener"/>. Events carry ids as text so
/// that a listener needs none of the library's types, and every one names the node that wrote it (one process may run
/// several). README.md, "Observability", lists the events with their levels and fields.
/// </summary>
/// <remarks>
/// Nothing is written, formatted or allocated unless a listener asked for the event's level: every method returns at once
/// when nobody listens (the overloads with more than three arguments would otherwise build an array on every call), and
/// the typed helpers (<see cref="NonEventAttribute"/>) check the level before they build a single string, so a call
/// site costs a branch. Event ids are never reused or renumbered: a listener may filter on them.
/// </remarks>
[EventSource(Name = NoexDiagnostics.EventSourceName)]
internal sealed class NoexLog : EventSource
{
    public static readonly NoexLog Log = new();

    private NoexLog()
    {
    }

    /// <summary>A node became a member, or came back.</summary>
    [Event(1, Level = EventLevel.Informational, Message = "{0}: node {1} is up")]
    public void MemberUp(string node, string peer)
    {
        if (IsEnabled())
        {
            WriteEvent(1, node, peer);
        }
    }

    /// <summary>A member was lost (node down).</summary>
    [Event(2, Level = EventLevel.Warning, Message = "{0}: node {1} is down ({2}): {3}")]
    public void MemberDown(string node, string peer, string reason, string detail)
    {
        if (IsEnabled())
        {
            WriteEvent(2, node, peer, reason, detail);
        }
    }

    /// <summary>A member was removed.</summary>
    [Event(3, Level = EventLevel.Informational, Message = "{0}: node {1} was removed ({2})")]
    public void MemberRemoved(string node, string peer, string reason)
    {
        if (IsEnabled())
        {
            WriteEvent(3, node, peer, reason);
        }
    }

    /// <summary>Ids from gossip or seeds were refused (the cap, or this node's own).</summary>
    [Event(4, Level = EventLevel.Warning, Message = "{0}: refused {2} node ids from {1}: {3}")]
    public void MembersRefused(string node, string source, int count, string cause)
    {
        if (IsEnabled())
        {
            WriteEvent(4, node, source, count, cause);
        }
    }

    /// <summary>A seed provider failed.</summary>
    [Event(5, Level = EventLevel.Warning, Message = "{0}: seed provider {1} failed: {2}")]
    public void DiscoveryFailed(string node, string provider, string error)
    {
        if (IsEnabled())
        {
            WriteEvent(5, node, provider, error);
        }
    }

    /// <summary>A node is starting: its listener is bound, and it is about to accept and dial its seeds.</summary>
    [Event(6, Level = EventLevel.Informational, Message = "{0}: starting, listening on {1}, {2} seeds")]
    public void NodeStarting(string node, string endpoint, int seeds)
    {
        if (IsEnabled())
        {
            WriteEvent(6, node, endpoint, seeds);
        }
    }

    /// <summary>A node is running: it accepts connections and dials its seeds.</summary>
    [Event(7, Level = EventLevel.Informational, Message = "{0}: running, incarnation {1}, protocol versions {2} to {3}")]
    public void NodeStarted(string node, ulong incarnation, int protocolMin, int protocolMax)
    {
        if (IsEnabled())
        {
            WriteEvent(7, node, incarnation, protocolMin, protocolMax);
        }
    }

    /// <summary>A node is stopping: it tells its peers goodbye and sends what is queued.</summary>
    [Event(8, Level = EventLevel.Informational, Message = "{0}: stopping, {1} connections to close")]
    public void NodeStopping(string node, int connections)
    {
        if (IsEnabled())
        {
            WriteEvent(8, node, connections);
        }
    }

    /// <summary>A node has stopped: its connections, listener and processes are gone.</summary>
    [Event(9, Level = EventLevel.Informational, Message = "{0}: stopped after {1} ms")]
    public void NodeStopped(string node, long uptimeMs)
    {
        if (IsEnabled())
        {
            WriteEvent(9, node, uptimeMs);
        }
    }

    /// <summary>A connection passed its handshake and is up (the member-up, event 1, follows when it is the node's session).</summary>
    [Event(10, Level = EventLevel.Informational, Message = "{0}: connected to {1} (incarnation {2}, protocol version {3}, {4})")]
    public void ConnectionUp(string node, string peer, ulong peerIncarnation, int protocolVersion, string direction)
    {
        if (IsEnabled())
        {
            WriteEvent(10, node, peer, peerIncarnation, protocolVersion, direction);
        }
    }

    /// <summary>A connection ended as it should: the peer said goodbye, this node is stopping, or the peer restarted.</summary>
    [Event(11, Level = EventLevel.Informational, Message = "{0}: connection to {1} closed ({3}, {4}): {5}")]
    public void ConnectionClosed(string node, string peer, ulong peerIncarnation, string reason, string cause, string detail)
    {
        if (IsEnabled())
        {
            WriteEvent(11, node, peer, peerIncarnation, reason, cause, detail);
        }
    }

    /// <summary>A connection was lost: silence, an end of stream without a goodbye, or a socket error.</summary>
    [Event(12, Level = EventLevel.Warning, Message = "{0}: connection to {1} lost ({3}, {4}): {5}")]
    public void ConnectionLost(string node, string peer, ulong peerIncarnation, string reason, string cause, string detail)
    {
        if (IsEnabled())
        {
            WriteEvent(12, node, peer, peerIncarnation, reason, cause, detail);
        }
    }

    /// <summary>A peer broke the protocol (a bad frame, fragment, message or stamp), so its connection was closed.</summary>
    [Event(13, Level = EventLevel.Error, Message = "{0}: protocol error from {1} ({3}): {4}")]
    public void ProtocolError(string node, string peer, ulong peerIncarnation, string cause, string detail)
    {
        if (IsEnabled())
        {
            WriteEvent(13, node, peer, peerIncarnation, cause, detail);
        }
    }

    /// <summary>A handshake failed: this node refused it (byPeer false) or the peer did.</summary>
    [Event(14, Level = EventLevel.Warning, Message = "{0}: handshake with {2} failed ({1}, by peer: {3}): {4}")]
    public void HandshakeFailed(string node, string failure, string peer, bool byPeer, string message)
    {
        if (IsEnabled())
        {
            WriteEvent(14, node, failure, peer, byPeer, message);
        }
    }

    /// <summary>A message of a type this node does not handle was dropped (protocol.md §5: not an error).</summary>
    [Event(15, Level = EventLevel.Verbose, Message = "{0}: dropped a message of unknown type {2} ({3} bytes) from {1}")]
    public void MessageDropped(string node, string peer, string messageType, int length)
    {
        if (IsEnabled())
        {
            WriteEvent(15, node, peer, messageType, length);
        }
    }

    /// <summary>A cast was not delivered (the node's DeadLetter event).</summary>
    [Event(16, Level = EventLevel.Verbose, Message = "{0}: dead letter to {1} ({2})")]
    public void DeadLetter(string node, string target, string reason)
    {
        if (IsEnabled())
        {
            WriteEvent(16, node, target, reason);
        }
    }

    /// <summary>A supervisor restarted a child (it had failed).</summary>
    [Event(17, Level = EventLevel.Warning, Message = "{0}: {1} restarted as {2} (restart {3} in the supervisor's window)")]
    public void ProcessRestarted(string node, string replaced, string process, int attempt)
    {
        if (IsEnabled())
        {
            WriteEvent(17, node, replaced, process, attempt);
        }
    }

    /// <summary>A handler of one of the node's events threw; the node swallowed it and went on.</summary>
    [Event(18, Level = EventLevel.Error, Message = "{0}: a {1} handler threw {2}: {3}")]
    public void HandlerFailed(string node, string handler, string exceptionType, string message)
    {
        if (IsEnabled())
        {
            WriteEvent(18, node, handler, exceptionType, message);
        }
    }

    /// <summary>The listener failed: the node accepts no more connections (its dials still work).</summary>
    [Event(19, Level = EventLevel.Critical, Message = "{0}: the listener failed and accepts no more connections: {1}: {2}")]
    public void ListenerFailed(string node, string exceptionType, string message)
    {
        if (IsEnabled())
        {
            WriteEvent(19, node, exceptionType, message);
        }
    }

    /// <summary>Whether a listener wants events of <paramref name="level"/>: the guard before building their strings.</summary>
    [NonEvent]
    public bool IsEnabled(EventLevel level) => IsEnabled(level, EventKeywords.None);

    /// <summary>Writes <paramref name="connection"/>'s up event, if anyone listens.</summary>
    [NonEvent]
    public void Connected(NodeId node, Connection connection)
    {
        if (IsEnabled(EventLevel.Informational))
        {
            ConnectionUp(node.ToString(), connection.PeerText, connection.PeerIncarnation, connection.Protocol.Version,
                connection.Inbound ? "inbound" : "outbound");
        }
    }

    /// <summary>
    /// Writes how <paramref name="connection"/> ended, if anyone listens at its level: closed (informational) when it ended
    /// as it should, lost (warning) on silence or a socket's end, a protocol error (error) when the peer broke the protocol.
    /// </summary>
    [NonEvent]
    public void Ended(NodeId node, Connection connection)
    {
        var reason = connection.CloseReason;
        var level = reason switch
        {
            NodeDownReason.ProtocolError => EventLevel.Error,
            NodeDownReason.GracefulShutdown or NodeDownReason.LocalShutdown or NodeDownReason.Restarted => EventLevel.Informational,
            _ => EventLevel.Warning,
        };
        if (!IsEnabled(level))
        {
            return;
        }
        var (cause, detail) = (connection.CloseCause ?? "", connection.CloseDetail ?? "");
        switch (level)
        {
            case EventLevel.Error:
                ProtocolError(node.ToString(), connection.PeerText, connection.PeerIncarnation, cause, detail);
                break;
            case EventLevel.Informational:
                ConnectionClosed(node.ToString(), connection.PeerText, connection.PeerIncarnation, reason.ToString(), cause, detail);
                break;
            default:
                ConnectionLost(node.ToString(), connection.PeerText, connection.PeerIncarnation, reason.ToString(), cause, detail);
                break;
        }
    }

    /// <summary>Writes a failed handshake, naming the peer, or where the connection came from, if anyone listens.</summary>
    [NonEvent]
    public void Failed(NodeId node, HandshakeException error)
    {
        if (IsEnabled(EventLevel.Warning))
        {
            HandshakeFailed(node.ToString(), error.Failure.ToString(), error.Peer?.ToString() ?? error.RemoteEndPoint?.ToString() ?? "",
                error.ByPeer, error.Message);
        }
    }
}
