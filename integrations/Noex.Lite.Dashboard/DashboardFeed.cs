using System.Runtime.CompilerServices;

namespace Noex.Lite.Dashboard;

/// <summary>
/// What a dashboard knows of one node beyond what the node itself keeps: the history of node-downs (the cluster forgets
/// a lost node once it is removed; this does not), and one shared snapshot per refresh for all the pages that are open.
/// </summary>
/// <remarks>
/// <para>
/// There is one feed per node (<see cref="For"/>), shared by every dashboard mapped for it. It records node-downs from
/// the moment it is created: the dashboard creates it when it is mapped with a node, or at the first request when the
/// node comes from a delegate or from DI. Call <see cref="For"/> when the node starts to record from then on.
/// </para>
/// <para>
/// Supervisors need nothing here: every node reports the distributed supervisors it runs in its stats
/// (<see cref="NodeStats.Supervisors"/>), so a snapshot holds all of the cluster's.
/// </para>
/// <para>Thread-safe.</para>
/// </remarks>
public sealed class DashboardFeed
{
    /// <summary>How many node-downs the history keeps; the oldest go first.</summary>
    public const int HistoryLimit = 200;

    private static readonly ConditionalWeakTable<Node, DashboardFeed> s_feeds = new();

    private readonly Lock _lock = new();
    private readonly List<NodeDownRecord> _downs = new(); // oldest first
    private readonly TimeProvider _time;
    private Task<DashboardSnapshot>? _latest;
    private long _latestStarted;

    private DashboardFeed(Node node)
    {
        Node = node;
        _time = node.Options.TimeProvider;
        WatchingSince = _time.GetUtcNow();
        node.NodeDown += OnNodeDown;
        node.NodeUp += OnNodeUp;
        node.NodeRemoved += OnNodeRemoved;
    }

    /// <summary>The node.</summary>
    public Node Node { get; }

    /// <summary>When the feed began recording node-downs.</summary>
    public DateTimeOffset WatchingSince { get; }

    /// <summary>The feed of <paramref name="node"/>, created (and recording from now on) if it has none yet.</summary>
    /// <param name="node">The node.</param>
    /// <returns>Its feed; the same one on every call.</returns>
    public static DashboardFeed For(Node node)
    {
        ArgumentNullException.ThrowIfNull(node);
        return s_feeds.GetValue(node, static n => new DashboardFeed(n));
    }

    /// <summary>The node-downs recorded, newest first (a copy).</summary>
    public IReadOnlyList<NodeDownRecord> GetDownHistory()
    {
        lock (_lock)
        {
            var copy = _downs.ToArray();
            Array.Reverse(copy);
            return copy;
        }
    }

    /// <summary>
    /// The current snapshot. Requests within half an interval of the last one share it, and so does every request while
    /// one is being taken, so that any number of open pages costs the cluster one snapshot per refresh.
    /// </summary>
    /// <param name="options">The refresh interval (for the sharing) and the per-node timeout.</param>
    internal Task<DashboardSnapshot> GetSnapshotAsync(NoexDashboardOptions options)
    {
        lock (_lock)
        {
            if (_latest is { } latest && (!latest.IsCompleted || _time.GetElapsedTime(_latestStarted) < options.RefreshInterval / 2))
            {
                return latest;
            }
            _latestStarted = _time.GetTimestamp();
            // Not on the caller's token: the snapshot is shared; each caller gives up on its own wait instead.
            return _latest = TakeAsync(options);
        }
    }

    private async Task<DashboardSnapshot> TakeAsync(NoexDashboardOptions options)
    {
        var cluster = await Node.Observer.GetSnapshotAsync(options.SnapshotTimeout, useCache: false).ConfigureAwait(false);
        return SnapshotComposer.Compose(new SnapshotComposer.Sources(
            options,
            Node.Id,
            _time.GetUtcNow(),
            WatchingSince,
            cluster,
            Node.GetNodes(),
            GetDownHistory(),
            Node.GlobalRegistry.GetEntries()));
    }

    private void OnNodeDown(NodeDownEvent down)
    {
        var record = new NodeDownRecord(down.Node, down.Incarnation, down.Reason, down.Cause, down.Detail, _time.GetUtcNow());
        lock (_lock)
        {
            _downs.Add(record);
            if (_downs.Count > HistoryLimit)
            {
                _downs.RemoveAt(0);
            }
        }
    }

    private void OnNodeUp(NodeInfo up) => UpdateLatest(up.Id, record => record.UpAgainAt is null ? record with { UpAgainAt = _time.GetUtcNow() } : record);

    private void OnNodeRemoved(NodeRemovedEvent removed) => UpdateLatest(removed.Node, record => record.Removal is null ? record with { Removal = removed.Reason } : record);

    /// <summary>Changes the newest record of <paramref name="node"/>, if there is one.</summary>
    private void UpdateLatest(NodeId node, Func<NodeDownRecord, NodeDownRecord> change)
    {
        lock (_lock)
        {
            var index = _downs.FindLastIndex(r => r.Node == node);
            if (index >= 0)
            {
                _downs[index] = change(_downs[index]);
            }
        }
    }
}
