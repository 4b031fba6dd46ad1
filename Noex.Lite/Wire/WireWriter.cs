using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Noex.Lite;

/// <summary>
/// Writes the fields of one message (protocol.md §5) in order into an <see cref="IBufferWriter{T}"/> (a connection's
/// <see cref="FrameWriter"/>), so that a message's <c>Write</c> reads like its grammar line:
/// <c>new WireWriter(output, MessageTypes.Reply)</c>, <see cref="WriteInt64"/>, <see cref="WriteValue"/>,
/// <see cref="Commit"/>.
/// </summary>
/// <remarks>
/// <para>
/// It is the value codec's <see cref="ValueWriter"/> (STYLE bullet 6: a <c>ref struct</c> that caches the span it got
/// from the buffer writer) with the fixed-size fields of §5 on top: those go into the same cached span as the value
/// that ends the message, so a whole message costs one <c>GetSpan</c> and one <see cref="IBufferWriter{T}.Advance"/>,
/// with no interface call per field. <b>Call <see cref="Commit"/> when done</b>: until then the bytes are written but
/// not committed.
/// </para>
/// <para>
/// No <c>Dispose</c> commits on purpose: after an encoder's exception the frame writer has dropped the message, and
/// committing then would fail again and hide the first exception. A mutable <c>ref struct</c>: pass it by <c>ref</c>.
/// </para>
/// </remarks>
internal ref struct WireWriter
{
    private ValueWriter _writer;

    /// <summary>A writer of fields that are not a whole message (a handshake field, an entry inside a message).</summary>
    /// <param name="output">Where to write; the writer holds a span of it until <see cref="Commit"/>, so do not write to
    /// it in between.</param>
    public WireWriter(IBufferWriter<byte> output) => _writer = new ValueWriter(output);

    /// <summary>A writer of one message, its <paramref name="type"/> byte (<see cref="MessageTypes"/>) written first.</summary>
    /// <param name="output">Where to write; the writer holds a span of it until <see cref="Commit"/>.</param>
    /// <param name="type">The message's type (§5).</param>
    public WireWriter(IBufferWriter<byte> output, byte type)
        : this(output) => WriteByte(type);

    /// <summary>Writes a <c>u8</c>.</summary>
    public void WriteByte(byte value) => Take(sizeof(byte))[0] = value;

    /// <summary>Writes a <c>u16</c>, little-endian (§1).</summary>
    public void WriteUInt16(ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(Take(sizeof(ushort)), value);

    /// <summary>Writes a <c>u32</c>, little-endian.</summary>
    public void WriteUInt32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Take(sizeof(uint)), value);

    /// <summary>Writes an <c>i64</c>, little-endian.</summary>
    public void WriteInt64(long value) => BinaryPrimitives.WriteInt64LittleEndian(Take(sizeof(long)), value);

    /// <summary>Writes a <c>u64</c>, little-endian.</summary>
    public void WriteUInt64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Take(sizeof(ulong)), value);

    /// <summary>
    /// Writes a <c>str8</c> (§5.3): a length byte and the text's UTF-8. The caller keeps the text within 255 bytes
    /// (names are checked when they are registered, node ids are short); an unpaired surrogate is written as U+FFFD,
    /// as <see cref="Encoding.UTF8"/> does.
    /// </summary>
    public void WriteStr8(string text)
    {
        var span = _writer.Reserve(1 + Encoding.UTF8.GetMaxByteCount(text.Length));
        var length = Encoding.UTF8.GetBytes(text, span[1..]);
        Debug.Assert(length <= byte.MaxValue, "a str8 carries at most 255 bytes");
        span[0] = (byte)length;
        _writer.Advance(1 + length);
    }

    /// <summary>
    /// Writes a <c>trace</c> field (§5.2): the W3C trace id (16 bytes), the sender's span id (8), the trace flags (u8) and
    /// the trace state as a str8. A trace state longer than a str8 holds, or not ASCII, is left out (W3C lets a hop drop
    /// it), so the field is always well formed.
    /// </summary>
    public void WriteTraceContext(in ActivityContext context)
    {
        var span = Take(25);
        context.TraceId.CopyTo(span[..16]);
        context.SpanId.CopyTo(span.Slice(16, 8));
        span[24] = (byte)context.TraceFlags;
        WriteStr8(context.TraceState is { Length: > 0 and <= 255 } state && Ascii.IsValid(state) ? state : "");
    }

    /// <summary>Writes a value (§2), which has no length of its own and so is the last field of its message.</summary>
    /// <exception cref="ValueCodecException">The value cannot cross the wire (see <see cref="ValueWriter.WriteValue"/>).</exception>
    /// <exception cref="MessageTooLargeException">The message does not fit in a frame; the exception names the value's encoded
    /// length, the envelope's and how much to cut.</exception>
    public void WriteValue(Value value)
    {
        var envelope = (int)_writer.BytesWritten;
        try
        {
            // Committed here rather than in Commit: the frame writer checks the length as bytes are committed.
            _writer.WriteValue(value);
            _writer.Flush();
        }
        catch (MessageTooLargeException e) when (e.ValueLength is null)
        {
            // The frame writer sees only bytes; here the value is known: measure all of it (a walk, no allocation), so
            // that the caller hears how much to cut rather than where writing happened to stop.
            throw e.WithValue(value.IsTyped ? TypedValues.EncodedLength(value) : ValueCodec.GetEncodedLength(value), envelope);
        }
    }

    /// <summary>Commits the bytes written so far to the buffer writer (one <see cref="IBufferWriter{T}.Advance"/> call).</summary>
    public void Commit() => _writer.Flush();

    /// <summary>The next <paramref name="size"/> bytes of the cached span, taken: the caller fills them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Span<byte> Take(int size)
    {
        var span = _writer.Reserve(size);
        _writer.Advance(size);
        return span;
    }
}
