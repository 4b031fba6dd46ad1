using System.Buffers;

namespace Noex.Lite;

// The wire forms of protocol.md §5.4: entries and the messages that carry them.
public sealed partial class GlobalRegistry
{
    /// <summary>A claim on the wire: <c>stamp i64, host_incarnation u64, process_id i64, name str8, process_node str8</c>.</summary>
    internal readonly record struct WireEntry(string Name, ProcessRef Target, ulong HostIncarnation, long Stamp)
    {
        /// <summary>The fewest bytes an entry takes (one-byte name and node).</summary>
        public const int MinLength = 24 + 2 + 2;

        public void Write(ref WireWriter writer)
        {
            writer.WriteInt64(Stamp);
            writer.WriteUInt64(HostIncarnation);
            writer.WriteInt64(Target.Id);
            writer.WriteStr8(Name);
            writer.WriteStr8(Target.Node);
        }

        /// <summary>Reads an entry; false when it runs past the end, a str8 is not UTF-8, the name is empty, or
        /// <c>process_node</c> is not a node id (§5.4).</summary>
        public static bool TryRead(ref WireReader reader, out WireEntry entry)
        {
            if (reader.TryReadInt64(out var stamp) && reader.TryReadUInt64(out var hostIncarnation) && reader.TryReadInt64(out var id)
                && reader.TryReadStr8(out var name) && name.Length != 0 && reader.TryReadStr8(out var node) && NodeId.TryParse(node, out _))
            {
                entry = new WireEntry(name, new ProcessRef(node, id), hostIncarnation, stamp);
                return true;
            }
            entry = default;
            return false;
        }
    }

    /// <summary><c>0x20 register: entry</c>: the sender registered a name.</summary>
    internal readonly struct RegisterMessage(string name, ProcessRef target, ulong hostIncarnation, long stamp) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.Register);
            new WireEntry(name, target, hostIncarnation, stamp).Write(ref writer);
            writer.Commit();
        }
    }

    /// <summary><c>0x21 unregister: name str8</c>: the sender withdrew its claim of a name.</summary>
    internal readonly struct UnregisterMessage(string name) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.Unregister);
            writer.WriteStr8(name);
            writer.Commit();
        }
    }

    /// <summary><c>0x22 process_ended: process_id i64, incarnation u64</c>: a process of the sender's run <c>incarnation</c> ended.</summary>
    internal readonly struct ProcessEndedMessage(long processId, ulong incarnation) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.ProcessEnded);
            writer.WriteInt64(processId);
            writer.WriteUInt64(incarnation);
            writer.Commit();
        }
    }

    /// <summary><c>0x23 sync: flags u8, count u16, count × entry</c>: a part of the sender's full set, the
    /// <paramref name="count"/> entries from <paramref name="offset"/>.</summary>
    internal readonly struct SyncMessage(byte flags, IReadOnlyList<WireEntry> entries, int offset, int count) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.Sync);
            writer.WriteByte(flags);
            writer.WriteUInt16((ushort)count);
            for (var i = offset; i < offset + count; i++)
            {
                entries[i].Write(ref writer);
            }
            writer.Commit();
        }
    }

    /// <summary><c>0x24 digest: count u32, sum u64</c>: the digest of the sender's own set.</summary>
    internal readonly struct DigestMessage(int count, ulong sum) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output)
        {
            var writer = new WireWriter(output, MessageTypes.Digest);
            writer.WriteUInt32((uint)count);
            writer.WriteUInt64(sum);
            writer.Commit();
        }
    }

    /// <summary><c>0x25 sync_request</c>: send me your full set.</summary>
    internal readonly struct SyncRequestMessage : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> output) => new WireWriter(output, MessageTypes.SyncRequest).Commit();
    }
}
