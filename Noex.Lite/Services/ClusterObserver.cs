using System.Buffers;

namespace Noex.Lite;

/// <summary>What one node reports about itself, as numbers: load, traffic, memory and peers.</summary>
/// <param name="Node">The node.</param>
/// <param name="Timestamp">When the node took the figures, by its own clock.</param>
/// <param name="Uptime">How long the node has been running.</param>
/// <param name="ProcessCount">Processes running on it.</param>
/// <param name="MailboxDepth">Messages waiting in all its mailboxes together.</param>
/// <param name="DeepestMailbox">Messages waiting in its fullest mailbox.</param>
/// <param name="MessagesHandled">Messages (calls, casts, infos) its processes have handled since it started.</param>
/// <param name="MessagesPerSecond">Messages handled per second over the last second or two.</param>
/// <param name="BytesReceived">Bytes read from peers since it started.</param>
/// <param name="BytesSent">Bytes written to peers since it started.</param>
/// <param name="BytesReceivedPerSecond">Bytes read per second over the last second or two.</param>
/// <param name="BytesSentPerSecond">Bytes written per second over the last second or two.</param>
/// <param name="ManagedMemoryBytes">Managed heap in use (<see cref="GC.GetTotalMemory(bool)"/>); shared by nodes in one OS process.</param>
/// <param name="WorkingSetBytes">The OS process's working set; shared by nodes in one OS process.</param>
/// <param name="ConnectedPeers">The nodes it has a live connection to.</param>
public sealed record NodeStats(
    NodeId Node,
    DateTimeOffset Timestamp,
    TimeSpan Uptime,
    int ProcessCount,
    long MailboxDepth,
    int DeepestMailbox,
    long MessagesHandled,
    double MessagesPerSecond,
    long BytesReceived,
    long BytesSent,
    double BytesReceivedPerSecond,
    double BytesSentPerSecond,
    long ManagedMemoryBytes,
    long WorkingSetBytes,
    IReadOnlyList<NodeId> ConnectedPeers)
{
    /// <summary>The distributed supervisors running on the node, each with its children and where they run.</summary>
    public IReadOnlyList<SupervisorReport> Supervisors { get; init; } = [];

    /// <summary>The stats as the value carried by a snapshot reply (protocol.md §5.6).</summary>
    internal Value ToValue()
    {
        (string Key, Value Value)[] figures =
        [
            ("node", Node.ToString()),
            ("timestamp_ms", Timestamp.ToUnixTimeMilliseconds()),
            ("uptime_ms", (long)Uptime.TotalMilliseconds),
            ("process_count", ProcessCount),
            ("mailbox_depth", MailboxDepth),
            ("deepest_mailbox", DeepestMailbox),
            ("messages", MessagesHandled),
            ("messages_per_s", MessagesPerSecond),
            ("bytes_in", BytesReceived),
            ("bytes_out", BytesSent),
            ("bytes_in_per_s", BytesReceivedPerSecond),
            ("bytes_out_per_s", BytesSentPerSecond),
            ("managed_bytes", ManagedMemoryBytes),
            ("working_set_bytes", WorkingSetBytes),
            ("peers", Value.Array(ConnectedPeers.Select(p => (Value)p.ToString()))),
        ];
        // Only when there are any, so that a node without supervisors answers exactly as before this field existed.
        return Supervisors.Count == 0 ? Value.Object(figures) : Value.Object([.. figures, ("supervisors", SupervisorValues.ToValue(Supervisors))]);
    }

    /// <summary>Reads stats from a snapshot reply's value; fields a newer peer adds are ignored, missing ones read as zero.</summary>
    /// <exception cref="FormatException">The value is not an object with a valid <c>node</c> id.</exception>
    internal static NodeStats FromValue(Value value)
    {
        if (!value.TryGetProperty("node", out var node) || !node.TryGetString(out var nodeText) || !NodeId.TryParse(nodeText, out var id))
        {
            throw new FormatException("snapshot stats need a node id");
        }
        var peers = new List<NodeId>();
        if (value.TryGetProperty("peers", out var list) && list.Kind == ValueKind.Array)
        {
            foreach (var peer in list.AsArray())
            {
                if (peer.TryGetString(out var text) && NodeId.TryParse(text, out var peerId))
                {
                    peers.Add(peerId);
                }
            }
        }
        return new NodeStats(
            id,
            DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(Long(value, "timestamp_ms"), 0, 253402300799999)),
            TimeSpan.FromMilliseconds(Math.Max(0, Long(value, "uptime_ms"))),
            (int)Math.Clamp(Long(value, "process_count"), 0, int.MaxValue),
            Long(value, "mailbox_depth"),
            (int)Math.Clamp(Long(value, "deepest_mailbox"), 0, int.MaxValue),
            Long(value, "messages"),
            Double(value, "messages_per_s"),
            Long(value, "bytes_in"),
            Long(value, "bytes_out"),
            Double(value, "bytes_in_per_s"),
            Double(value, "bytes_out_per_s"),
            Long(value, "managed_bytes"),
            Long(value, "working_set_bytes"),
            peers)
        {
            Supervisors = value.TryGetProperty("supervisors", out var supervisors) ? SupervisorValues.FromValue(supervisors) : [],
        };
    }

    private static long Long(Value value, string key) => value.TryGetProperty(key, out var field) && field.TryGetInt64(out var number) ? number : 0;

    private static double Double(Value value, string key) => value.TryGetProperty(key, out var field) && field.TryGetDouble(out var number) ? number : 0;
}

