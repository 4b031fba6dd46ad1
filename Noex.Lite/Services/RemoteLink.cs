using System.Buffers;

namespace Noex.Lite;

/// <summary>
/// Links and exit signals across nodes (protocol.md §5.5): each side keeps the links between its own processes and
/// processes of other nodes, and tells the other side when its end terminates.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="ProcessRuntime.Link"/>, <see cref="ProcessRuntime.Unlink"/> and <see cref="ProcessRuntime.Exit"/> come here
/// when one end is remote. The semantics are OTP's: when a linked process ends, the other end receives an exit signal
/// with the same reason; a process that traps exits receives it as a message, one that does not ends with that reason
/// unless it is <c>normal</c>. Linking to a process that does not exist gives <c>noproc</c>; a node that is unreachable
/// when linking, or whose connection closes later, gives <c>noconnection</c>, and the link is gone (not re-armed).
/// </para>
/// <para>
/// As in <see cref="RemoteMonitor"/>, the table changes under one lock and messages are queued inside it, so a link
/// request goes on the wire before any exit signal or unlink for it. An exit signal for a link is delivered only if the
/// receiving side still has the link: after <see cref="ProcessRuntime.Unlink"/> returns, none arrives.
/// </para>
/// <para>
/// On a connection that uses the <c>link_ack</c> capability (protocol.md §4.6) every link is answered by a
/// <c>link_ack</c>, which is also the <c>noproc</c> answer there, and <see cref="ProcessRuntime.LinkAsync"/> waits for it.
/// Acknowledgements are matched to requests by pair (local process, remote process) and connection, in order: the
/// wire has no request id (only 0x2F was free in the range), and a connection delivers in order, so the newest request
/// of a pair is acknowledged by the acknowledgement that leaves none owed.
/// </para>
/// </remarks>
public sealed class RemoteLink : IClusterService
{
    /// <summary>The first message type this layer owns (protocol.md §5.5).</summary>
    internal const byte FirstType = MessageTypes.FirstLink;

    /// <summary>The last of them.</summary>
    internal const byte LastType = MessageTypes.LastLink;

    private readonly INodeContext _node;
    private readonly ProcessRuntime _runtime;
    private readonly Lock _lock = new();
    // Local process id → its links to processes of other nodes (the connection names the node). A set, not a list: a
    // process linked to many remote ones finds and drops each link in O(1), as a closed connection's sweep does for all
    // of that connection's links.
    private readonly Dictionary<long, HashSet<(Connection Connection, long Remote)>> _links = new();
    // Links in the table; read without the lock by OnExit (see RemoteMonitor.OnExit for why that is safe).
    private int _count;
    // Pairs whose link requests on a link_ack connection are not all acknowledged yet. A pair here with waiters always
    // has its entry in _links too (whoever removes the entry ends the wait), so OnExit's unlocked zero check covers them.
    private readonly Dictionary<(Connection Connection, long Local, long Remote), Pending> _pending = new();
    // The same links and pending pairs by connection, so that a closed connection breaks its own links without a walk of
    // every link of the node: a lost node's exit signals come right after its node-down event, whatever else is linked.
    private readonly ConnectionIndex<(long Local, long Remote)> _linksByConnection = new();
    private readonly ConnectionIndex<(long Local, long Remote)> _pendingByConnection = new();

    /// <summary>The default wait for the acknowledgement: 10 s (the seeds' <c>RemoteLink.link</c> timeout).</summary>
    private static readonly TimeSpan s_defaultTimeout = TimeSpan.FromSeconds(10);

    internal RemoteLink(INodeContext node)
    {
        _node = node;
        _runtime = node.Runtime;
    }

    /// <summary>Links between this node's processes and processes of other nodes.</summary>
    public int Count => Volatile.Read(ref _count);

