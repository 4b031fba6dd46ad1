using System.Diagnostics;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Noex.Lite;

/// <summary>
/// Reads the fields of one message (protocol.md §5) in order from its bytes, without allocating (but for the strings and
/// values it returns): each <c>TryRead</c> takes its field off the front and returns true, or returns false when the
/// bytes left do not hold it. "Not enough bytes" is a false return, never an exception, so a service's
/// <c>OnMessage</c> reads a message as one chain of <c>&amp;&amp;</c> that mirrors the message's grammar line and
/// refuses a malformed body by falling through to <c>return false</c> (a protocol error, §5).
/// </summary>
/// <remarks>
/// Integers are little-endian (§1). A field that fails is not consumed, but the fields before it are: a reader that
/// returned false is for throwing away, as the message is. A <c>value</c> (§2) has no length of its own and always
/// ends its message, so <see cref="TryReadValue(out Value)"/> reads all that is left.
/// </remarks>
internal ref struct WireReader
{
    private ReadOnlySpan<byte> _rest;

    /// <summary>A reader of <paramref name="bytes"/> (a message body, usually: the bytes after the type byte).</summary>
    public WireReader(ReadOnlySpan<byte> bytes) => _rest = bytes;

    /// <summary>The bytes not read yet.</summary>
    public readonly ReadOnlySpan<byte> Rest => _rest;

    /// <summary>How many bytes are left.</summary>
    public readonly int Remaining => _rest.Length;

    /// <summary>Whether every byte has been read: a fixed-size message with a byte missing or extra is malformed (§5).</summary>
    public readonly bool End => _rest.IsEmpty;

    /// <summary>Reads a <c>u8</c>.</summary>
    public bool TryReadByte(out byte value)
    {
        if (_rest.IsEmpty)
        {
            value = 0;
            return false;
        }
        value = _rest[0];
        return Skip(sizeof(byte));
    }

    /// <summary>Reads a <c>u16</c>, little-endian (§1).</summary>
    public bool TryReadUInt16(out ushort value) => BinaryPrimitives.TryReadUInt16LittleEndian(_rest, out value) && Skip(sizeof(ushort));

    /// <summary>Reads a <c>u32</c>, little-endian.</summary>
    public bool TryReadUInt32(out uint value) => BinaryPrimitives.TryReadUInt32LittleEndian(_rest, out value) && Skip(sizeof(uint));

    /// <summary>Reads an <c>i64</c>, little-endian.</summary>
    public bool TryReadInt64(out long value) => BinaryPrimitives.TryReadInt64LittleEndian(_rest, out value) && Skip(sizeof(long));

    /// <summary>Reads a <c>u64</c>, little-endian.</summary>
    public bool TryReadUInt64(out ulong value) => BinaryPrimitives.TryReadUInt64LittleEndian(_rest, out value) && Skip(sizeof(ulong));

    /// <summary>
    /// Reads a <c>trace</c> field (§5.2); false when it runs past the end, when the trace or span id is all zeros (W3C's
    /// invalid ids), or when the trace state is not an ASCII str8. Flags other than bit 0 (sampled) are ignored.
    /// </summary>
    public bool TryReadTraceContext(out ActivityContext context)
    {
        context = default;
        if (_rest.Length < 25 || !_rest[..16].ContainsAnyExcept((byte)0) || !_rest.Slice(16, 8).ContainsAnyExcept((byte)0))
        {
            return false;
        }
        var traceId = ActivityTraceId.CreateFromBytes(_rest[..16]);
        var spanId = ActivitySpanId.CreateFromBytes(_rest.Slice(16, 8));
        var flags = (ActivityTraceFlags)(_rest[24] & 1);
        Skip(25);
        if (!TryReadStr8(out var state) || !Ascii.IsValid(state))
        {
            return false;
        }
        context = new ActivityContext(traceId, spanId, flags, state.Length == 0 ? null : state, isRemote: true);
        return true;
    }

    /// <summary>
    /// Reads a <c>str8</c> (§5.3): a length byte and that many bytes of well-formed UTF-8 (§1); false when it runs past
    /// the end or is not UTF-8. Empty is a valid str8; a field that must not be empty says so itself.
    /// </summary>
    public bool TryReadStr8(out string text)
    {
        // Checked before the slice: the length byte is the peer's, and may point past the end.
        if (_rest.IsEmpty || _rest[0] >= _rest.Length)
        {
            text = "";
            return false;
        }
        var utf8 = _rest.Slice(1, _rest[0]);
        // The same test the value codec makes of its strings, so that the two agree on what UTF-8 is; it is cheaper
        // than a throwing decoder's failure, and Encoding.UTF8 cannot then meet an ill-formed byte to replace.
        if (!ValueCodec.IsValidUtf8(utf8))
        {
            text = "";
            return false;
        }
        text = Encoding.UTF8.GetString(utf8);
        return Skip(1 + utf8.Length);
    }

    /// <summary>Reads the rest of the message as one value (§2); false when it does not decode (or nothing is left).</summary>
    public bool TryReadValue(out Value value) => TryReadValue(out value, out _, out _);

    /// <summary>Reads the rest of the message as one value (§2), and says why when it does not decode.</summary>
    /// <param name="value">The value.</param>
    /// <param name="error">Why it does not decode.</param>
    /// <param name="errorOffset">Where in the rest it failed.</param>
    public bool TryReadValue(out Value value, out ValueCodecError error, out long errorOffset)
    {
        if (!ValueCodec.TryDecode(_rest, out value, out error, out errorOffset))
        {
            return false;
        }
        _rest = default;
        return true;
    }

    /// <summary>Consumes <paramref name="count"/> bytes already checked to be there; true, so that a read ends with it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Skip(int count)
    {
        _rest = _rest[count..];
        return true;
    }
}