/// <summary>How a node answered a cluster snapshot.</summary>
public enum NodeObservationStatus
{
    /// <summary>It answered; <see cref="NodeObservation.Stats"/> holds its figures.</summary>
    Connected,
    /// <summary>It did not answer within the snapshot's timeout (a stalled or overloaded node).</summary>
    Timeout,
    /// <summary>The query failed: the node went down, was not connected, or answered with something unreadable.</summary>
    Error,
}

/// <summary>One node's part of a cluster snapshot.</summary>
/// <param name="Node">The node.</param>
/// <param name="Status">Whether it answered.</param>
/// <param name="Stats">Its figures, when it answered; otherwise null.</param>
/// <param name="Error">Why it did not answer, when it did not.</param>
public sealed record NodeObservation(NodeId Node, NodeObservationStatus Status, NodeStats? Stats, string? Error);

/// <summary>Sums over the nodes that answered.</summary>
/// <param name="ProcessCount">Processes on all of them.</param>
/// <param name="MailboxDepth">Messages waiting in all their mailboxes.</param>
/// <param name="MessagesPerSecond">Messages handled per second, together.</param>
/// <param name="BytesReceivedPerSecond">Bytes read per second, together.</param>
/// <param name="BytesSentPerSecond">Bytes written per second, together.</param>
/// <param name="ManagedMemoryBytes">Managed memory, summed (counted once per node, even for nodes sharing an OS process).</param>
/// <param name="AnsweredNodeCount">Nodes that answered (this one included).</param>
/// <param name="TotalNodeCount">Nodes asked (this one included).</param>
public sealed record ClusterTotals(
    int ProcessCount,
    long MailboxDepth,
    double MessagesPerSecond,
    double BytesReceivedPerSecond,
    double BytesSentPerSecond,
    long ManagedMemoryBytes,
    int AnsweredNodeCount,
    int TotalNodeCount);

/// <summary>The cluster at one moment, as seen from one node.</summary>
/// <param name="Timestamp">When the snapshot was taken.</param>
/// <param name="LocalNode">The node that took it.</param>
/// <param name="Nodes">This node first, then every node that was connected when the snapshot began.</param>
/// <param name="Totals">Sums over the nodes that answered.</param>
public sealed record ClusterSnapshot(DateTimeOffset Timestamp, NodeId LocalNode, IReadOnlyList<NodeObservation> Nodes, ClusterTotals Totals);

/// <summary>
/// Cluster-wide statistics on demand and by subscription: every node's process count, mailbox depths, message and byte
/// rates, memory, uptime and peers, plus totals.
/// </summary>
/// <remarks>
/// <para>
/// A snapshot asks every connected node at once (protocol.md §5.6, snapshot_request and snapshot_reply) and waits for each
/// one at most the timeout: a node that does not answer in time is reported <see cref="NodeObservationStatus.Timeout"/> and
/// one that goes down meanwhile <see cref="NodeObservationStatus.Error"/>, without failing the snapshot. The kind of
/// failure decides which, never the text of its message.
/// </para>
/// <para>
/// Rates are computed by each node over its own last one or two seconds (sampled on the heartbeat tick), so they do not
/// depend on how often anyone asks. Thread-safe.
/// </para>
/// </remarks>
public sealed class ClusterObserver : IClusterService
{
    /// <summary>The first message type of distributed supervision and the observer (protocol.md §5.6).</summary>
    internal const byte FirstType = MessageTypes.FirstObserver;

