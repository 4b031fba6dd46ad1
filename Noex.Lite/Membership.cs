using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Noex.Lite;

/// <summary>Why a node is reported down (the seeds' <c>NodeDownReason</c>, plus what the original could not tell apart).</summary>
public enum NodeDownReason
{
    /// <summary>No frame arrived for the heartbeat interval times the miss threshold (a frozen process, a black hole).</summary>
    HeartbeatTimeout = 1,
    /// <summary>The connection closed without a goodbye (a crashed or killed process: the OS closes its sockets).</summary>
    ConnectionClosed,
    /// <summary>The node said it was stopping.</summary>
    GracefulShutdown,
    /// <summary>A new incarnation of the node connected: the old one is gone, though its name lives on.</summary>
    Restarted,
    /// <summary>The connection was reset or failed on a socket error.</summary>
    ConnectionReset,
    /// <summary>The node broke the protocol (bad MAC, sequence or frame), so its connection was closed.</summary>
    ProtocolError,
}

/// <summary>Whether a known node is connected.</summary>
public enum NodeStatus
{
    /// <summary>A live, authenticated connection exists.</summary>
    Connected,
    /// <summary>Known, but not connected now; it is redialled with backoff.</summary>
    Disconnected,
}

/// <summary>What a node knows of another node.</summary>
/// <param name="Id">The node's id.</param>
/// <param name="Status">Whether it is connected now.</param>
/// <param name="Incarnation">Its incarnation as of the last handshake (0 if never connected).</param>
/// <param name="ProcessCount">The number of processes it reported in its last gossip.</param>
/// <param name="Uptime">How long it had been running at its last gossip.</param>
/// <param name="LastSeen">When a frame or gossip from it last arrived.</param>
public sealed record NodeInfo(NodeId Id, NodeStatus Status, ulong Incarnation, int ProcessCount, TimeSpan Uptime, DateTimeOffset LastSeen);

/// <summary>The cluster control messages of protocol.md §5.1.</summary>
internal static class ControlMessages
{
    /// <summary>The message type byte of gossip.</summary>
    public const byte Gossip = 0x01;

    /// <summary>The message type byte of goodbye.</summary>
    public const byte Goodbye = 0x02;

    /// <summary>Gossip: <c>0x01, uptime_ms u64, process_count u32, count u16, count × str8 node id</c>.</summary>
    public readonly struct GossipMessage(TimeSpan uptime, int processCount, IReadOnlyCollection<NodeId> known) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(15);
            span[0] = Gossip;
            BinaryPrimitives.WriteUInt64LittleEndian(span[1..], (ulong)Math.Max(0, (long)uptime.TotalMilliseconds));
            BinaryPrimitives.WriteUInt32LittleEndian(span[9..], (uint)processCount);
            var count = (ushort)Math.Min(known.Count, ushort.MaxValue);
            BinaryPrimitives.WriteUInt16LittleEndian(span[13..], count);
            writer.Advance(15);
            var written = 0;
            foreach (var id in known)
            {
                if (written++ == count)
                {
                    break;
                }
                var text = id.ToString();
                var bytes = writer.GetSpan(1 + Encoding.UTF8.GetMaxByteCount(text.Length));
                var length = Encoding.UTF8.GetBytes(text, bytes[1..]);
                bytes[0] = (byte)length;
                writer.Advance(1 + length);
            }
        }
    }

    /// <summary>Goodbye: the single byte <c>0x02</c>; the sender is stopping (graceful_shutdown).</summary>
    public readonly struct GoodbyeMessage : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            writer.GetSpan(1)[0] = Goodbye;
            writer.Advance(1);
        }
    }

    /// <summary>Reads a gossip body (after the type byte).</summary>
    /// <exception cref="FormatException">The body breaks protocol.md §5.1.</exception>
    public static (TimeSpan Uptime, int ProcessCount, List<NodeId> Known) ReadGossip(ReadOnlySpan<byte> body)
    {
        if (body.Length < 14)
        {
            throw new FormatException($"gossip needs at least 14 bytes, got {body.Length}");
        }
        var uptime = TimeSpan.FromMilliseconds(Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(body), (ulong)TimeSpan.MaxValue.TotalMilliseconds - 1));
        var processCount = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(body[8..]), int.MaxValue);
        int count = BinaryPrimitives.ReadUInt16LittleEndian(body[12..]);
        var rest = body[14..];
        // Each entry takes at least 1 byte, so a count larger than the rest is a lie: check before allocating.
        if (count > rest.Length)
        {
            throw new FormatException($"gossip claims {count} nodes in {rest.Length} bytes");
        }
        var known = new List<NodeId>(count);
        for (var i = 0; i < count; i++)
        {
            if (rest.IsEmpty || rest.Length < 1 + rest[0])
            {
                throw new FormatException($"gossip entry {i} ends early");
            }
            var text = Encoding.UTF8.GetString(rest.Slice(1, rest[0]));
            if (!NodeId.TryParse(text, out var id))
            {
                throw new FormatException($"gossip entry {i} is not a node id: '{text}'");
            }
            known.Add(id);
            rest = rest[(1 + rest[0])..];
        }
        if (!rest.IsEmpty)
        {
            throw new FormatException($"{rest.Length} bytes follow the last gossip entry");
        }
        return (uptime, processCount, known);
    }
}

