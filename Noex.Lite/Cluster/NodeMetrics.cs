using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Noex.Lite;

/// <summary>
/// The node-level instruments of the <c>Noex.Lite</c> meter: processes, messages waiting in mailboxes, the deepest mailbox,
/// peers connected, and the runtime's dead letters. All are observable: they are read when a listener collects, so no
/// message, process start or connection pays for them. Each running node reports one measurement, tagged <c>node</c> with
/// its id (one process may run several nodes; usually it runs one, so the tag costs nothing in cardinality).
/// </summary>
internal static class NodeMetrics
{
    /// <summary>
    /// The least time one walk of a node's mailboxes serves: the two mailbox gauges of one collection share a walk, and a
    /// listener that collects many times a second does not walk the table each time.
    /// </summary>
    private static readonly TimeSpan s_mailboxWalkReuse = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// A walk also serves for this many times its own duration, so that walking costs at most 1% of one core however
    /// large the table: one takes about 85 ns a process (measured with 200,000; the mailboxes are scattered in memory),
    /// so a million processes refresh their mailbox gauges every 8.5 s or so.
    /// </summary>
    private const int MailboxWalkCostShare = 100;

    /// <summary>The most time one walk serves, however long it took (a walk slowed by a pause must not stall the gauges).</summary>
    private static readonly TimeSpan s_mailboxWalkMaxReuse = TimeSpan.FromSeconds(30);

    private static readonly ConcurrentDictionary<Mesh, NodeGauges> s_nodes = new();

    static NodeMetrics()
    {
        var meter = Telemetry.Meter;
        meter.CreateObservableGauge("noex.processes", () => Measure(static g => g.Mesh.Runtime.ProcessCount), "{process}",
            "Processes running on the node.");
        meter.CreateObservableGauge("noex.mailbox.messages", () => Measure(static g => g.Mailboxes().Queued), "{message}",
            "Messages waiting in the node's mailboxes.");
        meter.CreateObservableGauge("noex.mailbox.deepest", () => Measure(static g => g.Mailboxes().Deepest), "{message}",
            "Messages waiting in the node's fullest mailbox.");
        meter.CreateObservableGauge("noex.nodes.connected", () => Measure(static g => g.Mesh.ConnectedCount), "{node}",
            "Other nodes this node is connected to (counts as up).");
        meter.CreateObservableCounter("noex.process.dead_letters", () => Measure(static g => g.Mesh.Runtime.DeadLetters), "{message}",
            "Messages that reached no process on the node: casts and sends to a process that is gone, or dropped by a full mailbox.");
    }

    /// <summary>Reports <paramref name="mesh"/>'s node from now on.</summary>
    public static void Add(Mesh mesh) => s_nodes.TryAdd(mesh, new NodeGauges(mesh));

    /// <summary>Stops reporting <paramref name="mesh"/>'s node (it stopped).</summary>
    public static void Remove(Mesh mesh) => s_nodes.TryRemove(mesh, out _);

    private static IEnumerable<Measurement<long>> Measure(Func<NodeGauges, long> read)
    {
        foreach (var gauges in s_nodes.Values)
        {
            yield return new Measurement<long>(read(gauges), gauges.Tag);
        }
    }

    /// <summary>One node's tag and its last walk of the mailboxes.</summary>
    private sealed class NodeGauges(Mesh mesh)
    {
        private MailboxWalk? _last;

        public Mesh Mesh { get; } = mesh;

        public KeyValuePair<string, object?> Tag { get; } = new("node", mesh.Id.ToString());

        /// <summary>The messages waiting and the deepest mailbox, from a walk no older than it may serve
        /// (<see cref="MailboxWalk.Serves"/>).</summary>
        public MailboxWalk Mailboxes()
        {
            // The real clock, not the node's TimeProvider: what is saved is CPU time, and a test's frozen clock must not
            // freeze the gauge.
            var last = Volatile.Read(ref _last);
            if (last is not null && Stopwatch.GetElapsedTime(last.At) < last.Serves)
            {
                return last;
            }
            var started = Stopwatch.GetTimestamp();
            var (queued, deepest) = Mesh.Runtime.GetQueueStats();
            var now = Stopwatch.GetTimestamp();
            // Two collections at once may both walk; either result is as fresh as the other.
            var walk = new MailboxWalk(queued, deepest, now, Stopwatch.GetElapsedTime(started, now));
            Volatile.Write(ref _last, walk);
            return walk;
        }
    }

    /// <summary>One walk's figures, when it ended (a <see cref="Stopwatch"/> timestamp) and how long it took.</summary>
    private sealed record MailboxWalk(long Queued, long Deepest, long At, TimeSpan Cost)
    {
        /// <summary>How long it serves before the next collection walks again.</summary>
        public TimeSpan Serves { get; } = TimeSpan.FromTicks(Math.Clamp(Cost.Ticks * MailboxWalkCostShare, s_mailboxWalkReuse.Ticks, s_mailboxWalkMaxReuse.Ticks));
    }
}