    /// <summary>The last of them.</summary>
    internal const byte LastType = MessageTypes.LastObserver;

    /// <summary>How long a cached snapshot is reused: 2 s.</summary>
    public static readonly TimeSpan CacheTtl = TimeSpan.FromSeconds(2);

    /// <summary>How long a snapshot waits for each node by default: 5 s.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    private readonly INodeContext _node;
    private readonly TimeProvider _time;
    private readonly RequestTable<Pending> _pending = new();
    private readonly Lock _sampleLock = new();
    private readonly Lock _supervisorLock = new();
    private readonly List<Func<SupervisorReport?>> _supervisors = []; // the supervisors running here, reporting themselves (null: a standby, not reported)
    private readonly Lock _pollLock = new();
    private readonly List<Action<ClusterSnapshot>> _subscribers = new();
    private Sample _older;
    private Sample _recent;
    private long _closedBytesReceived;
    private long _closedBytesSent;
    private long _nextRequestId;
    private ClusterSnapshot? _cached;
    private long _cachedAt;
    private ITimer? _poll;
    private TimeSpan _pollInterval;
    private long _lastAsked;
    private bool _sampling = true;

    internal ClusterObserver(INodeContext node)
    {
        _node = node;
        _time = node.Options.TimeProvider;
        _older = _recent = new Sample(_time.GetTimestamp(), 0, 0, 0);
        _lastAsked = _older.Timestamp;
    }

    /// <summary>How long after the last request for statistics (local, remote or a subscription's) the heartbeat tick goes on
    /// sampling the rates. Sampling walks every process, so an idle node with a million processes would otherwise pay for
    /// statistics nobody reads.</summary>
    internal TimeSpan QuietAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Whether the last tick sampled the rates (for tests).</summary>
    internal bool IsSampling => Volatile.Read(ref _sampling);

    /// <summary>A node did not answer a snapshot in time.</summary>
    public event Action<NodeId>? NodeTimeout;

    /// <summary>A node's query failed otherwise; the exception says how.</summary>
    public event Action<NodeId, Exception>? NodeError;

    /// <summary>Snapshot requests waiting for replies (for tests: the table must not leak).</summary>
    internal int PendingCount => _pending.Count;

    /// <summary>This node's figures, now.</summary>
    /// <remarks>Rates cover the last one to two seconds while statistics are asked for; the first request after 30 s
    /// without one gets the average since the last sample, and sampling resumes from there.</remarks>
    public NodeStats GetLocalStats()
    {
        var now = _time.GetTimestamp();
        Volatile.Write(ref _lastAsked, now);
        var (handled, queued, deepest) = _node.Runtime.GetMessageStats();
        var current = TakeSample(now, handled);
        Sample baseline;
        lock (_sampleLock)
        {
            // The older sample is one to two ticks old: a window long enough that a rate is not noise.
            baseline = _older.Timestamp < now ? _older : _recent;
        }
        var seconds = Math.Max(_time.GetElapsedTime(baseline.Timestamp, now).TotalSeconds, 1e-3);
        var peers = _node.Connections.GetConnections().Select(c => c.Peer).Distinct().ToArray();
        return new NodeStats(
            _node.Id,
            _time.GetUtcNow(),
            _node.Uptime,
            _node.Runtime.ProcessCount,
            queued,
            deepest,
            current.Messages,
            Math.Max(0, (current.Messages - baseline.Messages) / seconds),
            current.BytesReceived,
            current.BytesSent,
            Math.Max(0, (current.BytesReceived - baseline.BytesReceived) / seconds),
            Math.Max(0, (current.BytesSent - baseline.BytesSent) / seconds),
            GC.GetTotalMemory(false),
            Environment.WorkingSet,
            peers)
        {
            Supervisors = ReportSupervisors(),
        };
    }

