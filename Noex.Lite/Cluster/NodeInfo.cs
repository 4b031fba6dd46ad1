namespace Noex.Lite;

/// <summary>Whether a known node is connected.</summary>
public enum NodeStatus
{
    /// <summary>A live, authenticated connection exists.</summary>
    Connected,
    /// <summary>
    /// A member not connected now: learned of and not reached yet, or unreachable (lost without a goodbye). It is redialled
    /// with backoff until it connects or <see cref="NodeOptions.RemoveUnreachableAfter"/> passes (then it is removed).
    /// </summary>
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

/// <summary>A connected node was lost: which node, why, and what caused it.</summary>
/// <param name="Node">The node.</param>
/// <param name="Incarnation">The incarnation that was lost (a restarted node comes back with another).</param>
/// <param name="Reason">Why.</param>
/// <param name="Cause">What happened, as a short token for code, logs and metrics to match on: <c>silence</c>,
/// <c>frame_deadline</c>, <c>end_of_stream</c>, <c>goodbye</c>, <c>new_incarnation</c>, <c>socket:ConnectionReset</c> (the
/// socket error), <c>frame:BadTag</c> (which frame error), <c>fragment:Stalled</c>, <c>message:0x10</c> (the type of the
/// malformed message), <c>stamp:register</c>, ... (README.md, "Observability", lists them). The log's <c>cause</c> field
/// and the tags of <c>noex.protocol.refused</c> use the same tokens.</param>
/// <param name="Detail">What happened, in words: the socket error, the protocol violation and where it was found, how long
/// the node was silent, ...</param>
/// <param name="Error">The exception behind it, when there is one: the socket error of a reset, the protocol violation of
/// a protocol error.</param>
public sealed record NodeDownEvent(NodeId Node, ulong Incarnation, NodeDownReason Reason, string Cause, string Detail, Exception? Error);

/// <summary>A connection to a peer that was up has closed, with the same details a node-down carries.</summary>
/// <param name="Peer">The peer.</param>
/// <param name="PeerIncarnation">The peer's incarnation on this connection.</param>
/// <param name="Reason">Why.</param>
/// <param name="Cause">What happened, as a short token (see <see cref="NodeDownEvent.Cause"/>); <c>stopping</c> when this
/// node is.</param>
/// <param name="Detail">What happened, in words.</param>
/// <param name="Error">The exception behind it, when there is one.</param>
public sealed record ConnectionClosedEvent(NodeId Peer, ulong PeerIncarnation, NodeDownReason Reason, string Cause, string Detail, Exception? Error);

/// <summary>Why a node stopped being a member (see <see cref="Node.NodeRemoved"/>).</summary>
public enum NodeRemovalReason
{
    /// <summary>It said goodbye (a graceful stop).</summary>
    Left,
    /// <summary>It stayed unreachable, or was learned of and never reached, for <see cref="NodeOptions.RemoveUnreachableAfter"/>.</summary>
    Unreachable,
    /// <summary>An operator forgot it (<see cref="Node.Forget"/>).</summary>
    Forgotten,
    /// <summary>Its address answers as another node now (a recycled address), or is this node's own: the id is gone.</summary>
    Replaced,
}

/// <summary>A node stopped being a member: it is no longer redialled or gossiped, and its next connection is a fresh join.</summary>
/// <param name="Node">The node.</param>
/// <param name="Reason">Why.</param>
public sealed record NodeRemovedEvent(NodeId Node, NodeRemovalReason Reason);
