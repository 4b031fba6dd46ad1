namespace Noex.Lite.Dashboard;

/// <summary>
/// A node that went down, as the dashboard remembers it: the cluster forgets a lost node once it is removed, the
/// dashboard keeps the loss, its reason and when it happened.
/// </summary>
/// <param name="Node">The node that went down.</param>
/// <param name="Incarnation">The incarnation that was lost.</param>
/// <param name="Reason">Why, as <see cref="Noex.Lite.Node.NodeDown"/> said.</param>
/// <param name="Cause">What happened, as a short token (<see cref="NodeDownEvent.Cause"/>): <c>end_of_stream</c>,
/// <c>silence</c>, <c>goodbye</c>, ...</param>
/// <param name="Detail">What happened, in words.</param>
/// <param name="At">When the node that keeps the dashboard saw it go down, by that node's clock.</param>
/// <param name="UpAgainAt">When the node came back (connected again), if it has.</param>
/// <param name="Removal">Why the node stopped being a member, if it has (it left, stayed unreachable, ...).</param>
public sealed record NodeDownRecord(
    NodeId Node,
    ulong Incarnation,
    NodeDownReason Reason,
    string Cause,
    string Detail,
    DateTimeOffset At,
    DateTimeOffset? UpAgainAt = null,
    NodeRemovalReason? Removal = null);
