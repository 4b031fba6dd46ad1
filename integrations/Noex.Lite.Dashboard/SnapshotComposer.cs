using System.Globalization;
using System.Text;

namespace Noex.Lite.Dashboard;

/// <summary>
/// Puts a <see cref="DashboardSnapshot"/> together from what the node knows: the observer's figures, the membership, the
/// dashboard's down history, the global registry and the tracked supervisors. Pure: the same sources give the same
/// snapshot, so tests can feed it directly.
/// </summary>
internal static class SnapshotComposer
{
    /// <summary>What the supervisors list covers, for the page.</summary>
    public const string SupervisorScope =
        "Every distributed supervisor running on a node that answered this snapshot, as its own node reports it, with where each child runs now.";

    /// <summary>Everything a snapshot is made of.</summary>
    internal sealed record Sources(
        NoexDashboardOptions Options,
        NodeId LocalNode,
        DateTimeOffset Now,
        DateTimeOffset WatchingSince,
        ClusterSnapshot Cluster,
        IReadOnlyList<NodeInfo> Members,
        IReadOnlyList<NodeDownRecord> DownHistory,
        IReadOnlyList<GlobalRegistration> Names);

    public static DashboardSnapshot Compose(Sources sources)
    {
        var observed = new Dictionary<NodeId, NodeObservation>();
        foreach (var observation in sources.Cluster.Nodes)
        {
            observed.TryAdd(observation.Node, observation);
        }
        // Newest first, so the first record of a node is its latest.
        var latestDown = new Dictionary<NodeId, NodeDownRecord>();
        foreach (var record in sources.DownHistory)
        {
            latestDown.TryAdd(record.Node, record);
        }
        var members = sources.Members.Where(m => m.Id != sources.LocalNode).ToDictionary(m => m.Id);

        var nodes = new List<DashboardSnapshot.NodeView>
        {
            NodeOf(sources.LocalNode, local: true, DashboardSnapshot.Up, problem: null, incarnation: null, lastSeen: null,
                observed.GetValueOrDefault(sources.LocalNode)?.Stats, down: null),
        };
        // Members (connected or not), and nodes known only from the history: removed, but remembered here.
        var others = members.Keys.Concat(latestDown.Keys).Where(id => id != sources.LocalNode).Distinct().Order();
        foreach (var id in others)
        {
            members.TryGetValue(id, out var member);
            latestDown.TryGetValue(id, out var down);
            observed.TryGetValue(id, out var observation);
            if (member is { Status: NodeStatus.Connected })
            {
                var (status, problem) = observation?.Status switch
                {
                    NodeObservationStatus.Timeout or NodeObservationStatus.Error => (DashboardSnapshot.Unresponsive, observation.Error),
                    _ => (DashboardSnapshot.Up, null),
                };
                nodes.Add(NodeOf(id, local: false, status, problem, member.Incarnation, member.LastSeen, observation?.Stats, down: null));
            }
            else
            {
                var problem = member is null ? "removed from the cluster"
                    : down is null ? (member.Incarnation == 0 ? "not reached yet" : "not connected")
                    : null;
                var current = down is { UpAgainAt: null } ? down : null;
                nodes.Add(NodeOf(id, local: false, DashboardSnapshot.Down, current is null ? problem : null,
                    member?.Incarnation ?? down?.Incarnation, member?.LastSeen, stats: null, current));
            }
        }

        var answered = nodes.Where(n => n.Stats is not null).Select(n => n.Stats!).ToArray();
        var totals = new DashboardSnapshot.TotalsView(
            nodes.Count,
            nodes.Count(n => n.Status != DashboardSnapshot.Down),
            answered.Sum(s => s.Processes),
            answered.Sum(s => s.MailboxDepth),
            Rate(answered.Sum(s => s.MessagesPerSecond)),
            Rate(answered.Sum(s => s.BytesInPerSecond)),
            Rate(answered.Sum(s => s.BytesOutPerSecond)));

        return new DashboardSnapshot(
            sources.Options.Title,
            sources.LocalNode.ToString(),
            sources.Now,
            sources.WatchingSince,
            (int)sources.Options.RefreshInterval.TotalMilliseconds,
            sources.Options.ChartSamples,
            totals,
            nodes,
            sources.DownHistory.Select(DownOf).ToArray(),
            sources.Names.Select(n => new DashboardSnapshot.NameView(n.Name, n.Target.Node, n.Target.ToString(), n.RegisteredBy.ToString())).ToArray(),
            // Each node reports the supervisors it runs (NodeStats.Supervisors): together, every one of the cluster.
            observed.Values.Where(o => o.Stats is not null)
                .OrderBy(o => o.Node != sources.LocalNode).ThenBy(o => o.Node)
                .SelectMany(o => o.Stats!.Supervisors.Select(s => SupervisorOf(o.Node.ToString(), s)))
                .ToArray(),
            SupervisorScope);
    }

