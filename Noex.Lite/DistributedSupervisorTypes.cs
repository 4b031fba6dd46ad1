namespace Noex.Lite;

/// <summary>When a distributed supervisor stops by itself because significant children ended (the seeds' <c>autoShutdown</c>).</summary>
public enum AutoShutdown
{
    /// <summary><c>never</c> (the default).</summary>
    Never = 0,
    /// <summary><c>any_significant</c>: when any significant child ends and is not restarted.</summary>
    AnySignificant,
    /// <summary><c>all_significant</c>: when a significant child ends and is not restarted, and no significant child remains.</summary>
    AllSignificant,
}

/// <summary>
/// What a distributed supervisor does with children on a node it has lost sight of (a crash and a network partition look
/// the same from one side).
/// </summary>
public enum PartitionPolicy
{
    /// <summary>
    /// Restart them elsewhere only while this node sees a strict majority of the nodes it knows (itself included, connected
    /// or not); otherwise wait, and restart them once a majority is back in sight or keep them if their own node comes
    /// back with them still alive. The default: a minority side never duplicates a child. A two-node cluster therefore
    /// does not fail over a lost node (one of two is no majority); use <see cref="Always"/> there.
    /// </summary>
    Majority = 0,
    /// <summary>
    /// Restart them elsewhere at once. When the lost node comes back, the instance left there is stopped, so one instance
    /// of each child remains, but both may run during the partition.
    /// </summary>
    Always,
}

/// <summary>The built-in ways to choose a node for a child (the seeds' <c>NodeSelector</c> strings).</summary>
public enum NodeSelectorKind
{
    /// <summary><c>local_first</c>: the supervisor's node, else the first connected node (the default).</summary>
    LocalFirst = 0,
    /// <summary><c>round_robin</c>: the candidates in turn, with one counter per supervisor.</summary>
    RoundRobin,
    /// <summary><c>least_loaded</c>: the candidate running the fewest processes (as each node reports in its gossip).</summary>
    LeastLoaded,
    /// <summary><c>random</c>: a candidate at random.</summary>
    Random,
    /// <summary>One named node (<see cref="NodeSelector.Node"/>).</summary>
    Specific,
    /// <summary>A user function (<see cref="NodeSelector.Custom"/>).</summary>
    Custom,
}

/// <summary>How a child's node is chosen. Candidates are this node and the connected nodes, minus a node being failed over from.</summary>
public sealed class NodeSelector
{
    private NodeSelector(NodeSelectorKind kind, NodeId? node, Func<IReadOnlyList<NodeInfo>, string, NodeId>? function)
    {
        Kind = kind;
        Node = node;
        Function = function;
    }

    /// <summary>The supervisor's own node if it is a candidate, else the first connected one.</summary>
    public static NodeSelector LocalFirst { get; } = new(NodeSelectorKind.LocalFirst, null, null);

    /// <summary>The candidates in turn; the counter belongs to the supervisor (the original shared one across all of them).</summary>
    public static NodeSelector RoundRobin { get; } = new(NodeSelectorKind.RoundRobin, null, null);

    /// <summary>The candidate with the fewest processes, by the counts nodes gossip (this node's is exact); ties go to the earlier candidate.</summary>
    public static NodeSelector LeastLoaded { get; } = new(NodeSelectorKind.LeastLoaded, null, null);

    /// <summary>A candidate at random.</summary>
    public static NodeSelector Random { get; } = new(NodeSelectorKind.Random, null, null);

    /// <summary>Which rule this is.</summary>
    public NodeSelectorKind Kind { get; }

    /// <summary>For <see cref="NodeSelectorKind.Specific"/>, the node.</summary>
    public NodeId? Node { get; }

    /// <summary>For <see cref="NodeSelectorKind.Custom"/>, the function.</summary>
    public Func<IReadOnlyList<NodeInfo>, string, NodeId>? Function { get; }

    /// <summary>Always <paramref name="node"/>; fails with <see cref="NoAvailableNodeException"/> when it is neither this node nor connected.</summary>
    /// <param name="node">The node.</param>
    public static NodeSelector OnNode(NodeId node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return new(NodeSelectorKind.Specific, node, null);
    }

    /// <summary>
    /// The node <paramref name="choose"/> returns, given the candidates (this node first, then the connected ones) and the
    /// child id. Its answer is checked: a node that is not a candidate fails with <see cref="NoAvailableNodeException"/>.
    /// </summary>
    /// <param name="choose">The function; it may throw, which fails the start with its exception.</param>
    public static NodeSelector Custom(Func<IReadOnlyList<NodeInfo>, string, NodeId> choose)
    {
        ArgumentNullException.ThrowIfNull(choose);
        return new(NodeSelectorKind.Custom, null, choose);
    }

