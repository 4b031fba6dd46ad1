using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace Noex.Lite;

/// <summary>The binary encoding of <see cref="Value"/> (protocol.md §2.1): whole values in and out.</summary>
/// <remarks>
/// <para>
/// <see cref="ValueWriter"/> and <see cref="ValueReader"/> are the streaming halves that these methods are built on; use
/// them directly to write a message field by field or to read fields without materialising a tree.
/// </para>
/// <para>
/// Decoding is strict: only the canonical encoding of a value is accepted, so decoding and re-encoding any accepted input
/// gives back the same bytes. Every length and count is checked against the bytes that remain before anything is
/// allocated for it, and nesting is limited (protocol.md §6), so a hostile input costs at most a constant multiple of
/// its own size. Thread-safe: no state is shared between calls except a per-thread scratch buffer in
/// <see cref="Encode(Value, int)"/>.
/// </para>
/// </remarks>
public static class ValueCodec
{
    /// <summary>The deepest nesting of arrays and objects accepted by default (protocol.md §6).</summary>
    public const int DefaultMaxDepth = 64;

    // Tags, protocol.md §2.1.
    internal const byte TagNull = 0x00;
    internal const byte TagFalse = 0x01;
    internal const byte TagTrue = 0x02;
    internal const byte TagInteger = 0x03;
    internal const byte TagFloat = 0x04;
    internal const byte TagString = 0x05;
    internal const byte TagArray = 0x06;
    internal const byte TagObject = 0x07;
    internal const byte TagBinary = 0x08;
    internal const byte TagShortString = 0x20;
    internal const byte TagSmallInteger = 0x80;

    /// <summary>The longest string, in UTF-8 bytes, that takes the one-byte short form.</summary>
    internal const int MaxShortString = 31;

    /// <summary>The largest integer that takes the one-byte small form.</summary>
    internal const int MaxSmallInteger = 127;

    /// <summary>The longest varint: 64 bits in groups of 7.</summary>
    internal const int MaxVarintLength = 10;

    // Encode(Value) keeps one scratch buffer per thread; one that grew past this is dropped after use so that a single
    // huge value does not pin its memory for the life of the thread.
    private const int ScratchKeepLimit = 64 * 1024;

    private static readonly System.Text.UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    /// <summary>Writes the binary encoding of a value.</summary>
    /// <param name="value">The value.</param>
    /// <param name="output">Where to write; the bytes are committed (<see cref="IBufferWriter{T}.Advance"/>) before the
    /// method returns.</param>
    /// <param name="maxDepth">The deepest nesting of arrays and objects to write, as a peer would accept it.</param>
    /// <exception cref="ValueCodecException">The value nests deeper than <paramref name="maxDepth"/>
    /// (<see cref="ValueCodecError.DepthExceeded"/>) or holds a string with an unpaired surrogate
    /// (<see cref="ValueCodecError.InvalidUtf8"/>); what was written to <paramref name="output"/> is then incomplete.</exception>
    /// <remarks>Allocates nothing: into a reused buffer writer, encoding costs 0 bytes.</remarks>
    public static void Encode(Value value, IBufferWriter<byte> output, int maxDepth = DefaultMaxDepth)
    {
        var writer = new ValueWriter(output, maxDepth);
        writer.WriteValue(value);
        writer.Flush();
    }

    /// <summary>The binary encoding of a value, as a new array.</summary>
    /// <param name="value">The value.</param>
    /// <param name="maxDepth">The deepest nesting of arrays and objects to write.</param>
    /// <returns>A new array holding exactly the encoding.</returns>
    /// <exception cref="ValueCodecException">As for <see cref="Encode(Value, IBufferWriter{byte}, int)"/>.</exception>
    public static byte[] Encode(Value value, int maxDepth = DefaultMaxDepth)
    {
        var scratch = t_scratch ?? new ArrayBufferWriter<byte>(256);
        t_scratch = null; // a re-entrant call (none exists today) would take its own buffer rather than share this one
        try
        {
            Encode(value, scratch, maxDepth);
            return scratch.WrittenSpan.ToArray();
        }
        finally
        {
            scratch.ResetWrittenCount();
            if (scratch.Capacity <= ScratchKeepLimit)
            {
                t_scratch = scratch;
            }
        }
    }

    /// <summary>Reads a buffer that holds exactly one encoded value.</summary>
    /// <param name="source">The encoding.</param>
    /// <param name="maxDepth">The deepest nesting of arrays and objects accepted (protocol.md §6).</param>
    /// <returns>The value.</returns>
    /// <exception cref="ValueCodecException">The input is not exactly one canonical encoding;
    /// <see cref="ValueCodecException.Error"/> and <see cref="ValueCodecException.Offset"/> say what and where. Bytes after
    /// the value fail with <see cref="ValueCodecError.TrailingBytes"/>.</exception>
    public static Value Decode(ReadOnlySpan<byte> source, int maxDepth = DefaultMaxDepth)
    {
        var reader = new ValueReader(source, maxDepth);
        var value = reader.ReadValue();
        if (!reader.IsAtEnd)
        {
            ValueCodecException.Throw(ValueCodecError.TrailingBytes, reader.Consumed, $"{reader.Remaining} byte(s) follow the value");
        }
        return value;
    }

