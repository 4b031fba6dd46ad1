namespace Noex.Lite;

/// <summary>A running child.</summary>
/// <param name="Id">The child id.</param>
/// <param name="Ref">Its process, on its node.</param>
/// <param name="Spec">Its spec.</param>
/// <param name="Node">The node it runs on.</param>
/// <param name="RestartCount">How many times it was restarted or migrated.</param>
/// <param name="StartedAt">When its current instance started.</param>
public sealed record DistributedChildInfo(string Id, ProcessRef Ref, DistributedChildSpec Spec, NodeId Node, int RestartCount, DateTimeOffset StartedAt);

/// <summary>Figures of a distributed supervisor.</summary>
/// <param name="Id">The supervisor id.</param>
/// <param name="Strategy">Its strategy.</param>
/// <param name="ChildCount">Children now.</param>
/// <param name="ChildrenByNode">Children per node.</param>
/// <param name="TotalRestarts">Restarts so far, migrations included.</param>
/// <param name="NodeFailureRestarts">Migrations after a node was lost.</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="Uptime">How long it has been running.</param>
public sealed record DistributedSupervisorStats(string Id, SupervisorStrategy Strategy, int ChildCount, IReadOnlyDictionary<NodeId, int> ChildrenByNode,
    int TotalRestarts, int NodeFailureRestarts, DateTimeOffset StartedAt, TimeSpan Uptime);

/// <summary>The kinds of distributed supervisor event.</summary>
public enum DistributedSupervisorEventKind
{
    /// <summary><c>supervisor_started</c>.</summary>
    SupervisorStarted,
    /// <summary><c>supervisor_stopped</c>, with the reason (<c>normal</c>, <c>shutdown</c>, <c>max_restarts_exceeded</c>).</summary>
    SupervisorStopped,
    /// <summary><c>child_started</c>, with the node.</summary>
    ChildStarted,
    /// <summary><c>child_stopped</c>, with the reason (<c>shutdown</c>, <c>node_down</c>, or the exit reason).</summary>
    ChildStopped,
    /// <summary><c>child_restarted</c>, with the node and the attempt.</summary>
    ChildRestarted,
    /// <summary><c>child_migrated</c>: restarted on another node after its node was lost.</summary>
    ChildMigrated,
    /// <summary><c>node_failure_detected</c>: a node with children on it was lost.</summary>
    NodeFailureDetected,
    /// <summary><c>supervisor_took_over</c>: this member of a named supervisor became the active one, with the node it
    /// took over from (<see cref="DistributedSupervisorEvent.FromNode"/>, null when there was none).</summary>
    SupervisorTookOver,
    /// <summary><c>supervisor_stood_down</c>: this member stopped acting and stands by, with the reason (<c>no_quorum</c>:
    /// its node lost sight of a quorum; <c>conflict</c>: another member's claim of the name won after a partition).</summary>
    SupervisorStoodDown,
    /// <summary><c>node_reachable_by_others</c>: a node this supervisor lost sight of (<see cref="DistributedSupervisorEvent.Node"/>) is
    /// still reached by peers, so it is not taken as lost: its children are left running (or its active member is left
    /// acting). Raised once per lost node until the cluster's links change.</summary>
    NodeReachableByOthers,
}

/// <summary>Something that happened in a distributed supervisor; fields that do not apply to the kind are null.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="SupervisorId">The supervisor.</param>
/// <param name="ChildId">The child, for child events.</param>
/// <param name="Node">The node: where the child started, or the node that failed.</param>
/// <param name="FromNode">For a migration, the lost node.</param>
/// <param name="Reason">For stops, why.</param>
/// <param name="Attempt">For restarts, the child's restart count.</param>
/// <param name="AffectedChildren">For a node failure, the children that were on it.</param>
public sealed record DistributedSupervisorEvent(
    DistributedSupervisorEventKind Kind,
    string SupervisorId,
    string? ChildId = null,
    NodeId? Node = null,
    NodeId? FromNode = null,
    string? Reason = null,
    int Attempt = 0,
    IReadOnlyList<string>? AffectedChildren = null);
