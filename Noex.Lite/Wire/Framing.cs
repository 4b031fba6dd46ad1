using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace Noex.Lite;

/// <summary>
/// The frame layer's stateless core (protocol.md §3): the constants of the layout and
/// <see cref="TryReadFrame(ReadOnlySpan{byte}, ReadOnlySpan{byte}, ulong, int, out FrameView, out int, out FrameError)"/>,
/// which takes the seven steps of §3.4 in order.
/// </summary>
/// <remarks>
/// The frame layout, offsets from the start of the length prefix (protocol.md §3.1):
/// <c>length(4) | version(1) | kind(1) | flags(2) | seq(8) | payload(length - 44) | tag(32)</c>,
/// where <c>tag = HMAC-SHA256(key, bytes [0, length - 28))</c>, i.e. everything before the tag.
/// <para>
/// The MAC is a reused <see cref="IncrementalHash"/> (AppendData + GetHashAndReset) wherever a key lives
/// long enough to own one (<see cref="FrameWriter"/>, <see cref="FrameReader"/>): the static
/// <see cref="HMACSHA256.HashData(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/> redoes the HMAC key
/// schedule (two extra SHA-256 blocks) and sets up a native context on every call, which dominates the tag of a
/// small frame and vanishes in a large one (FramingBenchmarks; figures: Noex.Lite.Bench/README.md). Both
/// allocate nothing. The static overload here uses HashData because it has no state to keep.
/// </para>
/// </remarks>
internal static class Framing
{
    /// <summary>Bytes of the <c>length</c> field that starts every frame.</summary>
    public const int LengthPrefixSize = 4;

    /// <summary>Bytes before the payload: length(4), version(1), kind(1), flags(2), seq(8).</summary>
    public const int HeaderSize = 16;

    /// <summary>Bytes of the HMAC-SHA256 tag that ends every frame.</summary>
    public const int TagSize = 32;

    /// <summary>The smallest <c>length</c>: 12 header bytes after the prefix, an empty payload, the tag.</summary>
    public const int MinLength = HeaderSize - LengthPrefixSize + TagSize;

    /// <summary>Bytes of the uint32 length before each message in a data payload (§3.3).</summary>
    public const int MessageLengthSize = 4;

    /// <summary>The only version this node speaks.</summary>
    public const byte Version = 1;

    /// <summary>The kind of a data frame, the only kind version 1 defines.</summary>
    public const byte KindData = 1;

    /// <summary>The default maximum <c>length</c>, 16 MiB (protocol.md §6).</summary>
    public const int DefaultMaxFrameLength = 16 * 1024 * 1024;

    /// <summary>
    /// The largest maximum frame length a reader or writer accepts, 1 GiB: a reader holds a whole frame
    /// in one array, and <c>4 + length</c> must stay far from <see cref="int.MaxValue"/>.
    /// </summary>
    public const int MaxFrameLengthLimit = 1 << 30;

    /// <summary>
    /// The frame overhead around one message: <c>length</c> counts 12 header bytes, the message's own
    /// 4-byte length and the 32-byte tag, so a message may be at most <c>max - 48</c> bytes.
    /// </summary>
    public const int SingleMessageOverhead = MinLength + MessageLengthSize;

    /// <summary>
    /// Reads one frame from the start of <paramref name="buffer"/>, verifying it with the static HMAC
    /// (for one-off use; a connection uses <see cref="FrameReader"/>, which keeps its MAC state).
    /// </summary>
    /// <param name="buffer">Received bytes; a frame starts at index 0.</param>
    /// <param name="key">The HMAC key of the direction the frame came from.</param>
    /// <param name="expectedSeq">The sequence number the next frame must carry (§3.2).</param>
    /// <param name="maxFrameLength">The largest accepted <c>length</c> field, 44 to <see cref="MaxFrameLengthLimit"/>.</param>
    /// <param name="frame">On <see cref="OperationStatus.Done"/>, the verified frame (a view into <paramref name="buffer"/>).</param>
    /// <param name="consumed">On <see cref="OperationStatus.Done"/>, the frame's size in bytes; otherwise 0.</param>
    /// <param name="error">On <see cref="OperationStatus.InvalidData"/>, why the frame was refused.</param>
    /// <returns><see cref="OperationStatus.Done"/>, <see cref="OperationStatus.NeedMoreData"/> or <see cref="OperationStatus.InvalidData"/>.</returns>
    public static OperationStatus TryReadFrame(
        ReadOnlySpan<byte> buffer, ReadOnlySpan<byte> key, ulong expectedSeq, int maxFrameLength,
        out FrameView frame, out int consumed, out FrameError error) =>
        TryReadFrameCore(buffer, null, key, expectedSeq, maxFrameLength, out frame, out consumed, out error);

