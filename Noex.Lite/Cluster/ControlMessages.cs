using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace Noex.Lite;

/// <summary>The cluster control messages of protocol.md §5.1.</summary>
internal static class ControlMessages
{
    /// <summary>The message type byte of gossip (the mesh dispatches on it).</summary>
    public const byte Gossip = MessageTypes.Gossip;

    /// <summary>The message type byte of goodbye.</summary>
    public const byte Goodbye = MessageTypes.Goodbye;

    /// <summary><c>0x01 gossip: uptime_ms u64, process_count u32, count u16, count × str8 node id</c>.</summary>
    public readonly struct GossipMessage(TimeSpan uptime, int processCount, IReadOnlyCollection<NodeId> known) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.Gossip);
            writer.WriteUInt64((ulong)Math.Max(0, (long)uptime.TotalMilliseconds));
            writer.WriteUInt32((uint)processCount);
            var count = (ushort)Math.Min(known.Count, ushort.MaxValue);
            writer.WriteUInt16(count);
            var written = 0;
            foreach (var id in known)
            {
                if (written++ == count)
                {
                    break;
                }
                writer.WriteStr8(id.ToString());
            }
            writer.Commit();
        }
    }

    /// <summary><c>0x02 goodbye</c>: the sender is stopping (graceful_shutdown).</summary>
    public readonly struct GoodbyeMessage : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output) => new WireWriter(output, MessageTypes.Goodbye).Commit();
    }

    /// <summary>Reads a gossip body (after the type byte).</summary>
    /// <param name="body">The body.</param>
    /// <param name="gossip">The sender's uptime and process count, and the node ids it knows.</param>
    /// <param name="error">What breaks protocol.md §5.1, when the body is malformed (a protocol error).</param>
    public static bool TryReadGossip(ReadOnlySpan<byte> body, out (TimeSpan Uptime, int ProcessCount, List<NodeId> Known) gossip,
        [NotNullWhen(false)] out string? error)
    {
        gossip = default;
        var reader = new WireReader(body);
        if (!reader.TryReadUInt64(out var uptimeMs) || !reader.TryReadUInt32(out var processCount) || !reader.TryReadUInt16(out var count))
        {
            error = $"gossip needs at least 14 bytes, got {body.Length}";
            return false;
        }
        // Each entry takes at least 1 byte, so a count larger than the rest is a lie: check before allocating.
        if (count > reader.Remaining)
        {
            error = $"gossip claims {count} nodes in {reader.Remaining} bytes";
            return false;
        }
        var known = new List<NodeId>(count);
        for (var i = 0; i < count; i++)
        {
            if (!reader.TryReadStr8(out var text))
            {
                error = $"gossip entry {i} ends early or is not UTF-8";
                return false;
            }
            if (!NodeId.TryParse(text, out var id))
            {
                error = $"gossip entry {i} is not a node id: '{text}'";
                return false;
            }
            known.Add(id);
        }
        if (!reader.End)
        {
            error = $"{reader.Remaining} bytes follow the last gossip entry";
            return false;
        }
        var uptime = TimeSpan.FromMilliseconds(Math.Min(uptimeMs, (ulong)TimeSpan.MaxValue.TotalMilliseconds - 1));
        gossip = (uptime, (int)Math.Min(processCount, int.MaxValue), known);
        error = null;
        return true;
    }
}
