using Microsoft.Extensions.Logging;

namespace Noex.Lite.Hosting;

/// <summary>
/// Every log message of the hosting layer, source-generated, under the category <see cref="Category"/>. Event ids are
/// stable (a log query may filter on them) and unique (the generator refuses two methods with one id in a class):
/// 1–9 the node's life, 10–19 its events (<see cref="Node.NodeUp"/>, ...), 100 + n the event source's event n, for the
/// events no node event reports (README.md beside this file lists them).
/// </summary>
internal static partial class NoexLogMessages
{
    /// <summary>The logger category of everything the node logs: Noex.Lite's diagnostics name.</summary>
    public const string Category = NoexDiagnostics.EventSourceName;

    [LoggerMessage(EventId = 1, EventName = "NodeStarting", Level = LogLevel.Information,
        Message = "Starting node {Name} on {Host}:{Port} with {SeedCount} seeds{Discovery}{Tls}")]
    public static partial void NodeStarting(this ILogger logger, string name, string host, int port, int seedCount, string discovery, string tls);

    [LoggerMessage(EventId = 2, EventName = "NodeStarted", Level = LogLevel.Information,
        Message = "Node {NodeId} is running (listening on port {ListenPort}, incarnation {Incarnation}, behaviours: {Behaviors})")]
    public static partial void NodeStarted(this ILogger logger, string nodeId, int listenPort, ulong incarnation, string behaviors);

    [LoggerMessage(EventId = 3, EventName = "NodeStopping", Level = LogLevel.Information,
        Message = "Node {NodeId} is stopping: telling {Connected} connected nodes goodbye")]
    public static partial void NodeStopping(this ILogger logger, string nodeId, int connected);

    [LoggerMessage(EventId = 4, EventName = "NodeStopped", Level = LogLevel.Information,
        Message = "Node {NodeId} stopped after {Uptime}")]
    public static partial void NodeStopped(this ILogger logger, string nodeId, TimeSpan uptime);

    [LoggerMessage(EventId = 5, EventName = "NodeStartFailed", Level = LogLevel.Critical,
        Message = "Node {Name} could not start: {Reason}")]
    public static partial void NodeStartFailed(this ILogger logger, string name, string reason, Exception error);

    [LoggerMessage(EventId = 10, EventName = "NodeUp", Level = LogLevel.Information,
        Message = "Node {Peer} is up (incarnation {Incarnation})")]
    public static partial void NodeUp(this ILogger logger, string peer, ulong incarnation);

    [LoggerMessage(EventId = 11, EventName = "NodeDown", Level = LogLevel.Warning,
        Message = "Node {Peer} is down: {Reason} ({Cause}), {Detail}")]
    public static partial void NodeDown(this ILogger logger, string peer, NodeDownReason reason, string cause, string detail);

    [LoggerMessage(EventId = 12, EventName = "NodeLeft", Level = LogLevel.Information,
        Message = "Node {Peer} left: {Reason} ({Cause})")]
    public static partial void NodeLeft(this ILogger logger, string peer, NodeDownReason reason, string cause);

    [LoggerMessage(EventId = 13, EventName = "NodeRemoved", Level = LogLevel.Information,
        Message = "Node {Peer} is no longer a member: {Reason}")]
    public static partial void NodeRemoved(this ILogger logger, string peer, NodeRemovalReason reason);

    [LoggerMessage(EventId = 14, EventName = "HandshakeFailed", Level = LogLevel.Warning,
        Message = "Handshake with {Peer} failed: {Failure} (refused by the peer: {ByPeer}): {Detail}")]
    public static partial void HandshakeFailed(this ILogger logger, string peer, HandshakeFailure failure, bool byPeer, string detail);

    [LoggerMessage(EventId = 15, EventName = "DeadLetter", Level = LogLevel.Debug,
        Message = "Dead letter to {Target}: {Reason}")]
    public static partial void DeadLetter(this ILogger logger, string target, DeadLetterReason reason);

    [LoggerMessage(EventId = 16, EventName = "NodeStateChanged", Level = LogLevel.Debug,
        Message = "Node {NodeId} is {State}")]
    public static partial void NodeStateChanged(this ILogger logger, string nodeId, NodeState state);

    [LoggerMessage(EventId = 104, EventName = "MembersRefused", Level = LogLevel.Warning,
        Message = "Refused {Count} node ids from {Source}: {Cause}")]
    public static partial void MembersRefused(this ILogger logger, int count, string source, string cause);

    [LoggerMessage(EventId = 105, EventName = "DiscoveryFailed", Level = LogLevel.Warning,
        Message = "Seed provider {Provider} failed: {Error}")]
    public static partial void DiscoveryFailed(this ILogger logger, string provider, string error);

    [LoggerMessage(EventId = 110, EventName = "ConnectionUp", Level = LogLevel.Debug,
        Message = "Connected to {Peer} (incarnation {Incarnation}, protocol version {ProtocolVersion}, {Direction})")]
    public static partial void ConnectionUp(this ILogger logger, string peer, ulong incarnation, int protocolVersion, string direction);

    [LoggerMessage(EventId = 111, EventName = "ConnectionClosed", Level = LogLevel.Debug,
        Message = "Connection to {Peer} closed ({Reason}, {Cause}): {Detail}")]
    public static partial void ConnectionClosed(this ILogger logger, string peer, string reason, string cause, string detail);

    [LoggerMessage(EventId = 112, EventName = "ConnectionLost", Level = LogLevel.Debug,
        Message = "Connection to {Peer} lost ({Reason}, {Cause}): {Detail}")]
    public static partial void ConnectionLost(this ILogger logger, string peer, string reason, string cause, string detail);

    [LoggerMessage(EventId = 113, EventName = "ProtocolError", Level = LogLevel.Error,
        Message = "Protocol error from {Peer} ({Cause}): {Detail}")]
    public static partial void ProtocolError(this ILogger logger, string peer, string cause, string detail);

    [LoggerMessage(EventId = 115, EventName = "MessageDropped", Level = LogLevel.Trace,
        Message = "Dropped a message of unknown type {MessageType} ({Length} bytes) from {Peer}")]
    public static partial void MessageDropped(this ILogger logger, string messageType, int length, string peer);

    [LoggerMessage(EventId = 117, EventName = "ProcessRestarted", Level = LogLevel.Warning,
        Message = "{Replaced} restarted as {Process} (restart {Attempt} in the supervisor's window)")]
    public static partial void ProcessRestarted(this ILogger logger, string replaced, string process, int attempt);

    [LoggerMessage(EventId = 118, EventName = "HandlerFailed", Level = LogLevel.Error,
        Message = "A {Handler} handler threw {ExceptionType}: {ExceptionMessage}")]
    public static partial void HandlerFailed(this ILogger logger, string handler, string exceptionType, string exceptionMessage);

    [LoggerMessage(EventId = 119, EventName = "ListenerFailed", Level = LogLevel.Critical,
        Message = "The listener failed and accepts no more connections: {ExceptionType}: {ExceptionMessage}")]
    public static partial void ListenerFailed(this ILogger logger, string exceptionType, string exceptionMessage);
}