    /// <summary>As the key overload, with a caller-owned, reused HMAC-SHA256 (see the class remarks).</summary>
    /// <param name="buffer">Received bytes; a frame starts at index 0.</param>
    /// <param name="mac">An <see cref="IncrementalHash"/> made by <c>CreateHMAC(SHA256, key)</c>, with no data appended.</param>
    /// <param name="expectedSeq">The sequence number the next frame must carry.</param>
    /// <param name="maxFrameLength">The largest accepted <c>length</c> field.</param>
    /// <param name="frame">On Done, the verified frame.</param>
    /// <param name="consumed">On Done, the frame's size in bytes; otherwise 0.</param>
    /// <param name="error">On InvalidData, why the frame was refused.</param>
    /// <returns>Done, NeedMoreData or InvalidData.</returns>
    public static OperationStatus TryReadFrame(
        ReadOnlySpan<byte> buffer, IncrementalHash mac, ulong expectedSeq, int maxFrameLength,
        out FrameView frame, out int consumed, out FrameError error) =>
        TryReadFrameCore(buffer, mac, default, expectedSeq, maxFrameLength, out frame, out consumed, out error);

    private static OperationStatus TryReadFrameCore(
        ReadOnlySpan<byte> buffer, IncrementalHash? mac, ReadOnlySpan<byte> key, ulong expectedSeq, int maxFrameLength,
        out FrameView frame, out int consumed, out FrameError error)
    {
        ValidateMaxFrameLength(maxFrameLength);
        frame = default;
        consumed = 0;
        error = default;

        // §3.4 step 1: the length prefix is incomplete.
        if (buffer.Length < LengthPrefixSize)
        {
            return OperationStatus.NeedMoreData;
        }

        // Step 2: bound the untrusted length before anything is sliced or allocated for it. The uint
        // compare also catches lengths of 2^31 and more, which are negative as int.
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(buffer);
        if (length < MinLength)
        {
            error = FrameError.TooShort;
            return OperationStatus.InvalidData;
        }
        if (length > (uint)maxFrameLength)
        {
            error = FrameError.TooLarge;
            return OperationStatus.InvalidData;
        }

        // Step 3: cannot overflow, since length <= maxFrameLength <= MaxFrameLengthLimit.
        int total = LengthPrefixSize + (int)length;
        if (buffer.Length < total)
        {
            return OperationStatus.NeedMoreData;
        }

        // Step 4: the tag covers every byte before it; compare in constant time (protocol.md §3.4).
        ReadOnlySpan<byte> bytes = buffer[..total];
        Span<byte> tag = stackalloc byte[TagSize];
        ComputeTag(mac, key, bytes[..^TagSize], tag);
        if (!CryptographicOperations.FixedTimeEquals(tag, bytes[^TagSize..]))
        {
            error = FrameError.BadTag;
            return OperationStatus.InvalidData;
        }

        // Step 5: only now is the header trusted enough to interpret.
        if (bytes[4] != Version)
        {
            error = FrameError.UnsupportedVersion;
            return OperationStatus.InvalidData;
        }
        if (bytes[5] != KindData)
        {
            error = FrameError.UnknownKind;
            return OperationStatus.InvalidData;
        }
        if (BinaryPrimitives.ReadUInt16LittleEndian(bytes[6..]) != 0)
        {
            error = FrameError.UnknownFlags;
            return OperationStatus.InvalidData;
        }

        // Step 6: a replayed, reordered or dropped frame (§3.2).
        if (BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]) != expectedSeq)
        {
            error = FrameError.SequenceMismatch;
            return OperationStatus.InvalidData;
        }

        // Step 7: the message lengths must fill the payload exactly (§3.3).
        int count = DelimitMessages(bytes[HeaderSize..^TagSize], out _);
        if (count < 0)
        {
            error = FrameError.MalformedPayload;
            return OperationStatus.InvalidData;
        }

        frame = new FrameView(bytes, count);
        consumed = total;
        return OperationStatus.Done;
    }

    /// <summary>
    /// Describes a failure that <see cref="TryReadFrame(ReadOnlySpan{byte}, ReadOnlySpan{byte}, ulong, int, out FrameView, out int, out FrameError)"/>
    /// reported for the same <paramref name="buffer"/>, naming the field and its values. Runs only on the
    /// failure path, so the hot path carries no detail.
    /// </summary>
    /// <param name="buffer">The buffer that was read; the refused frame starts at index 0.</param>
    /// <param name="error">The reported error.</param>
    /// <param name="expectedSeq">The sequence number that was expected.</param>
    /// <param name="maxFrameLength">The maximum frame length that was applied.</param>
    /// <returns>A message such as <c>"SequenceMismatch: expected seq 5, got 3"</c>.</returns>
    public static string Describe(ReadOnlySpan<byte> buffer, FrameError error, ulong expectedSeq, int maxFrameLength)
    {
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(buffer);
        string detail = error switch
        {
            FrameError.TooShort => $"frame length {length} is below the minimum {MinLength} (12 header bytes and a {TagSize}-byte tag)",
            FrameError.TooLarge => $"frame length {length} exceeds the maximum frame length {maxFrameLength}; nothing was allocated for it",
            FrameError.BadTag => $"the HMAC-SHA256 tag of the frame expected as seq {expectedSeq} (length {length}) does not verify: a corrupted, forged or reflected frame, or a wrong key",
            FrameError.UnsupportedVersion => $"expected version {Version}, got {buffer[4]} (byte 4)",
            FrameError.UnknownKind => $"expected kind {KindData} (data), got {buffer[5]} (byte 5)",
            FrameError.UnknownFlags => $"expected flags 0, got 0x{BinaryPrimitives.ReadUInt16LittleEndian(buffer[6..]):X4} (bytes 6-7)",
            FrameError.SequenceMismatch => $"expected seq {expectedSeq}, got {BinaryPrimitives.ReadUInt64LittleEndian(buffer[8..])}",
            FrameError.MalformedPayload => DescribePayload(buffer[HeaderSize..(LengthPrefixSize + (int)length - TagSize)]),
            _ => "unknown error",
        };
        return $"{error}: {detail}";
    }

    private static string DescribePayload(ReadOnlySpan<byte> payload)
    {
        DelimitMessages(payload, out int offset);
        int remaining = payload.Length - offset;
        if (remaining < MessageLengthSize)
        {
            return $"payload of {payload.Length} bytes: {remaining} bytes at payload offset {offset} are too few for a message length";
        }
        uint m = BinaryPrimitives.ReadUInt32LittleEndian(payload[offset..]);
        return m == 0
            ? $"payload of {payload.Length} bytes: zero-length message at payload offset {offset} (messages are at least 1 byte)"
            : $"payload of {payload.Length} bytes: message length {m} at payload offset {offset} overruns the {remaining - MessageLengthSize} bytes that remain";
    }

    /// <summary>Counts the messages of a data payload (§3.3), or returns -1 and the offset of the bad one.</summary>
    private static int DelimitMessages(ReadOnlySpan<byte> payload, out int badOffset)
    {
        int count = 0;
        int offset = 0;
        while (offset < payload.Length)
        {
            int remaining = payload.Length - offset;
            if (remaining < MessageLengthSize)
            {
                badOffset = offset;
                return -1;
            }
            uint m = BinaryPrimitives.ReadUInt32LittleEndian(payload[offset..]);
            if (m == 0 || m > (uint)(remaining - MessageLengthSize))
            {
                badOffset = offset;
                return -1;
            }
            offset += MessageLengthSize + (int)m;
            count++;
        }
        badOffset = -1;
        return count;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ComputeTag(IncrementalHash? mac, ReadOnlySpan<byte> key, ReadOnlySpan<byte> data, Span<byte> tag)
    {
        if (mac is not null)
        {
            mac.AppendData(data);
            mac.GetHashAndReset(tag);
        }
        else
        {
            HMACSHA256.HashData(key, data, tag);
        }
    }

    internal static void ValidateMaxFrameLength(int maxFrameLength)
    {
        if ((uint)(maxFrameLength - MinLength) > (uint)(MaxFrameLengthLimit - MinLength))
        {
            ThrowMaxFrameLength(maxFrameLength);
        }

        [DoesNotReturn]
        [MethodImpl(MethodImplOptions.NoInlining)]
        static void ThrowMaxFrameLength(int value) =>
            throw new ArgumentOutOfRangeException(nameof(maxFrameLength), value, $"The maximum frame length must be {MinLength} to {MaxFrameLengthLimit} bytes.");
    }
}

