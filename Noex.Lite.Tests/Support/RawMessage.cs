namespace Noex.Lite.Tests;

/// <summary>
/// A message of bytes sent as they are (type byte first), for what a broken or hostile peer could put in a frame: the
/// frame around it is still sealed and authenticated by the sending connection.
/// </summary>
internal readonly struct RawMessage(byte[] bytes) : IOutboundMessage
{
    public void Write(System.Buffers.IBufferWriter<byte> writer)
    {
        bytes.CopyTo(writer.GetSpan(bytes.Length));
        writer.Advance(bytes.Length);
    }
}
