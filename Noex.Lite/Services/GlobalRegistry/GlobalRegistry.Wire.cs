using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Noex.Lite;

// The wire forms of protocol.md §5.4: entries and the messages that carry them.
public sealed partial class GlobalRegistry
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static bool TryReadStr8(ref ReadOnlySpan<byte> body, out string text)
    {
        text = "";
        if (body.IsEmpty || body.Length < 1 + body[0] || body[0] == 0)
        {
            return false;
        }
        try
        {
            text = s_strictUtf8.GetString(body.Slice(1, body[0]));
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
        body = body[(1 + body[0])..];
        return true;
    }

    private static void WriteStr8(IBufferWriter<byte> writer, string text)
    {
        var span = writer.GetSpan(1 + Encoding.UTF8.GetMaxByteCount(text.Length));
        var length = Encoding.UTF8.GetBytes(text, span[1..]);
        span[0] = (byte)length;
        writer.Advance(1 + length);
    }

    /// <summary>A claim on the wire: <c>stamp i64, host_incarnation u64, process_id i64, name str8, process_node str8</c>.</summary>
    internal readonly record struct WireEntry(string Name, ProcessRef Target, ulong HostIncarnation, long Stamp)
    {
        /// <summary>The fewest bytes an entry takes (one-byte name and node).</summary>
        public const int MinLength = 24 + 2 + 2;

        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(24);
            BinaryPrimitives.WriteInt64LittleEndian(span, Stamp);
            BinaryPrimitives.WriteUInt64LittleEndian(span[8..], HostIncarnation);
            BinaryPrimitives.WriteInt64LittleEndian(span[16..], Target.Id);
            writer.Advance(24);
            WriteStr8(writer, Name);
            WriteStr8(writer, Target.Node);
        }

        public static bool TryRead(ref ReadOnlySpan<byte> body, out WireEntry entry)
        {
            entry = default;
            if (body.Length < MinLength)
            {
                return false;
            }
            var stamp = BinaryPrimitives.ReadInt64LittleEndian(body);
            var hostIncarnation = BinaryPrimitives.ReadUInt64LittleEndian(body[8..]);
            var id = BinaryPrimitives.ReadInt64LittleEndian(body[16..]);
            var rest = body[24..];
            if (!TryReadStr8(ref rest, out var name) || !TryReadStr8(ref rest, out var node) || !NodeId.TryParse(node, out _))
            {
                return false;
            }
            body = rest;
            entry = new WireEntry(name, new ProcessRef(node, id), hostIncarnation, stamp);
            return true;
        }
    }

    /// <summary><c>0x20, entry</c>: the sender registered a name.</summary>
    internal readonly struct RegisterMessage(string name, ProcessRef target, ulong hostIncarnation, long stamp) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            writer.GetSpan(1)[0] = TypeRegister;
            writer.Advance(1);
            new WireEntry(name, target, hostIncarnation, stamp).Write(writer);
        }
    }

    /// <summary><c>0x21, name str8</c>: the sender withdrew its claim of a name.</summary>
    internal readonly struct UnregisterMessage(string name) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            writer.GetSpan(1)[0] = TypeUnregister;
            writer.Advance(1);
            WriteStr8(writer, name);
        }
    }

    /// <summary><c>0x22, process_id i64, incarnation u64</c>: a process of the sender's run <c>incarnation</c> ended.</summary>
    internal readonly struct ProcessEndedMessage(long processId, ulong incarnation) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(17);
            span[0] = TypeProcessEnded;
            BinaryPrimitives.WriteInt64LittleEndian(span[1..], processId);
            BinaryPrimitives.WriteUInt64LittleEndian(span[9..], incarnation);
            writer.Advance(17);
        }
    }

    /// <summary><c>0x23, flags u8, count u16, count × entry</c>: a part of the sender's full set.</summary>
    private readonly struct SyncMessage(byte flags, List<Entry> entries, int offset, int count) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(4);
            span[0] = TypeSync;
            span[1] = flags;
            BinaryPrimitives.WriteUInt16LittleEndian(span[2..], (ushort)count);
            writer.Advance(4);
            for (var i = offset; i < offset + count; i++)
            {
                var e = entries[i];
                new WireEntry(e.Name, e.Target, e.HostIncarnation, e.Stamp).Write(writer);
            }
        }
    }

    /// <summary>A sync message from wire entries, for the conformance tests.</summary>
    internal readonly struct WireSyncMessage(byte flags, IReadOnlyList<WireEntry> entries) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(4);
            span[0] = TypeSync;
            span[1] = flags;
            BinaryPrimitives.WriteUInt16LittleEndian(span[2..], (ushort)entries.Count);
            writer.Advance(4);
            foreach (var e in entries)
            {
                e.Write(writer);
            }
        }
    }

    /// <summary><c>0x24, count u32, sum u64</c>: the digest of the sender's own set.</summary>
    internal readonly struct DigestMessage(int count, ulong sum) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(13);
            span[0] = TypeDigest;
            BinaryPrimitives.WriteUInt32LittleEndian(span[1..], (uint)count);
            BinaryPrimitives.WriteUInt64LittleEndian(span[5..], sum);
            writer.Advance(13);
        }
    }

    /// <summary><c>0x25</c>: send me your full set.</summary>
    internal readonly struct SyncRequestMessage : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            writer.GetSpan(1)[0] = TypeSyncRequest;
            writer.Advance(1);
        }
    }
}
