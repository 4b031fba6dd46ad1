using System.Buffers;

namespace Noex.Lite;

/// <summary>
/// A message that is its type and one i64 id and nothing else: <c>type, id i64</c>. Several layers have one (spawn_ack and
/// spawn_cancel in §5.3, demonitor in §5.5), so they share this writer.
/// </summary>
internal readonly struct IdMessage(byte type, long id) : IOutboundMessage
{
    public void Write(IBufferWriter<byte> output)
    {
        var writer = new WireWriter(output, type);
        writer.WriteInt64(id);
        writer.Commit();
    }
}

/// <summary>What encodes one outbound message straight into the frame being built (a struct, so no boxing).</summary>
internal interface IOutboundMessage
{
    void Write(IBufferWriter<byte> writer);
}
