using System.Buffers;

namespace Noex.Lite;

/// <summary>
/// Monitors across nodes (protocol.md §5.5): the watcher side's table of monitors on processes of other nodes and the
/// target side's table of watchers on other nodes.
/// </summary>
/// <remarks>
/// <para>
/// Two ways in. <see cref="ProcessRuntime.Monitor"/> with a remote target is Erlang's <c>monitor/2</c>: it returns the
/// monitor at once and never throws for the network; an unreachable node delivers a down message <c>noconnection</c>.
/// <see cref="MonitorAsync"/> waits for the target node's acknowledgement instead, and throws
/// <see cref="NodeNotReachableException"/> (not connected, or the connection closed before the acknowledgement) or
/// <see cref="RemoteMonitorTimeoutException"/>; when it throws, no down message follows.
/// </para>
/// <para>
/// The watcher's process keeps its own record of every monitor, as for local ones, and a down message is delivered only
/// if that record is still there when the process takes it: so each monitor fires once, and never after
/// <see cref="ProcessRuntime.Demonitor"/> returns, whatever is still in flight. Both tables change under one lock, and
/// messages are queued on the connection inside it, so the order on the wire is the order of the decisions (a request
/// before its demonitor, an acknowledgement before its down message). A connection that closes fires every monitor sent
/// over it (<c>noconnection</c>) and drops every monitor that arrived on it; monitors are not re-armed on reconnect.
/// </para>
/// </remarks>
public sealed class RemoteMonitor : IClusterService
{
    /// <summary>The first message type this layer owns (protocol.md §5.5).</summary>
    internal const byte FirstType = MessageTypes.FirstMonitor;

    /// <summary>The last of them.</summary>
    internal const byte LastType = MessageTypes.LastMonitor;

    /// <summary>The default wait for the acknowledgement: 10 s.</summary>
    private static readonly TimeSpan s_defaultTimeout = TimeSpan.FromSeconds(10);

    private readonly INodeContext _node;
    private readonly ProcessRuntime _runtime;
    private readonly Lock _lock = new();
    // Watcher side: monitors of this node's processes on remote targets, and the same ids by watcher.
    private readonly Dictionary<long, Outgoing> _outgoing = new();
    private readonly Dictionary<long, HashSet<long>> _outgoingByWatcher = new();
    // Target side: monitors from other nodes on this node's processes, by (connection, monitor id) and by target.
    private readonly Dictionary<(Connection Connection, long Id), long> _incoming = new();
    // By connection, so that a closed connection fails its own monitors without a walk of every monitor of the node: the
    // down messages of a lost node come right after its node-down event, whatever else is monitored.
    private readonly ConnectionIndex<long> _outgoingByConnection = new();
    private readonly ConnectionIndex<long> _incomingByConnection = new();
    private readonly Dictionary<long, HashSet<(Connection Connection, long Id)>> _incomingByTarget = new();
    // Entries of both tables; read without the lock by OnExit, so that processes ending where nothing is monitored
    // across nodes never take the lock (see OnExit for why a stale zero is safe).
    private int _count;

    internal RemoteMonitor(INodeContext node)
    {
        _node = node;
        _runtime = node.Runtime;
    }

    /// <summary>Monitors this node's processes have on processes of other nodes.</summary>
    public int OutgoingCount
    {
        get
        {
            using (_lock.EnterScope())
            {
                return _outgoing.Count;
            }
        }
    }

    /// <summary>Monitors processes of other nodes have on this node's processes.</summary>
    public int IncomingCount
    {
        get
        {
            using (_lock.EnterScope())
            {
                return _incoming.Count;
            }
        }
    }

