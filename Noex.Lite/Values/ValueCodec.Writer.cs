using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text.Unicode;

namespace Noex.Lite;

/// <summary>Writes values in the binary encoding (protocol.md §2.1) into an <see cref="IBufferWriter{T}"/>, one value
/// or one container header at a time.</summary>
/// <remarks>
/// <para>
/// The writer caches the span it got from the buffer writer and writes into it directly; it calls
/// <see cref="IBufferWriter{T}.Advance"/> once per span, not once per value, when the span runs out and in
/// <see cref="Flush"/>. <b>Call <see cref="Flush"/> when done</b>: until then the bytes are written but not committed.
/// </para>
/// <para>
/// Containers are length-prefixed: <see cref="WriteArrayHeader"/> takes the element count, after which exactly that many
/// values follow; <see cref="WriteObjectHeader"/> takes the entry count, after which each entry is
/// <see cref="WritePropertyName(ReadOnlySpan{char})"/> then a value. The writer does not check that the counts are kept:
/// a wrong count produces bytes that a decoder refuses. Keys must be unique in an object. Every scalar written is the
/// canonical form, so a correctly counted sequence of calls always yields an encoding that decodes.
/// </para>
/// <para>A mutable <c>ref struct</c>: not thread-safe; pass it by <c>ref</c>. After an exception the output holds an
/// incomplete value and must be discarded.</para>
/// </remarks>
public ref struct ValueWriter
{
    // Asked of the buffer writer when the cached span runs out, so that small values do not each cost a GetSpan call.
    private const int MinimumSpanRequest = 256;

    private readonly IBufferWriter<byte> _output;
    private readonly int _maxDepth;
    private Span<byte> _span; // the free part of the span obtained from _output
    private int _buffered; // bytes written into that span and not yet committed with Advance
    private long _committed;
    private int _depth; // containers opened by EnterContainer

    /// <summary>Creates a writer.</summary>
    /// <param name="output">Where to write. The writer holds a span of it until <see cref="Flush"/>; do not write to it
    /// in between.</param>
    /// <param name="maxDepth">The deepest nesting of arrays and objects that <see cref="WriteValue"/> writes.</param>
    public ValueWriter(IBufferWriter<byte> output, int maxDepth = ValueCodec.DefaultMaxDepth)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfNegative(maxDepth);
        _output = output;
        _maxDepth = maxDepth;
        _span = default;
        _buffered = 0;
        _committed = 0;
    }

    /// <summary>The number of bytes written so far, committed or not.</summary>
    public readonly long BytesWritten => _committed + _buffered;

    /// <summary>Commits the bytes written so far to the buffer writer (one <see cref="IBufferWriter{T}.Advance"/> call).</summary>
    public void Flush()
    {
        if (_buffered > 0)
        {
            _output.Advance(_buffered);
            _committed += _buffered;
            _buffered = 0;
        }
        // After Advance the old span is no longer ours (IBufferWriter contract); the next write asks for a new one.
        _span = default;
    }

    /// <summary>Writes null.</summary>
    public void WriteNull() => WriteByte(ValueCodec.TagNull);

    /// <summary>Writes a boolean.</summary>
    /// <param name="value">The boolean.</param>
    public void WriteBoolean(bool value) => WriteByte(value ? ValueCodec.TagTrue : ValueCodec.TagFalse);

    /// <summary>Writes an integer: one byte for 0 to 127, else the tag and a zigzag varint (2 to 11 bytes).</summary>
    /// <param name="value">The integer.</param>
    public void WriteInt64(long value)
    {
        if ((ulong)value <= ValueCodec.MaxSmallInteger)
        {
            WriteByte((byte)(ValueCodec.TagSmallInteger | (byte)value));
            return;
        }
        var span = Reserve(1 + ValueCodec.MaxVarintLength);
        span[0] = ValueCodec.TagInteger;
        Advance(1 + WriteVarint(span, 1, ValueCodec.Zigzag(value)));
    }

    /// <summary>Writes a float (9 bytes; <c>-0.0</c> is kept).</summary>
    /// <param name="value">A finite number.</param>
    /// <exception cref="ValueCodecException">The number is NaN or infinite (<see cref="ValueCodecError.NonFiniteNumber"/>).</exception>
    public void WriteDouble(double value)
    {
        if (!double.IsFinite(value))
        {
            ThrowNonFinite(value);
        }
        var span = Reserve(9);
        span[0] = ValueCodec.TagFloat;
        BinaryPrimitives.WriteDoubleLittleEndian(span.Slice(1, 8), value);
        Advance(9);
    }

    /// <summary>Writes a string, transcoding it to UTF-8 straight into the output.</summary>
    /// <param name="value">The string.</param>
    /// <exception cref="ValueCodecException">It holds an unpaired surrogate (<see cref="ValueCodecError.InvalidUtf8"/>).</exception>
    public void WriteString(ReadOnlySpan<char> value) => WriteText(value, isKey: false);

    /// <summary>Writes a string given as UTF-8.</summary>
    /// <param name="utf8">The string's UTF-8 bytes.</param>
    /// <exception cref="ValueCodecException">The bytes are not well-formed UTF-8 (<see cref="ValueCodecError.InvalidUtf8"/>).</exception>
    public void WriteString(ReadOnlySpan<byte> utf8)
    {
        ValidateUtf8(utf8);
        if (utf8.Length <= ValueCodec.MaxShortString)
        {
            var span = Reserve(1 + utf8.Length);
            span[0] = (byte)(ValueCodec.TagShortString + utf8.Length);
            utf8.CopyTo(span[1..]);
            Advance(1 + utf8.Length);
            return;
        }
        WriteLengthPrefixed(ValueCodec.TagString, utf8);
    }

    /// <summary>Writes a binary blob.</summary>
    /// <param name="bytes">The bytes.</param>
    public void WriteBinary(ReadOnlySpan<byte> bytes) => WriteLengthPrefixed(ValueCodec.TagBinary, bytes);

    /// <summary>Starts an array: exactly <paramref name="count"/> values must follow.</summary>
    /// <param name="count">The number of elements.</param>
    public void WriteArrayHeader(int count) => WriteHeader(ValueCodec.TagArray, count);

    /// <summary>Starts an object: exactly <paramref name="count"/> entries (a property name, then a value) must follow.</summary>
    /// <param name="count">The number of entries.</param>
    public void WriteObjectHeader(int count) => WriteHeader(ValueCodec.TagObject, count);

    /// <summary>Writes an object key (no tag: its UTF-8 length, then its bytes); its value follows.</summary>
    /// <param name="name">The key.</param>
    /// <exception cref="ValueCodecException">It holds an unpaired surrogate (<see cref="ValueCodecError.InvalidUtf8"/>).</exception>
    public void WritePropertyName(ReadOnlySpan<char> name) => WriteText(name, isKey: true);

    /// <summary>Writes an object key given as UTF-8; its value follows.</summary>
    /// <param name="utf8Name">The key's UTF-8 bytes.</param>
    /// <exception cref="ValueCodecException">The bytes are not well-formed UTF-8 (<see cref="ValueCodecError.InvalidUtf8"/>).</exception>
    public void WritePropertyName(ReadOnlySpan<byte> utf8Name)
    {
        ValidateUtf8(utf8Name);
        var span = Reserve(ValueCodec.MaxVarintLength + utf8Name.Length);
        var header = WriteVarint(span, 0, (ulong)utf8Name.Length);
        utf8Name.CopyTo(span[header..]);
        Advance(header + utf8Name.Length);
    }

    /// <summary>Writes an object key encoded in advance: one copy, no check (it was checked when made).</summary>
    /// <param name="key">The key.</param>
    public void WritePropertyName(ValueKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        var encoded = key.Encoded;
        var span = Reserve(encoded.Length);
        encoded.CopyTo(span);
        Advance(encoded.Length);
    }

    /// <summary>Writes a whole value.</summary>
    /// <param name="value">The value.</param>
    /// <exception cref="ValueCodecException">It nests deeper than the writer's maximum depth
    /// (<see cref="ValueCodecError.DepthExceeded"/>) or holds a string with an unpaired surrogate
    /// (<see cref="ValueCodecError.InvalidUtf8"/>).</exception>
    public void WriteValue(Value value) => WriteValueCore(in value, _depth);

    /// <summary>The nesting of containers opened with <see cref="EnterContainer"/> and not yet closed.</summary>
    public readonly int Depth => _depth;

    /// <summary>Counts one more level of nesting, for a contract writing an array or object by hand (its header, then its
    /// items); <see cref="WriteValue"/> counts from here. Pair it with <see cref="ExitContainer"/>.</summary>
    /// <exception cref="ValueCodecException">The nesting would exceed the writer's maximum depth
    /// (<see cref="ValueCodecError.DepthExceeded"/>): a recursive message that a peer would refuse.</exception>
    public void EnterContainer()
    {
        CheckDepth(_depth);
        _depth++;
    }

    /// <summary>Closes the level opened by <see cref="EnterContainer"/>.</summary>
    public void ExitContainer() => _depth--;

    /// <summary>Writes a string of at most 127 ASCII bytes that <paramref name="format"/> puts straight into the output
    /// (a Guid's or a date's text), in the long form, as the canonical encoding requires above 31 bytes.</summary>
    internal void WriteFormattedAscii<TState>(int maxLength, TState state, FormatAscii<TState> format)
    {
        var span = Reserve(2 + maxLength);
        var written = format(state, span[2..]);
        if (written <= ValueCodec.MaxShortString)
        {
            span[0] = (byte)(ValueCodec.TagShortString + written);
            span.Slice(2, written).CopyTo(span[1..]);
            Advance(1 + written);
            return;
        }
        span[0] = ValueCodec.TagString;
        span[1] = (byte)written;
        Advance(2 + written);
    }

    // Scalars are written here; containers in their own methods, so that this frame stays small on the recursion.
    private void WriteValueCore(in Value value, int depth)
    {
        switch (value.Kind)
        {
            case ValueKind.Null:
                WriteByte(ValueCodec.TagNull);
                return;
            case ValueKind.Bool:
                WriteByte(value.AsBoolean() ? ValueCodec.TagTrue : ValueCodec.TagFalse);
                return;
            case ValueKind.Integer:
                WriteInt64(value.AsInt64());
                return;
            case ValueKind.Float:
                WriteDouble(value.AsDouble());
                return;
            case ValueKind.String:
                WriteText(value.AsString(), isKey: false);
                return;
            case ValueKind.Binary:
                WriteLengthPrefixed(ValueCodec.TagBinary, value.AsBinary().Span);
                return;
            case ValueKind.Array:
                WriteArray(value.AsArray(), depth);
                return;
            case Value.TypedKind:
                // A typed message crossing the wire: its contract writes it, counting nesting from here.
                var outer = _depth;
                _depth = depth;
                value.TypedContract.WriteBoxed(ref this, value.TypedMessage);
                _depth = outer;
                return;
            default:
                WriteObject(value.AsObject(), depth);
                return;
        }
    }

    private void WriteArray(ReadOnlySpan<Value> items, int depth)
    {
        CheckDepth(depth);
        WriteHeader(ValueCodec.TagArray, items.Length);
        foreach (ref readonly var item in items)
        {
            WriteValueCore(in item, depth + 1);
        }
    }

    private void WriteObject(ReadOnlySpan<KeyValuePair<string, Value>> entries, int depth)
    {
        CheckDepth(depth);
        WriteHeader(ValueCodec.TagObject, entries.Length);
        foreach (ref readonly var entry in entries)
        {
            WriteText(entry.Key, isKey: true);
            WriteValueCore(entry.Value, depth + 1);
        }
    }

    private readonly void CheckDepth(int depth)
    {
        if (depth >= _maxDepth)
        {
            ThrowDepth(_maxDepth);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteByte(byte value)
    {
        var span = Reserve(1);
        span[0] = value;
        Advance(1);
    }

    private void WriteHeader(byte tag, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var span = Reserve(1 + ValueCodec.MaxVarintLength);
        span[0] = tag;
        Advance(1 + WriteVarint(span, 1, (ulong)count));
    }

    private void WriteLengthPrefixed(byte tag, ReadOnlySpan<byte> bytes)
    {
        var span = Reserve(1 + ValueCodec.MaxVarintLength + bytes.Length);
        span[0] = tag;
        var header = 1 + WriteVarint(span, 1, (ulong)bytes.Length);
        bytes.CopyTo(span[header..]);
        Advance(header + bytes.Length);
    }

    // A string or key from UTF-16. The common case, a short ASCII key or string, is inlined into its callers (where isKey
    // is a constant): one header byte, one byte per char, no transcoder call.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void WriteText(ReadOnlySpan<char> text, bool isKey)
    {
        if (text.Length <= ValueCodec.MaxShortString)
        {
            var span = Reserve(1 + text.Length);
            if (TryNarrowAscii(text, span.Slice(1, text.Length)))
            {
                span[0] = (byte)(isKey ? text.Length : ValueCodec.TagShortString + text.Length);
                Advance(1 + text.Length);
                return;
            }
        }
        WriteTextSlow(text, isKey);
    }

    // Other text. Most is still short, so we avoid counting its UTF-8 first: a string of at most 42 chars has at most 126
    // UTF-8 bytes (3 per char at worst; a surrogate pair is 2 chars for 4 bytes), so its length varint is one byte and it
    // can be transcoded in place behind a 2-byte header and the header fixed up afterwards. A string value of at most 10
    // chars (30 bytes) is always short form and needs no fix-up at all.
    private void WriteTextSlow(ReadOnlySpan<char> text, bool isKey)
    {
        const int MaxCharsForOneByteLength = 42;
        const int MaxCharsAlwaysShort = 10;
        if (text.Length <= MaxCharsForOneByteLength)
        {
            var span = Reserve(2 + (3 * text.Length));
            if (isKey)
            {
                var written = Transcode(text, span[1..]);
                span[0] = (byte)written;
                Advance(1 + written);
            }
            else if (text.Length <= MaxCharsAlwaysShort)
            {
                var written = Transcode(text, span[1..]);
                span[0] = (byte)(ValueCodec.TagShortString + written);
                Advance(1 + written);
            }
            else
            {
                var written = Transcode(text, span[2..]);
                if (written <= ValueCodec.MaxShortString)
                {
                    // Short form after all: its header is one byte, so move the text down over the second one.
                    span.Slice(2, written).CopyTo(span[1..]);
                    span[0] = (byte)(ValueCodec.TagShortString + written);
                    Advance(1 + written);
                }
                else
                {
                    span[0] = ValueCodec.TagString;
                    span[1] = (byte)written;
                    Advance(2 + written);
                }
            }
            return;
        }
        // Long text: count first (vectorised, and it finds an unpaired surrogate), then transcode once into place.
        var length = ValueCodec.StrictUtf8ByteCount(text);
        var target = Reserve(1 + ValueCodec.MaxVarintLength + length);
        var headerLength = 0;
        if (!isKey)
        {
            target[0] = ValueCodec.TagString;
            headerLength = 1;
        }
        headerLength += WriteVarint(target, headerLength, (ulong)length);
        Transcode(text, target[headerLength..]);
        Advance(headerLength + length);
    }

    // Copies text that is all ASCII into `destination` (of the same length); false, leaving garbage behind, when it is not.
    private static bool TryNarrowAscii(ReadOnlySpan<char> text, Span<byte> destination)
    {
        for (var i = 0; i < destination.Length; i++)
        {
            var c = text[i];
            if (c >= 0x80)
            {
                return false;
            }
            destination[i] = (byte)c;
        }
        return true;
    }

    private static int Transcode(ReadOnlySpan<char> text, Span<byte> destination)
    {
        if (Utf8.FromUtf16(text, destination, out _, out var written, replaceInvalidSequences: false) != OperationStatus.Done)
        {
            // The destination always has room (the caller reserved the worst case), so this is an unpaired surrogate.
            ValueCodec.ThrowUnpairedSurrogate();
        }
        return written;
    }

    private static void ValidateUtf8(ReadOnlySpan<byte> utf8)
    {
        if (!ValueCodec.IsValidUtf8(utf8))
        {
            ThrowInvalidUtf8();
        }
    }

    private static int WriteVarint(Span<byte> span, int offset, ulong value)
    {
        var start = offset;
        while (value >= 0x80)
        {
            span[offset++] = (byte)(value | 0x80);
            value >>= 7;
        }
        span[offset++] = (byte)value;
        return offset - start;
    }

    /// <summary>At least <paramref name="size"/> bytes of the cached span to write into, then <see cref="Advance"/> by
    /// what was written; internal for <see cref="WireWriter"/>, which writes a message's fixed fields into the same span
    /// as its value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal Span<byte> Reserve(int size)
    {
        if (_span.Length < size)
        {
            Grow(size);
        }
        return _span;
    }

    /// <summary>Takes <paramref name="count"/> bytes written into the span <see cref="Reserve"/> gave.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void Advance(int count)
    {
        _span = _span[count..];
        _buffered += count;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow(int size)
    {
        Flush();
        var span = _output.GetSpan(Math.Max(size, MinimumSpanRequest));
        if (span.Length < size)
        {
            ThrowShortSpan(size, span.Length);
        }
        _span = span;
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowShortSpan(int wanted, int got) =>
        throw new InvalidOperationException($"The buffer writer returned {got} bytes when asked for at least {wanted}; IBufferWriter<byte>.GetSpan must honour its size hint.");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNonFinite(double value) =>
        ValueCodecException.Throw(ValueCodecError.NonFiniteNumber, -1, $"{value} cannot be encoded: values carry only finite numbers");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowInvalidUtf8() =>
        ValueCodecException.Throw(ValueCodecError.InvalidUtf8, -1, "the bytes given as a string are not well-formed UTF-8");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDepth(int maxDepth) =>
        ValueCodecException.Throw(ValueCodecError.DepthExceeded, -1, $"the value nests arrays and objects deeper than {maxDepth}, which a peer would refuse");
}

/// <summary>Formats a value as ASCII into <c>destination</c> and returns the bytes written (at most 127).</summary>
internal delegate int FormatAscii<in TState>(TState state, Span<byte> destination);
