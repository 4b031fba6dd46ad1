namespace Noex.Lite;

/// <summary>Why a node is reported down (the seeds' <c>NodeDownReason</c>, plus what the original could not tell apart).</summary>
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
    /// <summary>The node broke the protocol (bad MAC, sequence or frame), so its connection was closed.</summary>
    ProtocolError,
}

/// <summary>Whether a known node is connected.</summary>
public enum NodeStatus
{
    /// <summary>A live, authenticated connection exists.</summary>
    Connected,
    /// <summary>Known, but not connected now; it is redialled with backoff.</summary>
    Disconnected,
}

/// <summary>What a node knows of another node.</summary>
/// <param name="Id">The node's id.</param>
/// <param name="Status">Whether it is connected now.</param>
/// <param name="Incarnation">Its incarnation as of the last handshake (0 if never connected).</param>
/// <param name="ProcessCount">The number of processes it reported in its last gossip.</param>
/// <param name="Uptime">How long it had been running at its last gossip.</param>
/// <param name="LastSeen">When a frame or gossip from it last arrived.</param>
public sealed record NodeInfo(NodeId Id, NodeStatus Status, ulong Incarnation, int ProcessCount, TimeSpan Uptime, DateTimeOffset LastSeen);