/// <summary>A verified data frame (protocol.md §3): its header fields and its messages.</summary>
/// <remarks>
/// A view into the buffer it was read from: when that buffer belongs to a <see cref="FrameReader"/>, the
/// view and every span it hands out are valid only until the next <see cref="FrameReader.TryRead"/>,
/// <see cref="FrameReader.GetMemory"/> or <see cref="FrameReader.Dispose"/>; copy to retain. A view is
/// produced only after the tag, the header, the sequence number and the message lengths all passed.
/// </remarks>
internal readonly ref struct FrameView
{
    private readonly ReadOnlySpan<byte> _bytes;

    internal FrameView(ReadOnlySpan<byte> bytes, int messageCount)
    {
        _bytes = bytes;
        MessageCount = messageCount;
    }

    // A default view (what a failed read hands out) reads as seq 0, kind 0, flags 0, no messages.

    /// <summary>The frame's sequence number in its direction.</summary>
    public ulong Seq => _bytes.IsEmpty ? 0 : BinaryPrimitives.ReadUInt64LittleEndian(_bytes[8..]);

    /// <summary>The kind byte; always <see cref="Framing.KindData"/> in version 1.</summary>
    public byte Kind => _bytes.IsEmpty ? (byte)0 : _bytes[5];

    /// <summary>The flags; always 0 in version 1.</summary>
    public ushort Flags => _bytes.IsEmpty ? (ushort)0 : BinaryPrimitives.ReadUInt16LittleEndian(_bytes[6..]);

    /// <summary>The number of messages in the payload.</summary>
    public int MessageCount { get; }

    /// <summary>The payload: the messages, each with its 4-byte length.</summary>
    public ReadOnlySpan<byte> Payload => _bytes.IsEmpty ? default : _bytes[Framing.HeaderSize..^Framing.TagSize];

    /// <summary>The whole frame, from the length prefix to the end of the tag.</summary>
    public ReadOnlySpan<byte> Bytes => _bytes;

    /// <summary>Enumerates the messages without allocating: <c>foreach (ReadOnlySpan&lt;byte&gt; m in frame)</c>.</summary>
    /// <returns>An enumerator over the message bodies (without their length fields).</returns>
    public MessageEnumerator GetEnumerator() => new(Payload);

    /// <summary>Walks the messages of a payload that <see cref="Framing"/> has already delimited.</summary>
    internal ref struct MessageEnumerator
    {
        private ReadOnlySpan<byte> _remaining;

        internal MessageEnumerator(ReadOnlySpan<byte> payload)
        {
            _remaining = payload;
            Current = default;
        }

        /// <summary>The current message's bytes.</summary>
        public ReadOnlySpan<byte> Current { get; private set; }

        /// <summary>Moves to the next message.</summary>
        /// <returns>False after the last message.</returns>
        public bool MoveNext()
        {
            if (_remaining.IsEmpty)
            {
                return false;
            }
            // The lengths were checked by step 7, and slicing is bounds-checked in any case.
            int m = (int)BinaryPrimitives.ReadUInt32LittleEndian(_remaining);
            Current = _remaining.Slice(Framing.MessageLengthSize, m);
            _remaining = _remaining[(Framing.MessageLengthSize + m)..];
            return true;
        }
    }
}