/// <summary>
/// Who is in the cluster as this node sees it: known nodes, their status and info, and the reconnect backoff of each.
/// </summary>
/// <remarks>Thread-safe; transitions happen under one lock so that up and down events of a node never cross.</remarks>
internal sealed class Membership
{
    private readonly Lock _lock = new();
    private readonly Dictionary<NodeId, Entry> _nodes = new();
    private readonly NodeId _self;
    private readonly TimeProvider _time;

    public Membership(NodeId self, TimeProvider time)
    {
        _self = self;
        _time = time;
    }

    /// <summary>Every known node but this one.</summary>
    public NodeInfo[] GetNodes()
    {
        lock (_lock)
        {
            return _nodes.Values.Select(e => e.Info).ToArray();
        }
    }

    /// <summary>The ids of every known node (for gossip), this one included.</summary>
    public List<NodeId> GetKnownIds()
    {
        lock (_lock)
        {
            var ids = new List<NodeId>(_nodes.Count + 1) { _self };
            ids.AddRange(_nodes.Keys);
            return ids;
        }
    }

    /// <summary>The node's info, if known.</summary>
    public NodeInfo? GetNode(NodeId id)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue(id, out var entry) ? entry.Info : null;
        }
    }

    /// <summary>Learns of a node (a seed, or gossip). Returns true if it was new.</summary>
    public bool Learn(NodeId id)
    {
        if (id == _self)
        {
            return false;
        }
        lock (_lock)
        {
            if (_nodes.ContainsKey(id))
            {
                return false;
            }
            _nodes[id] = new Entry(new NodeInfo(id, NodeStatus.Disconnected, 0, 0, TimeSpan.Zero, DateTimeOffset.MinValue));
            return true;
        }
    }

    /// <summary>Forgets a node that said goodbye, so it is not redialled.</summary>
    public void Forget(NodeId id)
    {
        lock (_lock)
        {
            _nodes.Remove(id);
        }
    }

    /// <summary>Marks a node connected; returns its info for the node-up event, or null if it already was up.</summary>
    public NodeInfo? MarkUp(NodeId id, ulong incarnation)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(id, out var entry))
            {
                entry = new Entry(new NodeInfo(id, NodeStatus.Disconnected, 0, 0, TimeSpan.Zero, DateTimeOffset.MinValue));
                _nodes[id] = entry;
            }
            var wasUp = entry.Info.Status == NodeStatus.Connected && entry.Info.Incarnation == incarnation;
            entry.Info = entry.Info with { Status = NodeStatus.Connected, Incarnation = incarnation, LastSeen = _time.GetUtcNow() };
            entry.Attempt = 0;
            return wasUp ? null : entry.Info;
        }
    }

    /// <summary>Marks a node disconnected; returns false if it was not up (so no second node-down is raised).</summary>
    public bool MarkDown(NodeId id)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(id, out var entry) || entry.Info.Status != NodeStatus.Connected)
            {
                return false;
            }
            entry.Info = entry.Info with { Status = NodeStatus.Disconnected };
            return true;
        }
    }

    /// <summary>Records a node's gossip.</summary>
    public void Update(NodeId id, TimeSpan uptime, int processCount)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(id, out var entry))
            {
                entry.Info = entry.Info with { Uptime = uptime, ProcessCount = processCount, LastSeen = _time.GetUtcNow() };
            }
        }
    }

    /// <summary>
    /// The next reconnect delay for <paramref name="id"/>: base·2^attempt capped at the maximum, times a random factor in
    /// [1 − jitter, 1 + jitter] (the original's formula with its jitter made configurable).
    /// </summary>
    public TimeSpan NextBackoff(NodeId id, NodeOptions options)
    {
        int attempt;
        lock (_lock)
        {
            if (!_nodes.TryGetValue(id, out var entry))
            {
                return options.ReconnectBaseDelay;
            }
            attempt = entry.Attempt++;
        }
        var delay = Math.Min(options.ReconnectBaseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(attempt, 30)), options.ReconnectMaxDelay.TotalMilliseconds);
        var factor = 1 - options.ReconnectJitter + (2 * options.ReconnectJitter * Random.Shared.NextDouble());
        return TimeSpan.FromMilliseconds(delay * factor);
    }

    private sealed class Entry(NodeInfo info)
    {
        public NodeInfo Info = info;
        public int Attempt;
    }
}
