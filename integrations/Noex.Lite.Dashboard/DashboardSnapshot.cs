namespace Noex.Lite.Dashboard;

/// <summary>
/// What the page shows at one moment: the JSON document of <c>api/snapshot</c> and of every <c>api/stream</c> event,
/// written by <see cref="DashboardJsonContext"/> (camelCase; every string escaped by the default encoder, so that
/// <c>&lt;</c>, <c>&gt;</c>, <c>&amp;</c> and quotes never appear raw).
/// </summary>
/// <param name="Title">The page title.</param>
/// <param name="LocalNode">The node serving the dashboard.</param>
/// <param name="TakenAt">When the snapshot was taken, by that node's clock.</param>
/// <param name="WatchingSince">Since when the dashboard has been recording node-downs.</param>
/// <param name="RefreshMs">How often the stream sends a snapshot.</param>
/// <param name="ChartSamples">How many samples the page's charts keep.</param>
/// <param name="Totals">Sums over the nodes that answered.</param>
/// <param name="Nodes">The local node first, then every other node it knows of, connected or not, by id.</param>
/// <param name="DownHistory">Every node-down recorded, newest first.</param>
/// <param name="Names">The global registry, by name.</param>
/// <param name="Supervisors">The distributed supervisors of the nodes that answered, the local node's first.</param>
/// <param name="SupervisorScope">What <paramref name="Supervisors"/> covers, in words for the page.</param>
internal sealed record DashboardSnapshot(
    string Title,
    string LocalNode,
    DateTimeOffset TakenAt,
    DateTimeOffset WatchingSince,
    int RefreshMs,
    int ChartSamples,
    DashboardSnapshot.TotalsView Totals,
    IReadOnlyList<DashboardSnapshot.NodeView> Nodes,
    IReadOnlyList<DashboardSnapshot.DownView> DownHistory,
    IReadOnlyList<DashboardSnapshot.NameView> Names,
    IReadOnlyList<DashboardSnapshot.SupervisorView> Supervisors,
    string SupervisorScope)
{
    /// <summary>Node status: connected, and answered the snapshot (or joined after it began).</summary>
    public const string Up = "up";

    /// <summary>Node status: connected, but its figures did not come in time.</summary>
    public const string Unresponsive = "unresponsive";

    /// <summary>Node status: not connected (lost, or learned of and not reached yet), or removed.</summary>
    public const string Down = "down";

    /// <summary>Sums over the nodes that answered, and node counts.</summary>
    internal sealed record TotalsView(int Nodes, int NodesUp, int Processes, long MailboxDepth, double MessagesPerSecond,
        double BytesInPerSecond, double BytesOutPerSecond);

    /// <summary>One node. <paramref name="Incarnation"/> is a string: it does not fit a JavaScript number.</summary>
    internal sealed record NodeView(string Id, string Name, string Address, bool Local, string Status, string? Problem,
        string Incarnation, DateTimeOffset? LastSeen, StatsView? Stats, DownView? Down);

    /// <summary>A node's own figures, as it reported them.</summary>
    internal sealed record StatsView(long UptimeMs, int Processes, long MailboxDepth, int DeepestMailbox, long Messages,
        double MessagesPerSecond, long BytesIn, long BytesOut, double BytesInPerSecond, double BytesOutPerSecond,
        long ManagedBytes, long WorkingSetBytes, IReadOnlyList<string> Peers);

    /// <summary>A node-down: reason as snake_case (<c>connection_closed</c>), removal likewise when the node left.</summary>
    internal sealed record DownView(string Node, string Incarnation, string Reason, string Cause, string Detail,
        DateTimeOffset At, DateTimeOffset? UpAgainAt, string? Removal);

    /// <summary>A global name and the process it names.</summary>
    internal sealed record NameView(string Name, string Node, string Process, string RegisteredBy);

    /// <summary>A distributed supervisor and its children.</summary>
    internal sealed record SupervisorView(string Id, string Node, string Strategy, bool Running, int ChildCount,
        int TotalRestarts, int NodeFailureRestarts, DateTimeOffset StartedAt, IReadOnlyList<ChildView> Children);

    /// <summary>A supervised child and where it runs now.</summary>
    internal sealed record ChildView(string Id, string Behavior, string Node, string Process, int RestartCount,
        DateTimeOffset StartedAt, string? GlobalName);
}
