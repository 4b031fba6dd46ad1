using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;

namespace Noex.Lite;

/// <summary>Reads the binary encoding (protocol.md §2.1) from a span, one value or one container header at a time,
/// without materialising a tree.</summary>
/// <remarks>
/// <para>
/// Every read checks what protocol.md §2.1 and §6 require before it moves on: the tag, canonical form, UTF-8, finite
/// floats, and every length or count against the bytes that remain. A failure throws <see cref="ValueCodecException"/>
/// naming the error and its byte offset; the reader is then spent (its position is unspecified) and the input must be
/// treated as corrupt.
/// </para>
/// <para>
/// Containers are length-prefixed: <see cref="ReadArrayHeader"/> returns the element count, after which the caller reads
/// (or <see cref="Skip"/>s) that many values; <see cref="ReadObjectHeader"/> returns the entry count, after which each
/// entry is <see cref="ReadPropertyName"/> then a value. The reader does not track where a container ends, so the depth
/// limit bounds <see cref="Skip"/> and <see cref="ReadValue"/> (each counted from where it starts); a caller reading
/// containers by hand bounds its own nesting. Key uniqueness is checked only by <see cref="ReadValue"/>, which keeps the
/// keys; a streaming caller that reads a key twice sees it twice.
/// </para>
/// <para>Spans returned point into the input and are valid as long as it is. A mutable <c>ref struct</c>: not
/// thread-safe; pass it by <c>ref</c>.</para>
/// </remarks>
public ref struct ValueReader
{
    // Up to this many entries, duplicate keys are found by comparing each key with the earlier ones (most messages have
    // 2 to 6 keys); above it, a hash set keeps a hostile 100,000-key object from costing 10^10 comparisons.
    private const int LinearDuplicateScanLimit = 16;

    private readonly ReadOnlySpan<byte> _buffer;
    private readonly int _maxDepth;
    private int _position;
    private int _depth; // containers opened by EnterContainer()

    /// <summary>Creates a reader at the start of <paramref name="buffer"/>.</summary>
    /// <param name="buffer">The encoding.</param>
    /// <param name="maxDepth">The deepest nesting of arrays and objects that <see cref="Skip"/> and
    /// <see cref="ReadValue"/> accept (protocol.md §6).</param>
    public ValueReader(ReadOnlySpan<byte> buffer, int maxDepth = ValueCodec.DefaultMaxDepth)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDepth);
        _buffer = buffer;
        _maxDepth = maxDepth;
        _position = 0;
        _depth = 0;
    }

    /// <summary>The nesting of containers opened with <see cref="EnterContainer()"/> and not yet closed.</summary>
    public readonly int Depth => _depth;

    /// <summary>Counts one more level of nesting, for a contract reading an array or object by hand; <see cref="Skip"/> and
    /// <see cref="ReadValue"/> count from here. Pair it with <see cref="ExitContainer"/>. This is what keeps a recursive
    /// message type from being driven into a stack overflow by a deeply nested input.</summary>
    /// <exception cref="ValueCodecException">The nesting exceeds <see cref="MaxDepth"/> (<see cref="ValueCodecError.DepthExceeded"/>).</exception>
    public void EnterContainer()
    {
        EnterContainer(_position, _depth);
        _depth++;
    }

    /// <summary>Closes the level opened by <see cref="EnterContainer()"/>.</summary>
    public void ExitContainer() => _depth--;

    /// <summary>Reads a string, taking short ones from the shared cache that <see cref="ReadValue"/> uses.</summary>
    internal string ReadCachedString()
    {
        var start = _position;
        return DecodeCachedText(ReadStringBytes(), start);
    }

    /// <summary>The number of bytes read so far: the offset of the next value.</summary>
    public readonly int Consumed => _position;

    /// <summary>The number of bytes not read yet.</summary>
    public readonly int Remaining => _buffer.Length - _position;

    /// <summary>Whether every byte has been read.</summary>
    public readonly bool IsAtEnd => _position >= _buffer.Length;

    /// <summary>The deepest nesting that <see cref="Skip"/> and <see cref="ReadValue"/> accept.</summary>
    public readonly int MaxDepth => _maxDepth;

    /// <summary>The kind of the next value, without reading it.</summary>
    /// <returns>Its kind (<see cref="ValueKind.Bool"/> for both booleans).</returns>
    /// <exception cref="ValueCodecException">No byte is left (<see cref="ValueCodecError.Truncated"/>) or the tag is
    /// reserved (<see cref="ValueCodecError.UnknownTag"/>).</exception>
    public readonly ValueKind PeekKind()
    {
        if ((uint)_position >= (uint)_buffer.Length)
        {
            ThrowTruncated(_position, "a value");
        }
        var tag = _buffer[_position];
        if (tag >= ValueCodec.TagSmallInteger)
        {
            return ValueKind.Integer;
        }
        if ((uint)(tag - ValueCodec.TagShortString) <= ValueCodec.MaxShortString)
        {
            return ValueKind.String;
        }
        switch (tag)
        {
            case ValueCodec.TagNull:
                return ValueKind.Null;
            case ValueCodec.TagFalse:
            case ValueCodec.TagTrue:
                return ValueKind.Bool;
            case ValueCodec.TagInteger:
                return ValueKind.Integer;
            case ValueCodec.TagFloat:
                return ValueKind.Float;
            case ValueCodec.TagString:
                return ValueKind.String;
            case ValueCodec.TagArray:
                return ValueKind.Array;
            case ValueCodec.TagObject:
                return ValueKind.Object;
            case ValueCodec.TagBinary:
                return ValueKind.Binary;
            default:
                ThrowUnknownTag(_position, tag);
                return default;
        }
    }

    /// <summary>Reads null.</summary>
    /// <exception cref="ValueCodecException">The next value is not null, or the input ended.</exception>
    public void ReadNull()
    {
        if (ReadTag() != ValueCodec.TagNull)
        {
            ThrowUnexpected(ValueKind.Null);
        }
        _position++;
    }

    /// <summary>Reads null if the next value is null.</summary>
    /// <returns>Whether it was null (and was read); when false nothing was read.</returns>
    /// <exception cref="ValueCodecException">The input ended.</exception>
    public bool TryReadNull()
    {
        if (ReadTag() != ValueCodec.TagNull)
        {
            return false;
        }
        _position++;
        return true;
    }

    /// <summary>Reads a boolean.</summary>
    /// <returns>The boolean.</returns>
    /// <exception cref="ValueCodecException">The next value is not a boolean, or the input ended.</exception>
    public bool ReadBoolean()
    {
        var tag = ReadTag();
        if (tag is not (ValueCodec.TagFalse or ValueCodec.TagTrue))
        {
            ThrowUnexpected(ValueKind.Bool);
        }
        _position++;
        return tag == ValueCodec.TagTrue;
    }

    /// <summary>Reads an integer.</summary>
    /// <returns>The integer.</returns>
    /// <exception cref="ValueCodecException">The next value is not an integer, is not canonical, or the input ended.</exception>
    public long ReadInt64()
    {
        var tag = ReadTag();
        if (tag >= ValueCodec.TagSmallInteger)
        {
            _position++;
            return tag - ValueCodec.TagSmallInteger;
        }
        if (tag != ValueCodec.TagInteger)
        {
            ThrowUnexpected(ValueKind.Integer);
        }
        return ReadLongInteger();
    }

    /// <summary>Reads a number: a float, or an integer converted to a float (as <see cref="Value.AsDouble"/> does).</summary>
    /// <returns>The number.</returns>
    /// <exception cref="ValueCodecException">The next value is not a number, is not finite or canonical, or the input ended.</exception>
    public double ReadDouble()
    {
        var tag = ReadTag();
        if (tag == ValueCodec.TagFloat)
        {
            return BitConverter.Int64BitsToDouble(ReadFloatBits());
        }
        if (tag >= ValueCodec.TagSmallInteger || tag == ValueCodec.TagInteger)
        {
            return ReadInt64();
        }
        ThrowUnexpected(ValueKind.Float);
        return 0;
    }

    /// <summary>Reads a string's UTF-8 bytes, checked to be well-formed, without allocating.</summary>
    /// <returns>The bytes, pointing into the input.</returns>
    /// <exception cref="ValueCodecException">The next value is not a string, is not canonical or valid UTF-8, or the
    /// input ended.</exception>
    public ReadOnlySpan<byte> ReadStringSpan()
    {
        var start = _position;
        var text = ReadStringBytes();
        if (!ValueCodec.IsValidUtf8(text))
        {
            ThrowInvalidUtf8(start, "string");
        }
        return text;
    }

    /// <summary>Reads a string.</summary>
    /// <returns>A new string.</returns>
    /// <exception cref="ValueCodecException">As for <see cref="ReadStringSpan"/>.</exception>
    public string ReadString()
    {
        var start = _position;
        return DecodeText(ReadStringBytes(), start);
    }

    /// <summary>Whether the next value is a string equal to <paramref name="utf8"/>, compared byte by byte without
    /// allocating. Nothing is read.</summary>
    /// <param name="utf8">The text to compare with, as UTF-8 (e.g. <c>"get"u8</c>).</param>
    /// <returns>True when the next value is that string; false when it is another string or not a string.</returns>
    /// <exception cref="ValueCodecException">The string's header is malformed or the input ended.</exception>
    /// <remarks>To compare a key, compare the span from <see cref="ReadPropertyName"/> (keys carry no tag, so only the
    /// caller knows it is at one).</remarks>
    public readonly bool ValueTextEquals(ReadOnlySpan<byte> utf8)
    {
        var tag = ReadTag();
        if ((uint)(tag - ValueCodec.TagShortString) <= ValueCodec.MaxShortString)
        {
            var length = tag - ValueCodec.TagShortString;
            return length == utf8.Length && _buffer.Length - _position - 1 >= length
                && _buffer.Slice(_position + 1, length).SequenceEqual(utf8);
        }
        if (tag != ValueCodec.TagString)
        {
            return false;
        }
        var copy = this;
        return copy.ReadStringBytes().SequenceEqual(utf8);
    }

    /// <summary>Reads an object key's UTF-8 bytes (checked to be well-formed) without allocating; its value follows.</summary>
    /// <returns>The bytes, pointing into the input.</returns>
    /// <exception cref="ValueCodecException">The length is malformed or exceeds the input, the bytes are not valid UTF-8,
    /// or the input ended.</exception>
    public ReadOnlySpan<byte> ReadPropertyName()
    {
        var start = _position;
        var length = ReadLength(start, 1, "key");
        var name = _buffer.Slice(_position, length);
        if (!ValueCodec.IsValidUtf8(name))
        {
            ThrowInvalidUtf8(start, "key");
        }
        _position += length;
        return name;
    }

    /// <summary>Reads a binary blob without copying it.</summary>
    /// <returns>The bytes, pointing into the input.</returns>
    /// <exception cref="ValueCodecException">The next value is not a blob, its length exceeds the input, or the input ended.</exception>
    public ReadOnlySpan<byte> ReadBinarySpan()
    {
        var start = _position;
        if (ReadTag() != ValueCodec.TagBinary)
        {
            ThrowUnexpected(ValueKind.Binary);
        }
        _position++;
        var length = ReadLength(start, 1, "blob");
        var bytes = _buffer.Slice(_position, length);
        _position += length;
        return bytes;
    }

    /// <summary>Reads an array's header.</summary>
    /// <returns>The number of elements that follow.</returns>
    /// <exception cref="ValueCodecException">The next value is not an array, its count exceeds the input, or the input ended.</exception>
    public int ReadArrayHeader()
    {
        var start = _position;
        if (ReadTag() != ValueCodec.TagArray)
        {
            ThrowUnexpected(ValueKind.Array);
        }
        _position++;
        // Every element takes at least one byte (protocol.md §6).
        return ReadLength(start, 1, "array");
    }

    /// <summary>Reads an object's header.</summary>
    /// <returns>The number of entries that follow.</returns>
    /// <exception cref="ValueCodecException">The next value is not an object, its count exceeds the input, or the input ended.</exception>
    public int ReadObjectHeader()
    {
        var start = _position;
        if (ReadTag() != ValueCodec.TagObject)
        {
            ThrowUnexpected(ValueKind.Object);
        }
        _position++;
        // Every entry takes at least two bytes, a key length and a value tag (protocol.md §6).
        return ReadLength(start, 2, "object");
    }

    /// <summary>Skips the next value, whole, checking it as <see cref="ReadValue"/> does except for key uniqueness.</summary>
    /// <exception cref="ValueCodecException">The value is malformed, nests deeper than <see cref="MaxDepth"/>, or the
    /// input ended.</exception>
    public void Skip() => SkipValue(_depth);

    /// <summary>Reads the next value, whole, as a <see cref="Value"/>.</summary>
    /// <returns>The value.</returns>
    /// <exception cref="ValueCodecException">The value is malformed, repeats a key, nests deeper than
    /// <see cref="MaxDepth"/>, or the input ended.</exception>
    /// <remarks>Allocates the value's strings, arrays, objects and blobs, bounded by a constant multiple of the input's
    /// size; object keys and short strings come from a small shared cache (<see cref="StringCache"/>), since the same few
    /// recur in every message.</remarks>
    public Value ReadValue() => ReadValueCore(_depth);

    private Value ReadValueCore(int depth)
    {
        var start = _position;
        var tag = ReadTag();
        if (tag >= ValueCodec.TagSmallInteger)
        {
            _position++;
            return Value.FromInt64(tag - ValueCodec.TagSmallInteger);
        }
        if ((uint)(tag - ValueCodec.TagShortString) <= ValueCodec.MaxShortString || tag == ValueCodec.TagString)
        {
            return Value.FromStringUnchecked(DecodeCachedText(ReadStringBytes(), start));
        }
        switch (tag)
        {
            case ValueCodec.TagNull:
                _position++;
                return Value.Null;
            case ValueCodec.TagFalse:
                _position++;
                return Value.False;
            case ValueCodec.TagTrue:
                _position++;
                return Value.True;
            case ValueCodec.TagInteger:
                return Value.FromInt64(ReadLongInteger());
            case ValueCodec.TagFloat:
                return Value.FromFiniteDoubleBits(ReadFloatBits());
            case ValueCodec.TagBinary:
                var blob = ReadBinarySpan();
                return Value.FromOwnedBinary(Value.CopyBytes(blob));
            case ValueCodec.TagArray:
                EnterContainer(start, depth);
                _position++;
                var count = ReadLength(start, 1, "array");
                if (count == 0)
                {
                    return Value.EmptyArray;
                }
                var items = new Value[count];
                for (var i = 0; i < items.Length; i++)
                {
                    items[i] = ReadValueCore(depth + 1);
                }
                return Value.FromOwnedArray(items);
            case ValueCodec.TagObject:
                EnterContainer(start, depth);
                _position++;
                return ReadObjectEntries(start, depth + 1);
            default:
                ThrowUnknownTag(start, tag);
                return default;
        }
    }

    private Value ReadObjectEntries(int start, int depth)
    {
        var count = ReadLength(start, 2, "object");
        if (count == 0)
        {
            return Value.EmptyObject;
        }
        var entries = new KeyValuePair<string, Value>[count];
        HashSet<string>? seen = count > LinearDuplicateScanLimit ? new HashSet<string>(count, StringComparer.Ordinal) : null;
        for (var i = 0; i < entries.Length; i++)
        {
            var keyStart = _position;
            var key = StringCache.Get(ReadPropertyName());
            if (seen is null ? ContainsKey(entries.AsSpan(0, i), key) : !seen.Add(key))
            {
                ThrowDuplicateKey(keyStart, key, start);
            }
            entries[i] = new(key, ReadValueCore(depth));
        }
        return Value.FromOwnedEntries(entries, checkDuplicates: false);
    }

    private static bool ContainsKey(ReadOnlySpan<KeyValuePair<string, Value>> entries, string key)
    {
        foreach (var entry in entries)
        {
            if (string.Equals(entry.Key, key, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }

    private void SkipValue(int depth)
    {
        var start = _position;
        var tag = ReadTag();
        if (tag >= ValueCodec.TagSmallInteger || tag is ValueCodec.TagNull or ValueCodec.TagFalse or ValueCodec.TagTrue)
        {
            _position++;
            return;
        }
        if ((uint)(tag - ValueCodec.TagShortString) <= ValueCodec.MaxShortString || tag == ValueCodec.TagString)
        {
            ReadStringSpan();
            return;
        }
        switch (tag)
        {
            case ValueCodec.TagInteger:
                ReadLongInteger();
                return;
            case ValueCodec.TagFloat:
                ReadFloatBits();
                return;
            case ValueCodec.TagBinary:
                ReadBinarySpan();
                return;
            case ValueCodec.TagArray:
                EnterContainer(start, depth);
                _position++;
                for (var count = ReadLength(start, 1, "array"); count > 0; count--)
                {
                    SkipValue(depth + 1);
                }
                return;
            case ValueCodec.TagObject:
                EnterContainer(start, depth);
                _position++;
                for (var count = ReadLength(start, 2, "object"); count > 0; count--)
                {
                    ReadPropertyName();
                    SkipValue(depth + 1);
                }
                return;
            default:
                ThrowUnknownTag(start, tag);
                return;
        }
    }

    private readonly void EnterContainer(int start, int depth)
    {
        if (depth >= _maxDepth)
        {
            ThrowDepth(start, _maxDepth);
        }
        // A caller may raise the limit far beyond 64; running out of stack must still be a typed error, not a crash. The
        // check costs a few ns, so it runs every 32 levels: 32 frames of these methods take far less than the headroom
        // (64 KB and more) that it guarantees.
        if ((depth & 31) == 31 && !RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            ThrowDepth(start, depth);
        }
    }

    // The tag at the current position, which is not consumed.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private readonly byte ReadTag()
    {
        if ((uint)_position >= (uint)_buffer.Length)
        {
            ThrowTruncated(_position, "a value");
        }
        return _buffer[_position];
    }

    // At a 0x03 tag: the zigzag varint, which must not be 0 to 127 (those are small integers).
    private long ReadLongInteger()
    {
        var start = _position;
        _position++;
        var value = ValueCodec.Unzigzag(ReadVarint());
        if ((ulong)value <= ValueCodec.MaxSmallInteger)
        {
            ThrowNonCanonical(start, $"the integer {value} must be the one-byte small form 0x{ValueCodec.TagSmallInteger + value:x2}");
        }
        return value;
    }

    // At a 0x04 tag: 8 bytes of a finite binary64.
    private long ReadFloatBits()
    {
        var start = _position;
        if (_buffer.Length - start < 9)
        {
            ThrowTruncated(_buffer.Length, "a float's 8 bytes");
        }
        var bits = BinaryPrimitives.ReadInt64LittleEndian(_buffer.Slice(start + 1, 8));
        // All exponent bits set is an infinity or a NaN.
        if ((bits & 0x7FF0_0000_0000_0000) == 0x7FF0_0000_0000_0000)
        {
            ThrowNonFinite(start, bits);
        }
        _position = start + 9;
        return bits;
    }

    // At a string tag (short or 0x05): the string's bytes, not yet checked as UTF-8; the position moves past them.
    private ReadOnlySpan<byte> ReadStringBytes()
    {
        var start = _position;
        var tag = ReadTag();
        int length;
        if ((uint)(tag - ValueCodec.TagShortString) <= ValueCodec.MaxShortString)
        {
            length = tag - ValueCodec.TagShortString;
            if (_buffer.Length - start - 1 < length)
            {
                ThrowTruncated(_buffer.Length, $"a short string of {length} bytes");
            }
            _position = start + 1;
        }
        else
        {
            if (tag != ValueCodec.TagString)
            {
                ThrowUnexpected(ValueKind.String);
            }
            _position = start + 1;
            // protocol.md §2.1: a long form of 0 to 31 bytes is NonCanonical from its varint alone, before the length is
            // compared with the input, so `05 1f 61` is NonCanonical, not LengthExceedsInput.
            var varintStart = _position;
            var declared = ReadVarint();
            if (declared <= ValueCodec.MaxShortString)
            {
                ThrowNonCanonical(start, $"a string of {declared} bytes must be the short form 0x{ValueCodec.TagShortString + (int)declared:x2}");
            }
            length = CheckLength(varintStart, declared, 1, "string");
        }
        var text = _buffer.Slice(_position, length);
        _position += length;
        return text;
    }

    // A length or count (a varint) that must fit the bytes that remain after it, at `bytesPerItem` bytes each, checked
    // before anything is allocated for it (protocol.md §6). A varint can be 2^64-1, so the comparison is in ulong.
    private int ReadLength(int start, int bytesPerItem, string what)
    {
        var varintStart = _position;
        return CheckLength(varintStart, ReadVarint(), bytesPerItem, what);
    }

    // The check of ReadLength on a varint already read (it started at `varintStart`, where a failure is reported).
    private readonly int CheckLength(int varintStart, ulong length, int bytesPerItem, string what)
    {
        var remaining = (ulong)(_buffer.Length - _position);
        if (length > remaining / (ulong)bytesPerItem)
        {
            ThrowLengthExceedsInput(varintStart, what, length, remaining);
        }
        return (int)length;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ReadVarint()
    {
        var position = _position;
        if ((uint)position < (uint)_buffer.Length)
        {
            var first = _buffer[position];
            if (first < 0x80)
            {
                _position = position + 1;
                return first;
            }
        }
        return ReadVarintSlow();
    }

    // protocol.md §1: at most 10 bytes, minimal (the last byte of a multi-byte varint is not 0x00), and the tenth byte,
    // if any, is 0x01 (it holds bit 63 only).
    private ulong ReadVarintSlow()
    {
        var start = _position;
        ulong result = 0;
        for (var i = 0; ; i++)
        {
            var position = start + i;
            if (position >= _buffer.Length)
            {
                ThrowTruncated(position, "a varint");
            }
            var b = _buffer[position];
            if (i == ValueCodec.MaxVarintLength - 1)
            {
                if (b > 1)
                {
                    ThrowIntegerOverflow(start);
                }
                if (b == 0)
                {
                    ThrowNonCanonical(start, "the varint ends with a 0x00 byte (overlong)");
                }
                _position = position + 1;
                return result | (1UL << 63);
            }
            result |= (ulong)(b & 0x7F) << (7 * i);
            if (b < 0x80)
            {
                if (b == 0 && i > 0)
                {
                    ThrowNonCanonical(start, "the varint ends with a 0x00 byte (overlong)");
                }
                _position = position + 1;
                return result;
            }
        }
    }

    // Validated UTF-8 to a string; `start` is the offset of the value's tag, for the error.
    private static string DecodeText(ReadOnlySpan<byte> utf8, int start)
    {
        if (!ValueCodec.IsValidUtf8(utf8))
        {
            ThrowInvalidUtf8(start, "string");
        }
        return Encoding.UTF8.GetString(utf8);
    }

    // As DecodeText, but short text comes from the shared cache; checked first, so errors are those of DecodeText.
    private static string DecodeCachedText(ReadOnlySpan<byte> utf8, int start)
    {
        if (!ValueCodec.IsValidUtf8(utf8))
        {
            ThrowInvalidUtf8(start, "string");
        }
        return StringCache.Get(utf8);
    }

    [DoesNotReturn]
    private readonly void ThrowUnexpected(ValueKind expected) =>
        ThrowUnexpected(_position, expected, PeekKind());

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowUnexpected(int offset, ValueKind expected, ValueKind actual) =>
        ValueCodecException.Throw(ValueCodecError.UnexpectedKind, offset, $"expected {expected}, found {actual}");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowTruncated(int offset, string what) =>
        ValueCodecException.Throw(ValueCodecError.Truncated, offset, $"the input ends inside {what}");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowUnknownTag(int offset, byte tag) =>
        ValueCodecException.Throw(ValueCodecError.UnknownTag, offset, $"the tag 0x{tag:x2} is reserved");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowInvalidUtf8(int offset, string what) =>
        ValueCodecException.Throw(ValueCodecError.InvalidUtf8, offset, $"the {what} is not well-formed UTF-8");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNonCanonical(int offset, string detail) =>
        ValueCodecException.Throw(ValueCodecError.NonCanonical, offset, detail);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowIntegerOverflow(int offset) =>
        ValueCodecException.Throw(ValueCodecError.IntegerOverflow, offset, "the varint holds more than 64 bits");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNonFinite(int offset, long bits) =>
        ValueCodecException.Throw(ValueCodecError.NonFiniteNumber, offset, $"the float {BitConverter.Int64BitsToDouble(bits)} (bits 0x{bits:x16}) is not finite");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowLengthExceedsInput(int offset, string what, ulong length, ulong remaining) =>
        ValueCodecException.Throw(ValueCodecError.LengthExceedsInput, offset, $"the {what} declares {length} but only {remaining} byte(s) remain");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDuplicateKey(int offset, string key, int objectStart) =>
        ValueCodecException.Throw(ValueCodecError.DuplicateKey, offset, $"the key '{key}' appears twice in the object at byte {objectStart}");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowDepth(int offset, int maxDepth) =>
        ValueCodecException.Throw(ValueCodecError.DepthExceeded, offset, $"arrays and objects nest deeper than {maxDepth} (the maxDepth option)");
}
