namespace Noex.Lite;

/// <summary>The built-in ways to choose a node for a child.</summary>
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

    /// <summary>The candidates in turn; each supervisor keeps its own counter.</summary>
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

    /// <summary>The rule's name: <c>local_first</c>, <c>round_robin</c>, <c>least_loaded</c>, <c>random</c>, <c>node:&lt;id&gt;</c> or <c>custom</c>.</summary>
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