    /// <summary><c>ConnectionClosed</c> → <c>connection_closed</c>, the form the library's logs and the tour use.</summary>
    public static string Snake(string name)
    {
        var text = new StringBuilder(name.Length + 4);
        foreach (var c in name)
        {
            if (char.IsUpper(c) && text.Length > 0)
            {
                text.Append('_');
            }
            text.Append(char.ToLowerInvariant(c));
        }
        return text.ToString();
    }

    private static DashboardSnapshot.NodeView NodeOf(NodeId id, bool local, string status, string? problem, ulong? incarnation,
        DateTimeOffset? lastSeen, NodeStats? stats, NodeDownRecord? down) =>
        new(id.ToString(), id.Name, $"{id.Host}:{id.Port.ToString(CultureInfo.InvariantCulture)}", local, status, problem,
            (incarnation ?? 0).ToString(CultureInfo.InvariantCulture), lastSeen, stats is null ? null : StatsOf(stats),
            down is null ? null : DownOf(down));

    private static DashboardSnapshot.StatsView StatsOf(NodeStats stats) => new(
        (long)stats.Uptime.TotalMilliseconds,
        stats.ProcessCount,
        stats.MailboxDepth,
        stats.DeepestMailbox,
        stats.MessagesHandled,
        Rate(stats.MessagesPerSecond),
        stats.BytesReceived,
        stats.BytesSent,
        Rate(stats.BytesReceivedPerSecond),
        Rate(stats.BytesSentPerSecond),
        stats.ManagedMemoryBytes,
        stats.WorkingSetBytes,
        stats.ConnectedPeers.Select(p => p.ToString()).Order(StringComparer.Ordinal).ToArray());

    private static DashboardSnapshot.DownView DownOf(NodeDownRecord record) => new(
        record.Node.ToString(),
        record.Incarnation.ToString(CultureInfo.InvariantCulture),
        Snake(record.Reason.ToString()),
        record.Cause,
        record.Detail,
        record.At,
        record.UpAgainAt,
        record.Removal is { } removal ? Snake(removal.ToString()) : null);

    private static DashboardSnapshot.SupervisorView SupervisorOf(string node, SupervisorReport supervisor)
    {
        var children = supervisor.Children.Select(c => new DashboardSnapshot.ChildView(
            c.Id, c.Behavior, c.Process.Node, c.Process.ToString(), c.Restarts, c.StartedAt, c.GlobalName)).ToArray();
        return new DashboardSnapshot.SupervisorView(supervisor.Id, node, supervisor.Strategy, Running: true, children.Length,
            supervisor.TotalRestarts, supervisor.NodeFailureRestarts, supervisor.StartedAt, children);
    }

    /// <summary>A rate as JSON can carry it (a peer's figures could be anything) and the page needs it: two decimals.</summary>
    private static double Rate(double value) => double.IsFinite(value) && value > 0 ? Math.Round(value, 2) : 0;
}