    /// <summary>
    /// Makes <paramref name="report"/> part of this node's stats until the result is disposed: how a distributed
    /// supervisor (a layer above this one) puts itself in every snapshot of the cluster. A report of null (a standby
    /// member of a named supervisor) is left out, so that each supervisor shows once, where it acts.
    /// </summary>
    internal IDisposable AddSupervisor(Func<SupervisorReport?> report)
    {
        lock (_supervisorLock)
        {
            _supervisors.Add(report);
        }
        return new SupervisorRegistration(this, report);
    }

    private SupervisorReport[] ReportSupervisors()
    {
        Func<SupervisorReport?>[] reports;
        lock (_supervisorLock)
        {
            if (_supervisors.Count == 0)
            {
                return [];
            }
            reports = [.. _supervisors];
        }
        return [.. reports.Select(r => r()).OfType<SupervisorReport>()];
    }

    private sealed class SupervisorRegistration(ClusterObserver observer, Func<SupervisorReport?> report) : IDisposable
    {
        public void Dispose()
        {
            lock (observer._supervisorLock)
            {
                observer._supervisors.Remove(report);
            }
        }
    }

    /// <summary>Asks one node for its figures.</summary>
    /// <param name="node">The node; this node's own figures are returned directly.</param>
    /// <param name="timeout">How long to wait; null for <see cref="DefaultTimeout"/>.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Its figures.</returns>
    /// <exception cref="NodeNotReachableException">The node is not connected, or went down before it answered.</exception>
    /// <exception cref="TimeoutException">It did not answer in time.</exception>
    public async Task<NodeStats> GetNodeStatsAsync(NodeId node, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (node == _node.Id)
        {
            return GetLocalStats();
        }
        if (!_node.Connections.TryGetConnection(node, out var connection))
        {
            throw new NodeNotReachableException(node, "not connected");
        }
        return await AskAsync(connection, timeout ?? DefaultTimeout, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes a snapshot of the cluster: this node and every connected node, each asked at once and waited for at most
    /// <paramref name="timeout"/>. A node that does not answer is reported as such; the snapshot itself does not fail.
    /// </summary>
    /// <param name="timeout">How long to wait for each node; null for <see cref="DefaultTimeout"/>.</param>
    /// <param name="useCache">Whether a snapshot younger than <see cref="CacheTtl"/> may be returned instead.</param>
    /// <param name="cancellationToken">Cancels the snapshot.</param>
    /// <returns>The snapshot.</returns>
    public async Task<ClusterSnapshot> GetSnapshotAsync(TimeSpan? timeout = null, bool useCache = true, CancellationToken cancellationToken = default)
    {
        if (useCache && Volatile.Read(ref _cached) is { } cached && _time.GetElapsedTime(Interlocked.Read(ref _cachedAt)) < CacheTtl)
        {
            return cached;
        }
        var wait = timeout ?? DefaultTimeout;
        var connections = _node.Connections.GetConnections();
        var asks = new Task<NodeObservation>[connections.Length];
        for (var i = 0; i < connections.Length; i++)
        {
            asks[i] = ObserveAsync(connections[i], wait, cancellationToken);
        }
        var local = new NodeObservation(_node.Id, NodeObservationStatus.Connected, GetLocalStats(), null);
        var nodes = new List<NodeObservation>(connections.Length + 1) { local };
        nodes.AddRange(await Task.WhenAll(asks).ConfigureAwait(false));
        var answered = nodes.Where(n => n.Stats is not null).Select(n => n.Stats!).ToArray();
        var snapshot = new ClusterSnapshot(_time.GetUtcNow(), _node.Id, nodes, new ClusterTotals(
            answered.Sum(s => s.ProcessCount),
            answered.Sum(s => s.MailboxDepth),
            answered.Sum(s => s.MessagesPerSecond),
            answered.Sum(s => s.BytesReceivedPerSecond),
            answered.Sum(s => s.BytesSentPerSecond),
            answered.Sum(s => s.ManagedMemoryBytes),
            answered.Length,
            nodes.Count));
        Interlocked.Exchange(ref _cachedAt, _time.GetTimestamp());
        Volatile.Write(ref _cached, snapshot);
        return snapshot;
    }

    /// <summary>Forgets the cached snapshot, so that the next one asks every node again.</summary>
    public void InvalidateCache() => Volatile.Write(ref _cached, null);

    /// <summary>
    /// Delivers a fresh snapshot to <paramref name="handler"/> every <paramref name="interval"/> (the first at once). All
    /// subscribers share one timer, whose interval is the first subscriber's; it stops when the last one leaves.
    /// </summary>
    /// <param name="interval">How often to take a snapshot.</param>
    /// <param name="handler">Called with each snapshot, on a pool thread; its exceptions are swallowed.</param>
    /// <returns>Dispose it to unsubscribe.</returns>
    public IDisposable Subscribe(TimeSpan interval, Action<ClusterSnapshot> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(interval, TimeSpan.Zero);
        lock (_pollLock)
        {
            _subscribers.Add(handler);
            if (_poll is null)
            {
                _pollInterval = interval;
                _poll = _time.CreateTimer(static state => _ = ((ClusterObserver)state!).PollAsync(), this, TimeSpan.Zero, interval);
            }
        }
        return new Subscription(this, handler);
    }

    private async Task PollAsync()
    {
        ClusterSnapshot snapshot;
        try
        {
            // A poll never waits longer than its own interval for a node, so polls do not pile up.
            snapshot = await GetSnapshotAsync(_pollInterval < DefaultTimeout ? _pollInterval : DefaultTimeout, useCache: false).ConfigureAwait(false);
        }
        catch (Exception)
        {
            return;
        }
        Action<ClusterSnapshot>[] handlers;
        lock (_pollLock)
        {
            handlers = _subscribers.ToArray();
        }
        foreach (var handler in handlers)
        {
            try
            {
                handler(snapshot);
            }
            catch (Exception)
            {
                // A subscriber's failure is its own.
            }
        }
    }

    private void Unsubscribe(Action<ClusterSnapshot> handler)
    {
        ITimer? stop = null;
        lock (_pollLock)
        {
            if (_subscribers.Remove(handler) && _subscribers.Count == 0)
            {
                stop = _poll;
                _poll = null;
            }
        }
        stop?.Dispose();
    }

    private async Task<NodeObservation> ObserveAsync(Connection connection, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            var stats = await AskAsync(connection, timeout, cancellationToken).ConfigureAwait(false);
            return new NodeObservation(connection.Peer, NodeObservationStatus.Connected, stats, null);
        }
        catch (TimeoutException e)
        {
            Raise(NodeTimeout, connection.Peer);
            return new NodeObservation(connection.Peer, NodeObservationStatus.Timeout, null, e.Message);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            foreach (var handler in NodeError?.GetInvocationList() ?? [])
            {
                try
                {
                    ((Action<NodeId, Exception>)handler)(connection.Peer, e);
                }
                catch (Exception)
                {
                }
            }
            return new NodeObservation(connection.Peer, NodeObservationStatus.Error, null, e.Message);
        }
    }

    private async Task<NodeStats> AskAsync(Connection connection, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var id = Interlocked.Increment(ref _nextRequestId);
        var pending = new Pending(connection, new TaskCompletionSource<NodeStats>(TaskCreationOptions.RunContinuationsAsynchronously));
        _pending.Add(id, pending);
        try
        {
            if (connection.TryEnqueue(new SnapshotRequest((ulong)id)) != EnqueueResult.Queued)
            {
                throw new NodeNotReachableException(connection.Peer, "the connection closed or its queue is full");
            }
            try
            {
                return await pending.Reply.Task.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                throw new TimeoutException($"Node {connection.Peer} did not answer the snapshot request within {timeout.TotalMilliseconds:0} ms.");
            }
        }
        finally
        {
            // Whatever ended the wait, the entry goes (if the reply or the close has not taken it): the table holds only
            // requests still waiting.
            _pending.TryTake(id, out _);
        }
    }

    private Sample TakeSample(long now) => TakeSample(now, _node.Runtime.GetMessageStats().Handled);

    private Sample TakeSample(long now, long handled)
    {
        long received = Interlocked.Read(ref _closedBytesReceived), sent = Interlocked.Read(ref _closedBytesSent);
        foreach (var connection in _node.Connections.GetConnections())
        {
            received += connection.BytesReceived;
            sent += connection.BytesSent;
        }
        return new Sample(now, handled, received, sent);
    }

    bool IClusterService.OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        var body = new WireReader(message[1..]);
        switch (message[0])
        {
            case MessageTypes.SnapshotRequest when body.TryReadUInt64(out var requestId) && body.End:
                // Answered on the read loop: the figures are a walk over the process table, quick and lock-free.
                connection.TryEnqueue(new SnapshotReply(requestId, GetLocalStats().ToValue()), force: true);
                return true;
            case MessageTypes.SnapshotReply when body.TryReadUInt64(out var requestId) && body.TryReadValue(out var value):
                if (_pending.TryTake((long)requestId, connection, out var pending))
                {
                    try
                    {
                        pending.Reply.TrySetResult(NodeStats.FromValue(value));
                    }
                    catch (FormatException e)
                    {
                        Fail(pending.Reply, new NoexException($"Node {connection.Peer} sent unreadable stats: {e.Message}", e));
                    }
                }
                return true;
            default:
                // Types 0x32-0x37 are reserved for distributed supervision; none is defined yet.
                return false;
        }
    }