    /// <summary>
    /// Monitors <paramref name="target"/> and waits until its node has acknowledged. A target that does not exist is
    /// acknowledged too: the watcher then receives a down message <c>noproc</c>.
    /// </summary>
    /// <param name="watcher">The local process to tell; must be running.</param>
    /// <param name="target">The process to watch; a local one is monitored locally, without waiting.</param>
    /// <param name="timeout">How long to wait for the acknowledgement; null for 10 s.</param>
    /// <param name="cancellationToken">Abandons the wait; the monitor is then removed.</param>
    /// <returns>The monitor, for <see cref="Demonitor"/> or <see cref="ProcessRuntime.Demonitor"/>.</returns>
    /// <exception cref="ServerNotRunningException">The watcher is not running.</exception>
    /// <exception cref="NodeNotReachableException">The target's node is not connected, or its connection closed before it acknowledged; no down message follows.</exception>
    /// <exception cref="RemoteMonitorTimeoutException">No acknowledgement within <paramref name="timeout"/>; the monitor was removed and no down message follows.</exception>
    public async Task<MonitorRef> MonitorAsync(ProcessRef watcher, ProcessRef target, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        if (!_runtime.IsRemote(target))
        {
            return _runtime.Monitor(watcher, target);
        }
        var watcherCell = _runtime.GetCell(watcher);
        if (!_node.Connections.TryGetConnection(target.Node, out var connection))
        {
            throw new NodeNotReachableException(target.Node, "not connected");
        }
        var monitor = new MonitorRef(watcher, target, _runtime.NextMonitorId());
        if (!watcherCell.AddOwnMonitor(monitor.Id, watcherCell))
        {
            throw new ServerNotRunningException(watcher);
        }
        var ack = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!Add(watcherCell, monitor, connection, ack))
        {
            watcherCell.RemoveOwnMonitor(monitor.Id, out _);
            throw new NodeNotReachableException(target.Node, "the connection closed");
        }
        var wait = timeout ?? s_defaultTimeout;
        try
        {
            await ack.Task.WaitAsync(wait, _runtime.TimeProvider, cancellationToken).ConfigureAwait(false);
            return monitor;
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            // The acknowledgement may have come as the wait ended; then the monitor stands.
            if (ack.Task.IsCompletedSuccessfully)
            {
                return monitor;
            }
            watcherCell.RemoveOwnMonitor(monitor.Id, out _);
            Unwatch(monitor);
            if (e is TimeoutException)
            {
                throw new RemoteMonitorTimeoutException(target, wait);
            }
            throw;
        }
        catch (Exception)
        {
            // Node unreachable, or the watcher ended: no down message for a monitor that never stood.
            watcherCell.RemoveOwnMonitor(monitor.Id, out _);
            throw;
        }
    }

    /// <summary>Removes a monitor (as <see cref="ProcessRuntime.Demonitor"/>): after this returns no down message for it is delivered.</summary>
    /// <param name="monitor">The monitor.</param>
    /// <returns>True if it was active.</returns>
    public bool Demonitor(MonitorRef monitor) => _runtime.Demonitor(monitor);

    /// <summary>The transparent path (<see cref="ProcessRuntime.Monitor"/>): never throws; an unreachable node is a down message <c>noconnection</c>.</summary>
    internal void Watch(ProcessCell watcher, MonitorRef monitor)
    {
        if (!_node.Connections.TryGetConnection(monitor.Target.Node, out var connection) || !Add(watcher, monitor, connection, null))
        {
            watcher.PostSystem(new DownSignal(monitor, ExitReason.NoConnection));
        }
    }

    /// <summary>Drops the watcher side's entry and tells the target's node (the watcher's own record is already gone).</summary>
    internal void Unwatch(MonitorRef monitor)
    {
        using (_lock.EnterScope())
        {
            if (RemoveOutgoing(monitor.Id) is { } entry)
            {
                entry.Connection.TryEnqueue(new IdMessage(MessageTypes.Demonitor, monitor.Id), force: true);
            }
        }
    }

    /// <summary>A local process ended: tell the nodes watching it, and withdraw the monitors it had on other nodes.</summary>
    internal void OnExit(ProcessCell cell, ExitReason reason)
    {
        // Safe without the lock: Add counts its entry (a full fence) before it checks that the process is alive, and the
        // teardown marked the process dead (a full fence) before calling here. So either this sees the count, or Add sees
        // the process dead and undoes its entry itself.
        if (Volatile.Read(ref _count) == 0)
        {
            return;
        }
        List<Outgoing>? orphaned = null;
        using (_lock.EnterScope())
        {
            if (_incomingByTarget.Remove(cell.Ref.Id, out var watchers))
            {
                foreach (var key in watchers)
                {
                    _incoming.Remove(key);
                    _incomingByConnection.Remove(key.Connection, key.Id);
                    Interlocked.Decrement(ref _count);
                    key.Connection.TryEnqueue(new DownMessage(key.Id, reason), force: true);
                }
            }
            if (_outgoingByWatcher.TryGetValue(cell.Ref.Id, out var ids))
            {
                foreach (var id in ids.ToArray())
                {
                    if (RemoveOutgoing(id) is { } entry)
                    {
                        entry.Connection.TryEnqueue(new IdMessage(MessageTypes.Demonitor, id), force: true);
                        (orphaned ??= []).Add(entry);
                    }
                }
            }
        }
        foreach (var entry in orphaned ?? [])
        {
            entry.Ack?.TrySetException(new ServerNotRunningException(entry.Monitor.Watcher, reason));
        }
    }

    bool IClusterService.OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        var body = new WireReader(message[1..]);
        switch (message[0])
        {
            case MessageTypes.Monitor when body.TryReadInt64(out var id) && body.TryReadInt64(out _) && body.TryReadInt64(out var target) && body.End:
                // The watcher's id is not needed here: the down goes back by monitor id on this connection.
                OnMonitor(connection, id, target);
                return true;
            case MessageTypes.MonitorAck when body.TryReadInt64(out var id) && body.TryReadByte(out var status) && status <= 1 && body.End:
                OnAck(id, noproc: status == 1, connection);
                return true;
            case MessageTypes.Demonitor when body.TryReadInt64(out var id) && body.End:
                using (_lock.EnterScope())
                {
                    RemoveIncoming(connection, id);
                }
                return true;
            case MessageTypes.Down when body.TryReadInt64(out var id) && ExitReasonWire.TryRead(ref body, out var reason):
                OnDown(id, reason, connection);
                return true;
            default:
                return false;
        }
    }

    void IClusterService.OnConnectionUp(Connection connection)
    {
    }

    void IClusterService.OnConnectionClosed(Connection connection, NodeDownReason reason)
    {
        List<Outgoing>? fired = null;
        using (_lock.EnterScope())
        {
            // Taken out of the index whole: the removals below find nothing more to unindex.
            if (_incomingByConnection.Take(connection) is { } incoming)
            {
                foreach (var id in incoming)
                {
                    RemoveIncoming(connection, id);
                }
            }
            if (_outgoingByConnection.Take(connection) is { } outgoing)
            {
                foreach (var id in outgoing)
                {
                    if (RemoveOutgoing(id) is { } entry)
                    {
                        (fired ??= []).Add(entry);
                    }
                }
            }
        }
        foreach (var entry in fired ?? [])
        {
            // A monitor still waiting for its acknowledgement never stood: MonitorAsync throws instead of a down message.
            if (entry.Ack is { Task.IsCompleted: false } ack
                && ack.TrySetException(new NodeNotReachableException(connection.Peer, $"the node went down ({reason}) before it acknowledged the monitor")))
            {
                continue;
            }
            entry.Watcher.PostSystem(new DownSignal(entry.Monitor, ExitReason.NoConnection));
        }
    }

    void IClusterService.OnTick()
    {
    }

    /// <summary>Files a monitor and sends its request, in one step under the lock; false if the connection is closed.</summary>
    private bool Add(ProcessCell watcher, MonitorRef monitor, Connection connection, TaskCompletionSource? ack)
    {
        using (_lock.EnterScope())
        {
            if (connection.TryEnqueue(new MonitorMessage(monitor.Id, monitor.Watcher.Id, monitor.Target.Id), force: true) != EnqueueResult.Queued)
            {
                return false;
            }
            _outgoing.Add(monitor.Id, new Outgoing(monitor, watcher, connection, ack));
            _outgoingByConnection.Add(connection, monitor.Id);
            if (!_outgoingByWatcher.TryGetValue(monitor.Watcher.Id, out var ids))
            {
                _outgoingByWatcher[monitor.Watcher.Id] = ids = [];
            }
            ids.Add(monitor.Id);
            Interlocked.Increment(ref _count);
            if (!watcher.IsAlive)
            {
                // The watcher ended and its teardown may have looked before this entry existed: withdraw it ourselves.
                RemoveOutgoing(monitor.Id);
                connection.TryEnqueue(new IdMessage(MessageTypes.Demonitor, monitor.Id), force: true);
                ack?.TrySetException(new ServerNotRunningException(monitor.Watcher));
            }
            return true;
        }
    }

    private void OnMonitor(Connection connection, long id, long targetId)
    {
        using (_lock.EnterScope())
        {
            // A connection already closing has been (or is being) swept: the watcher gets noconnection from its side.
            if (connection.IsClosed)
            {
                return;
            }
            var key = (connection, id);
            if (_incoming.ContainsKey(key))
            {
                return;
            }
            _incoming.Add(key, targetId);
            _incomingByConnection.Add(connection, id);
            if (!_incomingByTarget.TryGetValue(targetId, out var watchers))
            {
                _incomingByTarget[targetId] = watchers = [];
            }
            watchers.Add(key);
            Interlocked.Increment(ref _count);
            // Checked after the entry is counted (see OnExit): a target that is gone, or going, answers noproc here.
            var alive = _runtime.TryGetCell(new ProcessRef(_runtime.Name, targetId), out var target) && target.IsAlive;
            if (!alive)
            {
                RemoveIncoming(connection, id);
            }
            connection.TryEnqueue(new MonitorAckMessage(id, noproc: !alive), force: true);
        }
    }

    private void OnAck(long id, bool noproc, Connection connection)
    {
        Outgoing? entry;
        using (_lock.EnterScope())
        {
            if (!_outgoing.TryGetValue(id, out entry) || !ReferenceEquals(entry.Connection, connection))
            {
                return;
            }
            if (noproc)
            {
                RemoveOutgoing(id);
            }
        }
        entry.Ack?.TrySetResult();
        if (noproc)
        {
            entry.Watcher.PostSystem(new DownSignal(entry.Monitor, ExitReason.NoProc));
        }
    }

    private void OnDown(long id, ExitReason reason, Connection connection)
    {
        Outgoing? entry;
        using (_lock.EnterScope())
        {
            if (!_outgoing.TryGetValue(id, out entry) || !ReferenceEquals(entry.Connection, connection))
            {
                // Demonitored meanwhile, or the watcher ended: nobody to tell.
                return;
            }
            RemoveOutgoing(id);
        }
        entry.Watcher.PostSystem(new DownSignal(entry.Monitor, reason));
    }

    private Outgoing? RemoveOutgoing(long id)
    {
        if (!_outgoing.Remove(id, out var entry))
        {
            return null;
        }
        if (_outgoingByWatcher.TryGetValue(entry.Monitor.Watcher.Id, out var ids) && ids.Remove(id) && ids.Count == 0)
        {
            _outgoingByWatcher.Remove(entry.Monitor.Watcher.Id);
        }
        _outgoingByConnection.Remove(entry.Connection, id);
        Interlocked.Decrement(ref _count);
        return entry;
    }

    private void RemoveIncoming(Connection connection, long id)
    {
        if (!_incoming.Remove((connection, id), out var targetId))
        {
            return;
        }
        if (_incomingByTarget.TryGetValue(targetId, out var watchers) && watchers.Remove((connection, id)) && watchers.Count == 0)
        {
            _incomingByTarget.Remove(targetId);
        }
        _incomingByConnection.Remove(connection, id);
        Interlocked.Decrement(ref _count);
    }

    /// <summary>
    /// A monitor of this node's process on a remote one. <paramref name="Ack"/> is <see cref="MonitorAsync"/>'s wait for the
    /// acknowledgement; it is not a <see cref="RequestTable{TEntry}"/> entry because the monitor outlives its
    /// acknowledgement (it stays until its down or demonitor), is found by watcher as well as by id, and changes under the
    /// lock that also orders the incoming table's messages on the wire; the wait's timeout is MonitorAsync's own.
    /// </summary>
    private sealed record Outgoing(MonitorRef Monitor, ProcessCell Watcher, Connection Connection, TaskCompletionSource? Ack);

    /// <summary><c>0x28 monitor: monitor_id i64, watcher i64, target i64</c>.</summary>
    internal readonly struct MonitorMessage(long id, long watcher, long target) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.Monitor);
            writer.WriteInt64(id);
            writer.WriteInt64(watcher);
            writer.WriteInt64(target);
            writer.Commit();
        }
    }

    /// <summary><c>0x29 monitor_ack: monitor_id i64, status u8</c> (0 watching, 1 noproc).</summary>
    internal readonly struct MonitorAckMessage(long id, bool noproc) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.MonitorAck);
            writer.WriteInt64(id);
            writer.WriteByte(noproc ? (byte)1 : (byte)0);
            writer.Commit();
        }
    }

    /// <summary><c>0x2B down: monitor_id i64, reason</c>.</summary>
    internal readonly struct DownMessage(long id, ExitReason reason) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.Down);
            writer.WriteInt64(id);
            ExitReasonWire.Write(ref writer, reason);
            writer.Commit();
        }
    }
}

/// <summary>A remote monitor's node did not acknowledge it in time.</summary>
public sealed class RemoteMonitorTimeoutException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The process that was to be monitored.</param>
    /// <param name="timeout">How long the monitor waited.</param>
    public RemoteMonitorTimeoutException(ProcessRef target, TimeSpan timeout)
        : base($"The monitor of {target} was not acknowledged within {timeout.TotalMilliseconds:0} ms.")
    {
        Target = target;
        Timeout = timeout;
    }

    /// <summary>The process that was to be monitored.</summary>
    public ProcessRef Target { get; }

    /// <summary>How long the monitor waited.</summary>
    public TimeSpan Timeout { get; }
}
