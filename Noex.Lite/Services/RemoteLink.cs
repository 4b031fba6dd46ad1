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
    // Local process id → its links to processes of other nodes (the connection names the node).
    private readonly Dictionary<long, List<(Connection Connection, long Remote)>> _links = new();
    // Links in the table; read without the lock by OnExit (see RemoteMonitor.OnExit for why that is safe).
    private int _count;

    internal RemoteLink(INodeContext node)
    {
        _node = node;
        _runtime = node.Runtime;
    }

    /// <summary>Links between this node's processes and processes of other nodes.</summary>
    public int Count => Volatile.Read(ref _count);

    internal void Link(ProcessCell local, ProcessRef remote)
    {
        if (!_node.Connections.TryGetConnection(remote.Node, out var connection))
        {
            local.PostSystem(new ExitSignal(remote, ExitReason.NoConnection));
            return;
        }
        using (_lock.EnterScope())
        {
            if (Find(local.Ref.Id, connection, remote.Id) >= 0)
            {
                return;
            }
            if (connection.TryEnqueue(new LinkMessage(MessageTypes.Link, local.Ref.Id, remote.Id), force: true) != EnqueueResult.Queued)
            {
                local.PostSystem(new ExitSignal(remote, ExitReason.NoConnection));
                return;
            }
            AddEntry(local.Ref.Id, connection, remote.Id);
            if (!local.IsAlive)
            {
                // Its teardown may have looked before the entry existed: undo the link on both sides ourselves.
                RemoveEntry(local.Ref.Id, connection, remote.Id);
                connection.TryEnqueue(new LinkMessage(MessageTypes.Unlink, local.Ref.Id, remote.Id), force: true);
            }
        }
    }

    internal void Unlink(ProcessRef local, ProcessRef remote)
    {
        if (!_node.Connections.TryGetConnection(remote.Node, out var connection))
        {
            return;
        }
        using (_lock.EnterScope())
        {
            if (RemoveEntry(local.Id, connection, remote.Id))
            {
                connection.TryEnqueue(new LinkMessage(MessageTypes.Unlink, local.Id, remote.Id), force: true);
            }
        }
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
        using (_lock.EnterScope())
        {
            if (!_links.Remove(cell.Ref.Id, out var links))
            {
                return;
            }
            foreach (var (connection, remote) in links)
            {
                Interlocked.Decrement(ref _count);
                connection.TryEnqueue(new ExitMessage(cell.Ref.Id, remote, link: true, reason), force: true);
            }
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
            default:
                // A wrong length, a malformed reason, or 0x2F (reserved).
                return false;
        }
    }

    void IClusterService.OnConnectionUp(Connection connection)
    {
    }

    void IClusterService.OnConnectionClosed(Connection connection, NodeDownReason reason)
    {
        List<(long Local, long Remote)>? broken = null;
        using (_lock.EnterScope())
        {
            foreach (var (local, links) in _links.ToArray())
            {
                for (var i = links.Count - 1; i >= 0; i--)
                {
                    if (ReferenceEquals(links[i].Connection, connection))
                    {
                        (broken ??= []).Add((local, links[i].Remote));
                        RemoveEntry(local, connection, links[i].Remote);
                    }
                }
            }
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
            if (connection.IsClosed || Find(local, connection, remote) >= 0)
            {
                return;
            }
            AddEntry(local, connection, remote);
            // Checked after the entry is counted (see RemoteMonitor.OnExit): a process that is gone, or going, answers
            // noproc here as the exit signal of the link.
            if (!_runtime.TryGetCell(new ProcessRef(_runtime.Name, local), out var cell) || !cell.IsAlive)
            {
                RemoveEntry(local, connection, remote);
                connection.TryEnqueue(new ExitMessage(local, remote, link: true, ExitReason.NoProc), force: true);
            }
        }
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

    private int Find(long local, Connection connection, long remote)
    {
        if (!_links.TryGetValue(local, out var links))
        {
            return -1;
        }
        for (var i = 0; i < links.Count; i++)
        {
            if (ReferenceEquals(links[i].Connection, connection) && links[i].Remote == remote)
            {
                return i;
            }
        }
        return -1;
    }

    private void AddEntry(long local, Connection connection, long remote)
    {
        if (!_links.TryGetValue(local, out var links))
        {
            _links[local] = links = [];
        }
        links.Add((connection, remote));
        Interlocked.Increment(ref _count);
    }

    private bool RemoveEntry(long local, Connection connection, long remote)
    {
        var index = Find(local, connection, remote);
        if (index < 0)
        {
            return false;
        }
        var links = _links[local];
        links.RemoveAt(index);
        if (links.Count == 0)
        {
            _links.Remove(local);
        }
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