    void IClusterService.OnConnectionUp(Connection connection)
    {
    }

    void IClusterService.OnConnectionClosed(Connection connection, NodeDownReason reason)
    {
        Interlocked.Add(ref _closedBytesReceived, connection.BytesReceived);
        Interlocked.Add(ref _closedBytesSent, connection.BytesSent);
        foreach (var pending in _pending.TakeAll(connection))
        {
            Fail(pending.Reply, new NodeNotReachableException(connection.Peer, $"the node went down ({reason}) before it answered"));
        }
    }

    void IClusterService.OnTick()
    {
        var now = _time.GetTimestamp();
        bool subscribed;
        lock (_pollLock)
        {
            subscribed = _subscribers.Count > 0;
        }
        if (!subscribed && _time.GetElapsedTime(Volatile.Read(ref _lastAsked), now) > QuietAfter)
        {
            // Nobody has asked for a while: no walk of the process table on every tick.
            Volatile.Write(ref _sampling, false);
            return;
        }
        Volatile.Write(ref _sampling, true);
        var sample = TakeSample(now);
        lock (_sampleLock)
        {
            // Rates look back one to two seconds: shift only once the recent sample is a second old.
            if (_time.GetElapsedTime(_recent.Timestamp, now) >= TimeSpan.FromSeconds(1))
            {
                _older = _recent;
                _recent = sample;
            }
        }
    }

