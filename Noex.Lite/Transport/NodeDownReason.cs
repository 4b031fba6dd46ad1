namespace Noex.Lite;

/// <summary>
/// Why a connection to a node ended, set once by whatever ended it first; when the connection was the node's session, the
/// node-down reports the same reason.
/// </summary>
public enum NodeDownReason
{
    /// <summary>No frame arrived for the heartbeat interval times the miss threshold (a frozen process, a black hole).</summary>
    HeartbeatTimeout = 1,
    /// <summary>The connection closed without a goodbye (a crashed or killed process: the OS closes its sockets).</summary>
    ConnectionClosed,
    /// <summary>The node said it was stopping.</summary>
    GracefulShutdown,
    /// <summary>A new incarnation of the node connected: the old one is gone, though its name lives on.</summary>
    Restarted,
    /// <summary>The connection was reset or failed on a socket error.</summary>
    ConnectionReset,
    /// <summary>The node broke the protocol (bad MAC, sequence or frame, a malformed message), so its connection was closed.</summary>
    ProtocolError,
    /// <summary>This node is stopping: a reason a connection closes with, never a node-down's (a stopping node raises none).</summary>
    LocalShutdown,
}