    /// <summary>The seeds' name for the rule: <c>local_first</c>, <c>round_robin</c>, <c>least_loaded</c>, <c>random</c>, <c>node:&lt;id&gt;</c> or <c>custom</c>.</summary>
    public override string ToString() => Kind switch
    {
        NodeSelectorKind.LocalFirst => "local_first",
        NodeSelectorKind.RoundRobin => "round_robin",
        NodeSelectorKind.LeastLoaded => "least_loaded",
        NodeSelectorKind.Random => "random",
        NodeSelectorKind.Specific => $"node:{Node}",
        _ => "custom",
    };
}

/// <summary>One child of a distributed supervisor (the seeds' <c>DistributedChildSpec</c>).</summary>
/// <param name="Id">The child id, unique in its supervisor.</param>
/// <param name="Behavior">The name the behaviour is registered under in every node's behaviour registry.</param>
public sealed record DistributedChildSpec(string Id, string Behavior)
{
    /// <summary>The init arguments, sent with every spawn, local or remote (the original dropped them on remote spawns).</summary>
    public Value Args { get; init; }

    /// <summary>When the child is restarted; default permanent.</summary>
    public RestartType Restart { get; init; }

    /// <summary>Where it runs; null for the supervisor's selector.</summary>
    public NodeSelector? NodeSelector { get; init; }

    /// <summary>A cluster-wide name to register the child under, on every start and restart; null for none.</summary>
    public string? GlobalName { get; init; }

    /// <summary>How long a stop waits before the child is killed; default 5000 ms.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromMilliseconds(5000);

    /// <summary>Whether its ending counts for <see cref="AutoShutdown"/>.</summary>
    public bool Significant { get; init; }
}

/// <summary>The template of a simple_one_for_one supervisor's children (the seeds' <c>DistributedChildTemplate</c>).</summary>
/// <param name="Behavior">The registered behaviour name.</param>
public sealed record DistributedChildTemplate(string Behavior)
{
    /// <summary>When the children are restarted; default permanent.</summary>
    public RestartType Restart { get; init; }

    /// <summary>Where they run; null for the supervisor's selector.</summary>
    public NodeSelector? NodeSelector { get; init; }

    /// <summary>How long a stop waits before a child is killed; default 5000 ms.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromMilliseconds(5000);

    /// <summary>Whether the children's ending counts for <see cref="AutoShutdown"/>.</summary>
    public bool Significant { get; init; }
}

/// <summary>How to start a distributed supervisor (the seeds' <c>DistributedSupervisorOptions</c>).</summary>
public sealed record DistributedSupervisorOptions
{
    /// <summary>The restart strategy; default one_for_one.</summary>
    public SupervisorStrategy Strategy { get; init; }

    /// <summary>Where children run unless their spec says otherwise; default <see cref="NodeSelector.LocalFirst"/>.</summary>
    public NodeSelector NodeSelector { get; init; } = NodeSelector.LocalFirst;

    /// <summary>Children started in order by <see cref="DistributedSupervisor.StartAsync(Node, DistributedSupervisorOptions, CancellationToken)"/> (none for simple_one_for_one).</summary>
    public IReadOnlyList<DistributedChildSpec> Children { get; init; } = [];

    /// <summary>The template for simple_one_for_one; required there, ignored otherwise.</summary>
    public DistributedChildTemplate? ChildTemplate { get; init; }

    /// <summary>Restarts allowed within <see cref="Within"/> before the supervisor gives up; default 3.</summary>
    public int MaxRestarts { get; init; } = 3;

    /// <summary>The sliding window restarts are counted in; default 5000 ms.</summary>
    public TimeSpan Within { get; init; } = TimeSpan.FromMilliseconds(5000);

    /// <summary>Whether it stops by itself when significant children end; default never.</summary>
    public AutoShutdown AutoShutdown { get; init; }

    /// <summary>What to do with children on a node that was lost from sight; default <see cref="PartitionPolicy.Majority"/>.</summary>
    public PartitionPolicy PartitionPolicy { get; init; }