    /// <summary>Fails a request; its waiter may have given up already, so the failure is marked observed (no unobserved-task noise).</summary>
    private static void Fail(TaskCompletionSource<NodeStats> reply, Exception error)
    {
        if (reply.TrySetException(error))
        {
            _ = reply.Task.Exception;
        }
    }

    private static void Raise(Action<NodeId>? handlers, NodeId node)
    {
        foreach (var handler in handlers?.GetInvocationList() ?? [])
        {
            try
            {
                ((Action<NodeId>)handler)(node);
            }
            catch (Exception)
            {
            }
        }
    }

    private readonly record struct Sample(long Timestamp, long Messages, long BytesReceived, long BytesSent);

    /// <summary>A snapshot request waiting for its reply; <see cref="AskAsync"/> waits for it with its own timeout and takes
    /// it out of the table whatever ends the wait, so the tick has nothing to sweep.</summary>
    private readonly record struct Pending(Connection Connection, TaskCompletionSource<NodeStats> Reply) : IPendingRequest
    {
        public bool IsFinished => Reply.Task.IsCompleted;
    }

    private sealed class Subscription(ClusterObserver observer, Action<ClusterSnapshot> handler) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                observer.Unsubscribe(handler);
            }
        }
    }

    /// <summary><c>0x30 snapshot_request: request_id u64</c>.</summary>
    internal readonly struct SnapshotRequest(ulong requestId) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.SnapshotRequest);
            writer.WriteUInt64(requestId);
            writer.Commit();
        }
    }

    /// <summary><c>0x31 snapshot_reply: request_id u64, stats value</c>.</summary>
    internal readonly struct SnapshotReply(ulong requestId, Value stats) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.SnapshotReply);
            writer.WriteUInt64(requestId);
            writer.WriteValue(stats);
            writer.Commit();
        }
    }
}
