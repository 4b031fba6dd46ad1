namespace Noex.Lite;

/// <summary>When a distributed supervisor stops by itself because significant children ended.</summary>
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
    /// Restart them elsewhere only while this node sees a quorum (<see cref="NodeOptions.QuorumSize"/> nodes, or else a
    /// strict majority of the members that have been up, itself included, with unreachable ones counted until a majority
    /// removes them); otherwise wait, and restart them once a majority is back in sight or keep them if their own node comes
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

/// <summary>One child of a distributed supervisor.</summary>
/// <param name="Id">The child id, unique in its supervisor.</param>
/// <param name="Behavior">The name the behaviour is registered under in every node's behaviour registry.</param>
public sealed record DistributedChildSpec(string Id, string Behavior)
{
    /// <summary>The init arguments, sent with every spawn, local or remote.</summary>
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

/// <summary>The template of a simple_one_for_one supervisor's children.</summary>
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

/// <summary>How to start a distributed supervisor.</summary>
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

    /// <summary>How long one spawn may take; default 10 s.</summary>
    public TimeSpan SpawnTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A cluster-wide name, or null (the default) for a supervisor that lives and dies with its node. With a name, start the
    /// same supervisor (this name, the same options) on every node that may run it: one of them is active and holds the
    /// name in the global registry, the others stand by with a copy of its children, and when the active one's node is
    /// lost (by the same rule as a child's node) one of them takes over and adopts the children where they run.
    /// <see cref="DistributedSupervisorRef"/> reaches the active one by name from any node. DESIGN.md, "Supervisor failover".
    /// </summary>
    public string? Name { get; init; }
}