    /// <summary>Reads a buffer that holds exactly one encoded value, reporting failure instead of throwing.</summary>
    /// <param name="source">The encoding.</param>
    /// <param name="value">The value, or null on failure.</param>
    /// <param name="error">What is wrong, when the method returns false.</param>
    /// <param name="errorOffset">Where in <paramref name="source"/> it was found, when the method returns false; else -1.</param>
    /// <param name="maxDepth">The deepest nesting of arrays and objects accepted.</param>
    /// <returns>Whether <paramref name="source"/> is exactly one canonical encoding.</returns>
    /// <remarks>
    /// A value is always decoded from a complete frame (protocol.md §3), so input that ends early is as corrupt as any
    /// other: <see cref="ValueCodecError.Truncated"/> is one more failure, never a request for more data. The failure
    /// path costs one internal exception (a failure ends the connection it came from, so it is rare); the success
    /// path costs exactly what <see cref="Decode"/> does.
    /// </remarks>
    public static bool TryDecode(ReadOnlySpan<byte> source, out Value value, out ValueCodecError error, out long errorOffset, int maxDepth = DefaultMaxDepth)
    {
        try
        {
            value = Decode(source, maxDepth);
            error = default;
            errorOffset = -1;
            return true;
        }
        catch (ValueCodecException e)
        {
            value = default;
            error = e.Error;
            errorOffset = e.Offset;
            return false;
        }
    }

    /// <summary>The number of bytes <see cref="Encode(Value, IBufferWriter{byte}, int)"/> writes for a value.</summary>
    /// <param name="value">The value.</param>
    /// <returns>The length of its encoding.</returns>
    /// <exception cref="ValueCodecException">A string holds an unpaired surrogate (<see cref="ValueCodecError.InvalidUtf8"/>).</exception>
    /// <remarks>Walks the whole tree and counts the UTF-8 of every string; it allocates nothing.</remarks>
    public static long GetEncodedLength(Value value)
    {
        switch (value.Kind)
        {
            case ValueKind.Null:
            case ValueKind.Bool:
                return 1;
            case ValueKind.Integer:
                var integer = value.AsInt64();
                return (ulong)integer <= MaxSmallInteger ? 1 : 1 + VarintLength(Zigzag(integer));
            case ValueKind.Float:
                return 9;
            case ValueKind.String:
                var stringLength = Utf8Length(value.AsString());
                return stringLength <= MaxShortString ? 1 + stringLength : 1 + VarintLength((ulong)stringLength) + stringLength;
            case ValueKind.Binary:
                var blobLength = value.AsBinary().Length;
                return 1 + VarintLength((ulong)blobLength) + blobLength;
            case ValueKind.Array:
                var items = value.AsArray();
                long arrayLength = 1 + VarintLength((ulong)items.Length);
                foreach (var item in items)
                {
                    arrayLength += GetEncodedLength(item);
                }
                return arrayLength;
            default:
                var entries = value.AsObject();
                long objectLength = 1 + VarintLength((ulong)entries.Length);
                foreach (var entry in entries)
                {
                    var keyLength = Utf8Length(entry.Key);
                    objectLength += VarintLength((ulong)keyLength) + keyLength + GetEncodedLength(entry.Value);
                }
                return objectLength;
        }
    }

    /// <summary>Whether <paramref name="text"/> is well-formed UTF-8 (protocol.md §1).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal static bool IsValidUtf8(ReadOnlySpan<byte> text)
    {
        // Most keys and strings are short and ASCII: OR-ing their bytes is cheaper than the call into the general,
        // vectorised validator, which pays off only on longer text.
        if (text.Length <= 16)
        {
            var bits = 0;
            foreach (var b in text)
            {
                bits |= b;
            }
            if (bits < 0x80)
            {
                return true;
            }
        }
        return System.Text.Unicode.Utf8.IsValid(text);
    }

    /// <summary><c>zigzag(n)</c> (protocol.md §1): 0, -1, 1, -2 become 0, 1, 2, 3.</summary>
    internal static ulong Zigzag(long value) => (ulong)((value << 1) ^ (value >> 63));

    /// <summary>The inverse of <see cref="Zigzag"/>.</summary>
    internal static long Unzigzag(ulong value) => (long)(value >> 1) ^ -(long)(value & 1);

    /// <summary>The length of the minimal varint of <paramref name="value"/>: 1 to 10.</summary>
    internal static int VarintLength(ulong value)
    {
        // Each byte carries 7 bits: ceil(significant bits / 7), and 1 for zero.
        var bits = 64 - System.Numerics.BitOperations.LeadingZeroCount(value | 1);
        return (bits + 6) / 7;
    }

    private static int Utf8Length(string text) => StrictUtf8ByteCount(text);

    /// <summary>The UTF-8 length of <paramref name="text"/>, refusing an unpaired surrogate (which Encoding.UTF8 would
    /// silently count as its 3-byte replacement character).</summary>
    internal static int StrictUtf8ByteCount(ReadOnlySpan<char> text)
    {
        try
        {
            return s_strictUtf8.GetByteCount(text);
        }
        catch (System.Text.EncoderFallbackException)
        {
            ThrowUnpairedSurrogate();
            return 0;
        }
    }

    [DoesNotReturn]
    internal static void ThrowUnpairedSurrogate() =>
        ValueCodecException.Throw(ValueCodecError.InvalidUtf8, -1, "the string holds an unpaired surrogate, which UTF-8 cannot carry");
}