    /// <summary>Pairs with link requests not yet acknowledged (for tests: nothing is left behind).</summary>
    internal int PendingCount
    {
        get
        {
            using (_lock.EnterScope())
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Links and pending pairs filed by connection (for tests: the index matches the tables).</summary>
    internal (int Links, int Pending) IndexedCount
    {
        get
        {
            using (_lock.EnterScope())
            {
                return (_linksByConnection.Count, _pendingByConnection.Count);
            }
        }
    }

    internal void Link(ProcessCell local, ProcessRef remote)
    {
        if (!_node.Connections.TryGetConnection(remote.Node, out var connection))
        {
            local.PostSystem(new ExitSignal(remote, ExitReason.NoConnection));
            return;
        }
        using (_lock.EnterScope())
        {
            if (Has(local.Ref.Id, connection, remote.Id))
            {
                // A LinkAsync of the pair may still wait: this link now stands on the same request, and stays if that
                // wait is abandoned.
                if (_pending.TryGetValue((connection, local.Ref.Id, remote.Id), out var waiting))
                {
                    waiting.Keep = true;
                }
                return;
            }
            switch (Request(local, connection, remote.Id, out var pending))
            {
                case Sent.Queued when pending is not null:
                    pending.Keep = true;
                    break;
                case Sent.ConnectionClosed:
                    local.PostSystem(new ExitSignal(remote, ExitReason.NoConnection));
                    break;
            }
        }
    }

    /// <summary>
    /// <see cref="ProcessRuntime.LinkAsync"/> with a remote end: sends the link (or joins the one of the pair still waiting)
    /// and waits for its link_ack.
    /// </summary>
    internal async Task LinkAsync(ProcessCell local, ProcessRef remote, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        if (!_node.Connections.TryGetConnection(remote.Node, out var connection))
        {
            throw new NodeNotReachableException(remote.Node, "not connected");
        }
        if (!Acks(connection))
        {
            throw new RemoteLinkNotSupportedException(remote, connection.Protocol.Version);
        }
        var key = (connection, local.Ref.Id, remote.Id);
        Pending? pending;
        TaskCompletionSource ack;
        using (_lock.EnterScope())
        {
            if (Has(local.Ref.Id, connection, remote.Id))
            {
                if (!_pending.TryGetValue(key, out pending))
                {
                    // Linked already, and acknowledged (or linked from the other side, which recorded it when it sent).
                    return;
                }
            }
            else
            {
                switch (Request(local, connection, remote.Id, out pending))
                {
                    case Sent.ConnectionClosed:
                        throw new NodeNotReachableException(remote.Node, "the connection closed");
                    case Sent.LocalEnded:
                        throw new ServerNotRunningException(local.Ref);
                }
            }
            pending!.Waiters++;
            // Taken under the lock: the link_ack may arrive on the read thread at once and take the waiters out.
            ack = pending.Ack ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        var wait = timeout ?? s_defaultTimeout;
        try
        {
            await ack.Task.WaitAsync(wait, _runtime.TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or OperationCanceledException)
        {
            if (!Abandon(key, pending, ack))
            {
                // Answered as the wait ended (its resolver took it out of the table under the lock and completes it
                // right after): that answer stands, success or typed failure.
                await ack.Task.ConfigureAwait(false);
                return;
            }
            if (e is TimeoutException)
            {
                throw new RemoteLinkTimeoutException(remote, wait);
            }
            throw;
        }
    }

    internal void Unlink(ProcessRef local, ProcessRef remote)
    {
        if (!_node.Connections.TryGetConnection(remote.Node, out var connection))
        {
            return;
        }
        TaskCompletionSource? ended = null;
        using (_lock.EnterScope())
        {
            if (RemoveEntry(local.Id, connection, remote.Id))
            {
                connection.TryEnqueue(new LinkMessage(MessageTypes.Unlink, local.Id, remote.Id), force: true);
                // A LinkAsync still waiting completes: the link was made and is now removed, in that order.
                ended = TakeWaiters(connection, local.Id, remote.Id, out _);
            }
        }
        ended?.TrySetResult();
    }

    internal bool Exit(ProcessRef target, ExitReason reason, ProcessRef from) =>
        _node.Connections.TryGetConnection(target.Node, out var connection)
        && connection.TryEnqueue(new ExitMessage(_runtime.IsLocal(from) ? from.Id : 0, target.Id, link: false, reason), force: true) == EnqueueResult.Queued;

    /// <summary>A local process ended: every remote process linked to it gets an exit signal with its reason.</summary>
    internal void OnExit(ProcessCell cell, ExitReason reason)
    {
        if (Volatile.Read(ref _count) == 0)
        {
            return;
        }
        List<TaskCompletionSource>? orphaned = null;
        using (_lock.EnterScope())
        {
            if (!_links.Remove(cell.Ref.Id, out var links))
            {
                return;
            }
            foreach (var (connection, remote) in links)
            {
                _linksByConnection.Remove(connection, (cell.Ref.Id, remote));
                Interlocked.Decrement(ref _count);
                connection.TryEnqueue(new ExitMessage(cell.Ref.Id, remote, link: true, reason), force: true);
                if (TakeWaiters(connection, cell.Ref.Id, remote, out _) is { } waiters)
                {
                    (orphaned ??= []).Add(waiters);
                }
            }
        }
        foreach (var waiters in orphaned ?? [])
        {
            waiters.TrySetException(new ServerNotRunningException(cell.Ref, reason));
        }
    }

    bool IClusterService.OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        // from is the sender's process, to the receiver's (ours).
        var body = new WireReader(message[1..]);
        switch (message[0])
        {
            case MessageTypes.Link when body.TryReadInt64(out var from) && body.TryReadInt64(out var to) && body.End:
                OnLink(connection, from, to);
                return true;
            case MessageTypes.Unlink when body.TryReadInt64(out var from) && body.TryReadInt64(out var to) && body.End:
                using (_lock.EnterScope())
                {
                    RemoveEntry(to, connection, from);
                }
                return true;
            case MessageTypes.Exit when body.TryReadInt64(out var from) && body.TryReadInt64(out var to) && body.TryReadByte(out var link) && link <= 1
                && ExitReasonWire.TryRead(ref body, out var reason):
                OnExitSignal(connection, from, to, link == 1, reason);
                return true;
            // The body is judged before the connection is looked at: a malformed one is refused whatever the connection.
            case MessageTypes.LinkAck when body.TryReadInt64(out var from) && body.TryReadInt64(out var to) && body.TryReadByte(out var status) && status <= 1
                && body.End && Acks(connection):
                OnLinkAck(connection, from, to, noproc: status == 1);
                return true;
            default:
                // A wrong length, a malformed reason, a bad status, or 0x2F on a connection without link_ack.
                return false;
        }
    }

    void IClusterService.OnConnectionUp(Connection connection)
    {
    }

    void IClusterService.OnConnectionClosed(Connection connection, NodeDownReason reason)
    {
        List<(long Local, long Remote)>? broken = null;
        List<TaskCompletionSource>? unanswered = null;
        using (_lock.EnterScope())
        {
            // Taken out of the index whole: the removals below find nothing more to unindex.
            foreach (var (local, remote) in _linksByConnection.Take(connection) ?? [])
            {
                RemoveEntry(local, connection, remote);
                // A link that LinkAsync still waits for never stood: the wait throws instead of an exit signal, unless a
                // Link of the pair stands on the same request.
                var waiters = TakeWaiters(connection, local, remote, out var keep);
                if (waiters is not null)
                {
                    (unanswered ??= []).Add(waiters);
                }
                if (waiters is null || keep)
                {
                    (broken ??= []).Add((local, remote));
                }
            }
            // After the links: their waiters were found through these records.
            foreach (var (local, remote) in _pendingByConnection.Take(connection) ?? [])
            {
                _pending.Remove((connection, local, remote));
            }
        }
        foreach (var waiters in unanswered ?? [])
        {
            waiters.TrySetException(new NodeNotReachableException(connection.Peer, $"the node went down ({reason}) before it acknowledged the link"));
        }
        var peer = connection.PeerText;
        foreach (var (local, remote) in broken ?? [])
        {
            if (_runtime.TryGetCell(new ProcessRef(_runtime.Name, local), out var cell))
            {
                cell.PostSystem(new ExitSignal(new ProcessRef(peer, remote), ExitReason.NoConnection));
            }
        }
    }

    void IClusterService.OnTick()
    {
    }

    private void OnLink(Connection connection, long remote, long local)
    {
        using (_lock.EnterScope())
        {
            if (connection.IsClosed)
            {
                return;
            }
            var acks = Acks(connection);
            if (Has(local, connection, remote))
            {
                // Linked already (both sides linked at once, or a repeat): it stands; an exit follows if the process is
                // ending, since its teardown has not taken the entry yet.
                if (acks)
                {
                    connection.TryEnqueue(new LinkAckMessage(local, remote, noproc: false), force: true);
                }
                return;
            }
            AddEntry(local, connection, remote);
            // Checked after the entry is counted (see RemoteMonitor.OnExit): a process that is gone, or going, answers
            // noproc here, as the link_ack on a connection that uses link_ack, else as the exit signal of the link.
            var alive = _runtime.TryGetCell(new ProcessRef(_runtime.Name, local), out var cell) && cell.IsAlive;
            if (!alive)
            {
                RemoveEntry(local, connection, remote);
            }
            if (acks)
            {
                // Queued under the lock, before any exit of this link (OnExit takes the lock too).
                connection.TryEnqueue(new LinkAckMessage(local, remote, noproc: !alive), force: true);
            }
            else if (!alive)
            {
                connection.TryEnqueue(new ExitMessage(local, remote, link: true, ExitReason.NoProc), force: true);
            }
        }
    }

    /// <summary>A link_ack for a link this node sent: <paramref name="remote"/> is the acknowledging node's process.</summary>
    private void OnLinkAck(Connection connection, long remote, long local, bool noproc)
    {
        TaskCompletionSource? waiters = null;
        var signal = false;
        using (_lock.EnterScope())
        {
            var key = (connection, local, remote);
            if (!_pending.TryGetValue(key, out var pending))
            {
                // Nothing owed for the pair (the connection's entries were swept): nobody to tell.
                return;
            }
            pending.Owed--;
            if (noproc)
            {
                // A process that was gone for an earlier request is gone for every later one: the pair's link, whichever
                // request made it, is noproc. Without waiters (or with a Link on the request) it is the link's exit
                // signal, as an exit noproc would be on a connection without link_ack.
                var removed = RemoveEntry(local, connection, remote);
                signal = removed && (pending.Ack is null || pending.Keep);
                waiters = TakeWaiters(pending);
            }
            else if (pending.Owed == 0)
            {
                waiters = TakeWaiters(pending);
            }
            if (pending.Owed == 0)
            {
                _pending.Remove(key);
                _pendingByConnection.Remove(connection, (local, remote));
            }
        }
        var from = new ProcessRef(connection.PeerText, remote);
        if (!noproc)
        {
            waiters?.TrySetResult();
            return;
        }
        waiters?.TrySetException(new RemoteServerNotRunningException(from, "the process does not exist or has ended (noproc)"));
        if (signal && _runtime.TryGetCell(new ProcessRef(_runtime.Name, local), out var cell))
        {
            cell.PostSystem(new ExitSignal(from, ExitReason.NoProc));
        }
    }

    private static bool Acks(Connection connection) => (connection.Protocol.Capabilities & Capabilities.LinkAck) != 0;

    /// <summary>
    /// Sends a link request for a pair with no entry and files the entry (and on a link_ack connection, the acknowledgement
    /// owed); caller holds the lock.
    /// </summary>
    private Sent Request(ProcessCell local, Connection connection, long remote, out Pending? pending)
    {
        pending = null;
        if (connection.TryEnqueue(new LinkMessage(MessageTypes.Link, local.Ref.Id, remote), force: true) != EnqueueResult.Queued)
        {
            return Sent.ConnectionClosed;
        }
        AddEntry(local.Ref.Id, connection, remote);
        if (Acks(connection))
        {
            var key = (connection, local.Ref.Id, remote);
            if (!_pending.TryGetValue(key, out pending))
            {
                _pending[key] = pending = new Pending();
                _pendingByConnection.Add(connection, (local.Ref.Id, remote));
            }
            // Earlier requests of the pair lost their entry, and whoever removed it ended their waiters.
            pending.Owed++;
            pending.Keep = false;
        }
        if (!local.IsAlive)
        {
            // Its teardown may have looked before the entry existed: undo the link on both sides ourselves (the
            // acknowledgement still comes, and finds no entry).
            RemoveEntry(local.Ref.Id, connection, remote);
            connection.TryEnqueue(new LinkMessage(MessageTypes.Unlink, local.Ref.Id, remote), force: true);
            return Sent.LocalEnded;
        }
        return Sent.Queued;
    }

    /// <summary>
    /// One LinkAsync gives up (timeout or cancellation): false if the request was answered meanwhile. The last waiter to
    /// leave withdraws the link, unless a Link of the pair stands on it.
    /// </summary>
    private bool Abandon((Connection Connection, long Local, long Remote) key, Pending pending, TaskCompletionSource ack)
    {
        using (_lock.EnterScope())
        {
            if (!_pending.TryGetValue(key, out var current) || !ReferenceEquals(current, pending) || !ReferenceEquals(pending.Ack, ack))
            {
                return false;
            }
            if (--pending.Waiters > 0)
            {
                return true;
            }
            pending.Ack = null;
            if (!pending.Keep && RemoveEntry(key.Local, key.Connection, key.Remote))
            {
                key.Connection.TryEnqueue(new LinkMessage(MessageTypes.Unlink, key.Local, key.Remote), force: true);
            }
            return true;
        }
    }

    /// <summary>The waiters of a pair whose entry is being removed, taken out of its record; caller holds the lock.</summary>
    private TaskCompletionSource? TakeWaiters(Connection connection, long local, long remote, out bool keep)
    {
        keep = false;
        if (!_pending.TryGetValue((connection, local, remote), out var pending))
        {
            return null;
        }
        keep = pending.Keep;
        return TakeWaiters(pending);
    }

    private static TaskCompletionSource? TakeWaiters(Pending pending)
    {
        var waiters = pending.Ack;
        pending.Ack = null;
        pending.Waiters = 0;
        pending.Keep = false;
        return waiters;
    }

    private void OnExitSignal(Connection connection, long remote, long local, bool link, ExitReason reason)
    {
        var from = remote == 0 && !link ? default : new ProcessRef(connection.PeerText, remote);
        var target = new ProcessRef(_runtime.Name, local);
        if (!link)
        {
            _runtime.Exit(target, reason, from);
            return;
        }
        using (_lock.EnterScope())
        {
            // Unlinked meanwhile (or the link was never made): the signal is dropped, as OTP does after unlink.
            if (!RemoveEntry(local, connection, remote))
            {
                return;
            }
        }
        if (_runtime.TryGetCell(target, out var cell))
        {
            cell.PostSystem(new ExitSignal(from, reason));
        }
    }

    private bool Has(long local, Connection connection, long remote) =>
        _links.TryGetValue(local, out var links) && links.Contains((connection, remote));

    private void AddEntry(long local, Connection connection, long remote)
    {
        if (!_links.TryGetValue(local, out var links))
        {
            _links[local] = links = [];
        }
        links.Add((connection, remote));
        _linksByConnection.Add(connection, (local, remote));
        Interlocked.Increment(ref _count);
    }

    private bool RemoveEntry(long local, Connection connection, long remote)
    {
        if (!_links.TryGetValue(local, out var links) || !links.Remove((connection, remote)))
        {
            return false;
        }
        if (links.Count == 0)
        {
            _links.Remove(local);
        }
        _linksByConnection.Remove(connection, (local, remote));
        Interlocked.Decrement(ref _count);
        return true;
    }

    /// <summary><c>0x2C link</c> or <c>0x2D unlink: from i64, to i64</c>: from is the sender's process, to the receiver's.</summary>
    internal readonly struct LinkMessage(byte type, long from, long to) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, type);
            writer.WriteInt64(from);
            writer.WriteInt64(to);
            writer.Commit();
        }
    }

