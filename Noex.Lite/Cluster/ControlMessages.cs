using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Noex.Lite;

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
