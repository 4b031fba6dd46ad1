namespace Noex.Lite;

/// <summary>One child as the active member of a named supervisor replicates it.</summary>
/// <param name="Spec">Its spec (a custom selector does not cross the wire: the standby uses its own options' spec for a
/// static child, and the supervisor's selector for a dynamic one).</param>
/// <param name="Ref">Its current instance; empty while none runs (its node lost and no place found yet).</param>
/// <param name="RestartCount">Its restarts so far.</param>
/// <param name="StartedAt">When its instance started.</param>
/// <param name="Orphaned">Whether its node is out of sight and it was not restarted yet.</param>
internal sealed record ReplicaChild(DistributedChildSpec Spec, ProcessRef Ref, int RestartCount, DateTimeOffset StartedAt, bool Orphaned);

/// <summary>
/// What the active member of a named supervisor sends its standbys after every change (protocol.md §5.6): enough to take
/// over without restarting a live child and with the restart intensity's window intact.
/// </summary>
/// <param name="Version">Counts the active member's changes; a standby keeps the newest state of the member holding the name.</param>
/// <param name="Active">The active member's process.</param>
/// <param name="Members">Every member the active one knows, itself included.</param>
/// <param name="Children">The children in start order.</param>
/// <param name="RestartAgesMs">How long ago each restart still in the intensity window was recorded, oldest first.</param>
/// <param name="Stale">Replaced instances that may still run on a node out of sight (stopped when it comes back).</param>
/// <param name="TemplateSequence">The last <c>child_&lt;n&gt;</c> number given.</param>
/// <param name="TotalRestarts">Restarts so far.</param>
/// <param name="NodeFailureRestarts">Migrations so far.</param>
internal sealed record SupervisorReplica(long Version, ProcessRef Active, IReadOnlyList<ProcessRef> Members, IReadOnlyList<ReplicaChild> Children,
    IReadOnlyList<long> RestartAgesMs, IReadOnlyList<ProcessRef> Stale, int TemplateSequence, int TotalRestarts, int NodeFailureRestarts)
{
    /// <summary>The replica as the <c>state</c> cast's value.</summary>
    public Value ToValue() => Value.Object(
        ("op", "state"),
        ("version", Version),
        ("active", RefValue(Active)),
        ("members", Value.Array(Members.Select(RefValue))),
        ("children", Value.Array(Children.Select(c => Value.Object(
            ("spec", SpecValue(c.Spec)),
            ("node", c.Ref.IsEmpty ? Value.Null : (Value)c.Ref.Node),
            ("process", c.Ref.Id),
            ("restarts", c.RestartCount),
            ("started_ms", c.StartedAt.ToUnixTimeMilliseconds()),
            ("orphaned", c.Orphaned))))),
        ("restart_ages_ms", Value.Array(RestartAgesMs.Select(a => (Value)a))),
        ("stale", Value.Array(Stale.Select(RefValue))),
        ("template_sequence", TemplateSequence),
        ("restarts", TotalRestarts),
        ("node_failure_restarts", NodeFailureRestarts));

    /// <summary>Reads a <c>state</c> value; null when it is not one (a peer of another build, or garbage).</summary>
    public static SupervisorReplica? FromValue(Value value)
    {
        try
        {
            var children = new List<ReplicaChild>();
            foreach (var child in value["children"].AsArray())
            {
                var node = child["node"];
                children.Add(new ReplicaChild(SpecFromValue(child["spec"]), node.IsNull ? default : new ProcessRef(NodeId.Parse(node.AsString()).ToString(), Long(child, "process")),
                    (int)Math.Clamp(Long(child, "restarts"), 0, int.MaxValue),
                    DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(Long(child, "started_ms"), 0, 253402300799999)),
                    child.TryGetProperty("orphaned", out var orphaned) && orphaned.TryGetBoolean(out var o) && o));
            }
            return new SupervisorReplica(Long(value, "version"), RefFromValue(value["active"]),
                [.. value["members"].AsArray().ToArray().Select(RefFromValue)], children,
                [.. value["restart_ages_ms"].AsArray().ToArray().Select(a => Math.Max(0, a.TryGetInt64(out var age) ? age : 0))],
                [.. value["stale"].AsArray().ToArray().Select(RefFromValue)],
                (int)Math.Clamp(Long(value, "template_sequence"), 0, int.MaxValue),
                (int)Math.Clamp(Long(value, "restarts"), 0, int.MaxValue), (int)Math.Clamp(Long(value, "node_failure_restarts"), 0, int.MaxValue));
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or KeyNotFoundException or IndexOutOfRangeException or InvalidNodeIdException)
        {
            return null;
        }
    }

    /// <summary>A process as <c>{"node", "process"}</c>.</summary>
    public static Value RefValue(ProcessRef process) => Value.Object(("node", process.Node), ("process", process.Id));

    /// <summary>A process from <c>{"node", "process"}</c>; the node must be a valid id.</summary>
    public static ProcessRef RefFromValue(Value value) => new(NodeId.Parse(value["node"].AsString()).ToString(), Long(value, "process"));

    /// <summary>A spec as it crosses the wire: every field but a custom selector.</summary>
    public static Value SpecValue(DistributedChildSpec spec) => Value.Object(
        ("id", spec.Id),
        ("behavior", spec.Behavior),
        ("args", spec.Args),
        ("restart", spec.Restart switch { RestartType.Transient => "transient", RestartType.Temporary => "temporary", _ => "permanent" }),
        ("selector", spec.NodeSelector is { Kind: not NodeSelectorKind.Custom } selector ? selector.ToString() : Value.Null),
        ("global_name", spec.GlobalName),
        ("shutdown_ms", (long)spec.ShutdownTimeout.TotalMilliseconds),
        ("significant", spec.Significant));

    /// <summary>A spec from its wire form.</summary>
    /// <exception cref="FormatException">A field is missing or of the wrong kind.</exception>
    public static DistributedChildSpec SpecFromValue(Value value)
    {
        if (!value.TryGetProperty("id", out var id) || !id.TryGetString(out var childId) || !value.TryGetProperty("behavior", out var behavior) || !behavior.TryGetString(out var behaviorName))
        {
            throw new FormatException("A child spec needs a string id and behavior.");
        }
        var restart = value.TryGetProperty("restart", out var r) && r.TryGetString(out var text) ? text : "permanent";
        return new DistributedChildSpec(childId, behaviorName)
        {
            Args = value.TryGetProperty("args", out var args) ? args : Value.Null,
            Restart = restart switch
            {
                "permanent" => RestartType.Permanent,
                "transient" => RestartType.Transient,
                "temporary" => RestartType.Temporary,
                _ => throw new FormatException($"Unknown restart type '{restart}'."),
            },
            NodeSelector = value.TryGetProperty("selector", out var s) && s.TryGetString(out var selector) ? SelectorFromText(selector) : null,
            GlobalName = value.TryGetProperty("global_name", out var g) && g.TryGetString(out var name) ? name : null,
            ShutdownTimeout = TimeSpan.FromMilliseconds(Math.Clamp(Long(value, "shutdown_ms", 5000), 0, int.MaxValue)),
            Significant = value.TryGetProperty("significant", out var sig) && sig.TryGetBoolean(out var significant) && significant,
        };
    }

    /// <summary>A built-in selector from its name (<see cref="NodeSelector.ToString"/>); <c>custom</c> is refused.</summary>
    /// <exception cref="FormatException">Not a built-in selector's name.</exception>
    public static NodeSelector SelectorFromText(string text) => text switch
    {
        "local_first" => NodeSelector.LocalFirst,
        "round_robin" => NodeSelector.RoundRobin,
        "least_loaded" => NodeSelector.LeastLoaded,
        "random" => NodeSelector.Random,
        _ when text.StartsWith("node:", StringComparison.Ordinal) => NodeSelector.OnNode(NodeId.Parse(text["node:".Length..])),
        _ => throw new FormatException($"Unknown node selector '{text}'."),
    };

    private static long Long(Value value, string key, long missing = 0) =>
        value.TryGetProperty(key, out var field) && field.TryGetInt64(out var number) ? number : missing;
}