    /// <summary>What <see cref="Request"/> did.</summary>
    private enum Sent
    {
        /// <summary>The link is on the wire and in the table.</summary>
        Queued,

        /// <summary>The connection is closed: nothing was sent.</summary>
        ConnectionClosed,

        /// <summary>The local process ended meanwhile: the link was sent and withdrawn.</summary>
        LocalEnded,
    }

    /// <summary>
    /// The link requests of one pair on one link_ack connection that are not acknowledged yet. It is not a
    /// <see cref="RequestTable{TEntry}"/> entry for the reasons <see cref="RemoteMonitor"/>'s monitors are not: it is found
    /// by pair, changes under the lock that orders the link table's messages, and its waiters' timeouts are their own.
    /// </summary>
    private sealed class Pending
    {
        /// <summary>Requests sent and not yet acknowledged; the record goes when this reaches zero.</summary>
        public int Owed;

        /// <summary>LinkAsync's wait for the newest request; null when none waits.</summary>
        public TaskCompletionSource? Ack;

        /// <summary>LinkAsync calls waiting on <see cref="Ack"/>.</summary>
        public int Waiters;

        /// <summary>A Link of the pair stands on the newest request: it outlives an abandoned wait, and noproc or
        /// noconnection reach its process as exit signals.</summary>
        public bool Keep;
    }