    /// <summary>How long one spawn may take; default 10 s (the original's SPAWN_TIMEOUT).</summary>
    public TimeSpan SpawnTimeout { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>A running child (the seeds' <c>DistributedChildInfo</c>).</summary>
/// <param name="Id">The child id.</param>
/// <param name="Ref">Its process, on its node.</param>
/// <param name="Spec">Its spec.</param>
/// <param name="Node">The node it runs on.</param>
/// <param name="RestartCount">How many times it was restarted or migrated.</param>
/// <param name="StartedAt">When its current instance started.</param>
public sealed record DistributedChildInfo(string Id, ProcessRef Ref, DistributedChildSpec Spec, NodeId Node, int RestartCount, DateTimeOffset StartedAt);

/// <summary>Figures of a distributed supervisor (the seeds' <c>DistributedSupervisorStats</c>).</summary>
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

/// <summary>The kinds of distributed supervisor event (the seeds' names).</summary>
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

/// <summary>A distributed supervisor operation failed (the seeds' <c>DistributedSupervisorError</c>); the subclasses say why.</summary>
public class DistributedSupervisorException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="supervisorId">The supervisor.</param>
    /// <param name="message">What failed.</param>
    /// <param name="inner">The cause, if any.</param>
    public DistributedSupervisorException(string supervisorId, string message, Exception? inner = null)
        : base($"Distributed supervisor {supervisorId}: {message}", inner)
    {
        SupervisorId = supervisorId;
    }

    /// <summary>The supervisor.</summary>
    public string SupervisorId { get; }
}

/// <summary>A child id is already in use (the seeds' <c>DistributedDuplicateChildError</c>).</summary>
/// <param name="supervisorId">The supervisor.</param>
/// <param name="childId">The id.</param>
public sealed class DistributedDuplicateChildException(string supervisorId, string childId)
    : DistributedSupervisorException(supervisorId, $"a child with id '{childId}' already exists")
{
    /// <summary>The id.</summary>
    public string ChildId { get; } = childId;
}

/// <summary>No child has the id (the seeds' <c>DistributedChildNotFoundError</c>).</summary>
/// <param name="supervisorId">The supervisor.</param>
/// <param name="childId">The id.</param>
public sealed class DistributedChildNotFoundException(string supervisorId, string childId)
    : DistributedSupervisorException(supervisorId, $"no child with id '{childId}'")
{
    /// <summary>The id.</summary>
    public string ChildId { get; } = childId;
}

/// <summary>Children restarted more often than the intensity allows; the supervisor stopped them and itself (the seeds' <c>DistributedMaxRestartsExceededError</c>).</summary>
/// <param name="supervisorId">The supervisor.</param>
/// <param name="maxRestarts">The restarts allowed.</param>
/// <param name="within">The window.</param>
public sealed class DistributedMaxRestartsExceededException(string supervisorId, int maxRestarts, TimeSpan within)
    : DistributedSupervisorException(supervisorId, $"more than {maxRestarts} restarts within {(long)within.TotalMilliseconds} ms; it stopped its children and itself")
{
    /// <summary>The restarts allowed.</summary>
    public int MaxRestarts { get; } = maxRestarts;

    /// <summary>The window.</summary>
    public TimeSpan Within { get; } = within;
}

/// <summary>A simple_one_for_one supervisor was misused (the seeds' <c>DistributedInvalidSimpleOneForOneError</c>).</summary>
/// <param name="supervisorId">The supervisor.</param>
/// <param name="reason">What was wrong.</param>
public sealed class DistributedInvalidSimpleOneForOneException(string supervisorId, string reason)
    : DistributedSupervisorException(supervisorId, reason)
{
    /// <summary>What was wrong.</summary>
    public string Reason { get; } = reason;
}

/// <summary>simple_one_for_one needs a child template (the seeds' <c>DistributedMissingChildTemplateError</c>).</summary>
/// <param name="supervisorId">The supervisor.</param>
public sealed class DistributedMissingChildTemplateException(string supervisorId)
    : DistributedSupervisorException(supervisorId, "simple_one_for_one requires a child template");

/// <summary>The behaviour is not registered on the supervisor's node (the seeds' <c>DistributedBehaviorNotFoundError</c>).</summary>
/// <param name="behaviorName">The name.</param>
/// <param name="nodeId">The supervisor's node.</param>
public sealed class DistributedBehaviorNotFoundException(string behaviorName, NodeId nodeId)
    : NoexException($"Behavior '{behaviorName}' is not registered on {nodeId}.")
{
    /// <summary>The name.</summary>
    public string BehaviorName { get; } = behaviorName;

    /// <summary>The node.</summary>
    public NodeId NodeId { get; } = nodeId;
}

/// <summary>No node could be chosen for a child (the seeds' <c>NoAvailableNodeError</c>).</summary>
/// <param name="childId">The child.</param>
/// <param name="selector">The selector that found nothing.</param>
public sealed class NoAvailableNodeException(string childId, NodeSelector selector)
    : NoexException($"No node available for child '{childId}' (selector {selector}).")
{
    /// <summary>The child.</summary>
    public string ChildId { get; } = childId;

    /// <summary>The selector.</summary>
    public NodeSelector Selector { get; } = selector;
}
