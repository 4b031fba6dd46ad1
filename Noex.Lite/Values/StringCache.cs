using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;

namespace Noex.Lite;

/// <summary>A small, fixed-size cache of decoded short strings shared by every decoder: messages repeat the same few keys
/// and values ("type", "get", "key", ...), and a hit costs a short hash and a byte compare instead of a new string.</summary>
/// <remarks>
/// <para>
/// A slot holds the last string whose bytes hashed to it; a lookup hits only when the cached string's UTF-8 encoding is
/// the input byte for byte, so a collision can never return the wrong text, and a miss replaces the slot. The table never
/// grows: a peer sending many distinct strings (or forcing collisions) only costs the strings that would have been
/// allocated anyway, plus a hash.
/// </para>
/// <para>
/// Thread safety without locks: a slot is a single string reference, and strings are immutable, so a reader sees either
/// the old string or the new one whole; <see cref="Volatile.Write{T}(ref T, T)"/> publishes a string only after its
/// characters are written, and a hit always compares the string's bytes with the input. Two threads racing on one slot
/// just both allocate, and the last write wins.
/// </para>
/// </remarks>
internal static class StringCache
{
    /// <summary>The longest input, in UTF-8 bytes, that is cached; longer text is rarely repeated and costs more to compare.</summary>
    public const int MaxLength = 32;

    // A power of two: 1024 references (8 KB) hold the keys and short values of many message shapes at once.
    private const int SlotBits = 10;
    private const int SlotCount = 1 << SlotBits;

    private static readonly string?[] s_slots = new string?[SlotCount];

    // A filter beside each slot, not part of it: a check and its string are written one after the other, so a reader may
    // see one thread's check with another's string. That only turns a hit into a miss or leads to a byte compare that
    // fails; correctness rests on the compare alone.
    private static readonly uint[] s_checks = new uint[SlotCount];

    /// <summary>The string for <paramref name="utf8"/>, from the cache when it holds these exact bytes.</summary>
    /// <param name="utf8">Well-formed UTF-8 (the caller has validated it).</param>
    /// <returns>A string equal to the decoded bytes; the same instance for repeated bytes while the slot keeps it.</returns>
    public static string Get(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > MaxLength)
        {
            return Encoding.UTF8.GetString(utf8);
        }
        if (utf8.IsEmpty)
        {
            return string.Empty;
        }
        var hash = Hash(utf8);
        var index = (int)(hash >> (64 - SlotBits));
        // Bits of the hash below the slot's: most misses end here, without reading the cached string (which, after a
        // burst of distinct text, is cold in the CPU cache).
        var check = (uint)(hash >> (32 - SlotBits));
        if (s_checks[index] == check)
        {
            var cached = Volatile.Read(ref s_slots[index]);
            if (cached is not null && Matches(cached, utf8))
            {
                return cached;
            }
        }
        var text = Encoding.UTF8.GetString(utf8);
        Volatile.Write(ref s_slots[index], text);
        s_checks[index] = check;
        return text;
    }

    /// <summary>The slot that <paramref name="utf8"/> maps to (exposed so that tests can build collisions).</summary>
    /// <param name="utf8">At most <see cref="MaxLength"/> bytes.</param>
    /// <returns>An index below the slot count.</returns>
    internal static int SlotOf(ReadOnlySpan<byte> utf8) => (int)(Hash(utf8) >> (64 - SlotBits));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Hash(ReadOnlySpan<byte> utf8)
    {
        // Multiplicative hashing, eight bytes at a time (an FNV byte loop costs a dependent multiply per byte, which on a
        // 32-byte key approaches the allocation it saves). The length is mixed in so that a tail read that repeats bytes
        // cannot confuse "ab" with "abb"; the slot comes from the top bits, which the multiplies mix best.
        const ulong Prime = 0x9E37_79B9_7F4A_7C15;
        var length = utf8.Length;
        var hash = (ulong)length * Prime;
        var i = 0;
        for (; length - i >= 8; i += 8)
        {
            hash = (hash ^ BinaryPrimitives.ReadUInt64LittleEndian(utf8.Slice(i))) * Prime;
            hash ^= hash >> 29;
        }
        var rest = length - i;
        ulong tail;
        if (rest >= 4)
        {
            // Two four-byte reads that overlap cover all 4 to 7 remaining bytes.
            tail = BinaryPrimitives.ReadUInt32LittleEndian(utf8.Slice(i))
                | (ulong)BinaryPrimitives.ReadUInt32LittleEndian(utf8.Slice(length - 4)) << 32;
        }
        else if (rest > 0)
        {
            // The first, middle and last of 1 to 3 bytes cover them all.
            tail = utf8[i] | (ulong)utf8[i + (rest >> 1)] << 8 | (ulong)utf8[length - 1] << 16;
        }
        else
        {
            tail = 0;
        }
        return (hash ^ tail) * Prime;
    }

    /// <summary>Whether <paramref name="cached"/> encodes to exactly <paramref name="utf8"/> (internal for tests: the
    /// hash filter in <see cref="Get"/> makes a mismatch here too rare to reach through it).</summary>
    /// <param name="cached">A non-empty string decoded from well-formed UTF-8.</param>
    /// <param name="utf8">Non-empty, well-formed UTF-8 of at most <see cref="MaxLength"/> bytes.</param>
    /// <returns>Whether they are the same text.</returns>
    internal static bool Matches(string cached, ReadOnlySpan<byte> utf8)
    {
        if (cached.Length == utf8.Length)
        {
            // As many chars as bytes means equal text is all ASCII (a non-ASCII string of this length encodes to more
            // bytes), so equal values must also be below 0x80: "Ã©" is not the bytes C3 A9 of "é". A plain loop, since
            // Ascii.Equals's setup on these few bytes costs as much as the allocation a hit saves (figures:
            // Noex.Lite.Bench/README.md).
            var bits = 0;
            for (var i = 0; i < utf8.Length; i++)
            {
                int c = cached[i];
                if (c != utf8[i])
                {
                    return false;
                }
                bits |= c;
            }
            return bits < 0x80;
        }
        // An ASCII last byte is the last char: a cheap reject before transcoding, since text that shares a slot with
        // recent text most often differs at the end ("ünïcödé 1", "ünïcödé 2").
        var last = utf8[^1];
        if (cached.Length > utf8.Length || (last < 0x80 && cached[^1] != last))
        {
            return false;
        }
        return EncodesTo(cached, utf8);
    }

    // Non-ASCII: every char encodes to at least one byte, so the cached string's encoding fits MaxLength bytes when it can
    // be equal; a larger encoding reports DestinationTooSmall. Apart so that the ASCII path has no stack buffer to set up.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool EncodesTo(string cached, ReadOnlySpan<byte> utf8)
    {
        Span<byte> encoded = stackalloc byte[MaxLength];
        return Utf8.FromUtf16(cached, encoded, out _, out var written) == OperationStatus.Done
            && encoded.Slice(0, written).SequenceEqual(utf8);
    }
}