    /// <summary><c>0x2F link_ack: from i64, to i64, status u8</c> (0 linked, 1 noproc): from is the sender's process (the
    /// link's target), to the receiver's (the one that asked).</summary>
    internal readonly struct LinkAckMessage(long from, long to, bool noproc) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.LinkAck);
            writer.WriteInt64(from);
            writer.WriteInt64(to);
            writer.WriteByte(noproc ? (byte)1 : (byte)0);
            writer.Commit();
        }
    }

    /// <summary><c>0x2E exit: from i64, to i64, link u8, reason</c>: link 1 for a linked process's end, 0 for <c>exit/2</c>.</summary>
    internal readonly struct ExitMessage(long from, long to, bool link, ExitReason reason) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.Exit);
            writer.WriteInt64(from);
            writer.WriteInt64(to);
            writer.WriteByte(link ? (byte)1 : (byte)0);
            ExitReasonWire.Write(ref writer, reason);
            writer.Commit();
        }
    }
}

/// <summary>A remote link's node did not acknowledge it in time (<see cref="ProcessRuntime.LinkAsync"/>).</summary>
public sealed class RemoteLinkTimeoutException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The remote process that was to be linked.</param>
    /// <param name="timeout">How long the link waited.</param>
    public RemoteLinkTimeoutException(ProcessRef target, TimeSpan timeout)
        : base($"The link to {target} was not acknowledged within {timeout.TotalMilliseconds:0} ms; it was withdrawn.")
    {
        Target = target;
        Timeout = timeout;
    }

    /// <summary>The remote process that was to be linked.</summary>
    public ProcessRef Target { get; }

    /// <summary>How long the link waited.</summary>
    public TimeSpan Timeout { get; }
}

/// <summary>
/// <see cref="ProcessRuntime.LinkAsync"/> to a node whose connection does not use the <c>link_ack</c> capability
/// (protocol.md §4.6): a version 1 node, or a build from before it. Nothing was sent; <see cref="ProcessRuntime.Link"/>
/// works with every node, and reports a missing process as an exit signal <c>noproc</c>.
/// </summary>
public sealed class RemoteLinkNotSupportedException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The remote process that was to be linked.</param>
    /// <param name="version">The protocol version of the connection to its node.</param>
    public RemoteLinkNotSupportedException(ProcessRef target, int version)
        : base($"Node {target.Node} does not acknowledge links (the connection, protocol version {version}, does not use the link_ack capability): "
            + $"link to {target} with ProcessRuntime.Link instead, which reports a missing process as an exit signal noproc.")
    {
        Target = target;
    }

    /// <summary>The remote process that was to be linked.</summary>
    public ProcessRef Target { get; }
}
