using System.Buffers;
using System.Buffers.Binary;

namespace Noex.Lite;

/// <summary>Why a sequence of fragments (protocol.md §5.1, type <c>0x03</c>) was refused; each closes the connection.</summary>
internal enum FragmentError
{
    /// <summary>A fragment is shorter than its 9-byte header plus one byte of chunk.</summary>
    Truncated = 1,
    /// <summary>The total length is not above 65,536 bytes (such a message is sent whole) or above the largest message.</summary>
    BadTotal,
    /// <summary>The offset is not where the message so far ends (0 for a first fragment), or the total changed.</summary>
    OutOfOrder,
    /// <summary>A chunk other than the last is not exactly 65,536 bytes, or a chunk runs past the total.</summary>
    BadChunk,
    /// <summary>A data message (goodbye, or type 0x10 and up) arrived while a fragmented message was incomplete.</summary>
    Interleaved,
    /// <summary>Too many frames in a row without the next fragment of an incomplete message.</summary>
    Stalled,
    /// <summary>The reassembled message is itself a fragment.</summary>
    Nested,
}

/// <summary>A peer broke the fragment rules of protocol.md §5.1; the connection it came on is closed.</summary>
internal sealed class FragmentException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="error">The rule that was broken.</param>
    /// <param name="message">A description naming the fields and values.</param>
    public FragmentException(FragmentError error, string message)
        : base(message)
    {
        Error = error;
    }

    /// <summary>The rule that was broken.</summary>
    public FragmentError Error { get; }
}

/// <summary>
/// The fragment message (protocol.md §5.1): a message longer than <see cref="ChunkSize"/> crosses the wire as chunks of
/// exactly that size (the last one shorter), each <c>0x03, total u32, offset u32, chunk</c>, so that control traffic
/// (heartbeats, gossip) can go between them instead of waiting behind the whole message.
/// </summary>
internal static class Fragments
{
    /// <summary>The message type.</summary>
    public const byte Type = MessageTypes.Fragment;

    /// <summary>Bytes of a fragment before its chunk: type, total, offset.</summary>
    public const int HeaderSize = 9;

    /// <summary>The chunk size, 64 KiB: every chunk but the last is exactly this long; shorter messages go whole.</summary>
    public const int ChunkSize = 64 * 1024;

    /// <summary>
    /// Whether a message of this type may go ahead of data queued before it (and so between the fragments of a large
    /// message): gossip and the cluster control types 0x04-0x0F. Goodbye (0x02) is not: it must follow the data sent
    /// before it, or the peer would close the connection before reading that data.
    /// </summary>
    public static bool IsControl(byte type) => type is MessageTypes.Gossip or >= MessageTypes.FirstControl and <= MessageTypes.LastControl;

    /// <summary>Writes one fragment of <paramref name="message"/>: the chunk at <paramref name="offset"/>.</summary>
    /// <returns>The chunk's length.</returns>
    public static int Write(IBufferWriter<byte> writer, ReadOnlySpan<byte> message, int offset)
    {
        int chunk = Math.Min(ChunkSize, message.Length - offset);
        var span = writer.GetSpan(HeaderSize + chunk);
        span[0] = Type;
        BinaryPrimitives.WriteUInt32LittleEndian(span[1..], (uint)message.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(span[5..], (uint)offset);
        message.Slice(offset, chunk).CopyTo(span[HeaderSize..]);
        writer.Advance(HeaderSize + chunk);
        return chunk;
    }
}

/// <summary>
/// Reassembles the fragmented messages of one connection direction (protocol.md §5.1), with the checks that keep a hostile
/// peer from making it allocate or hold more than one message of at most the maximum message length.
/// </summary>
/// <remarks>Not thread-safe: the connection's read loop owns it. The buffer is rented per message and returned when the
/// message completes or the connection ends.</remarks>
internal sealed class FragmentAssembler : IDisposable
{
    /// <summary>How many frames in a row may arrive without the next fragment of an incomplete message. A conforming
    /// sender puts the next fragment in every frame it sends while one is pending; the slack is for safety.</summary>
    public const int MaxFramesWithoutFragment = 64;

    private readonly int _maxMessageLength;
    private byte[]? _buffer;
    private int _total;
    private int _received;
    private int _framesWithout;

    /// <param name="maxMessageLength">The largest whole message, as for one sent unfragmented (maximum frame length − 48).</param>
    public FragmentAssembler(int maxMessageLength) => _maxMessageLength = maxMessageLength;

    /// <summary>Whether a fragmented message has started and not finished.</summary>
    public bool InProgress => _buffer is not null;

    /// <summary>
    /// Takes one fragment (the whole message, type byte included). Returns true with <paramref name="message"/> set when it
    /// completed a message (valid until the next call), true with an empty span when more fragments must follow.
    /// </summary>
    /// <exception cref="FragmentException">The fragment breaks §5.1; nothing was allocated for a bad total.</exception>
    public bool Accept(ReadOnlySpan<byte> fragment, out ReadOnlySpan<byte> message)
    {
        message = default;
        if (fragment.Length < Fragments.HeaderSize + 1)
        {
            throw Fail(FragmentError.Truncated, $"a fragment of {fragment.Length} bytes is shorter than its 9-byte header and a 1-byte chunk");
        }
        uint total = BinaryPrimitives.ReadUInt32LittleEndian(fragment[1..]);
        uint offset = BinaryPrimitives.ReadUInt32LittleEndian(fragment[5..]);
        var chunk = fragment[Fragments.HeaderSize..];
        if (_buffer is null)
        {
            // Checked before anything is rented for it.
            if (total <= Fragments.ChunkSize || total > (uint)_maxMessageLength)
            {
                throw Fail(FragmentError.BadTotal, $"total {total} is outside {Fragments.ChunkSize + 1}-{_maxMessageLength} bytes");
            }
            if (offset != 0)
            {
                throw Fail(FragmentError.OutOfOrder, $"the first fragment of a message has offset {offset}, expected 0");
            }
        }
        else if (total != (uint)_total || offset != (uint)_received)
        {
            throw Fail(FragmentError.OutOfOrder, $"expected total {_total} offset {_received}, got total {total} offset {offset}");
        }
        long end = (long)offset + chunk.Length;
        if (end > total || (end < total && chunk.Length != Fragments.ChunkSize))
        {
            throw Fail(FragmentError.BadChunk, $"a chunk of {chunk.Length} bytes at offset {offset} of {total}: every chunk but the last must be {Fragments.ChunkSize} bytes, and none may run past the total");
        }
        if (_buffer is null)
        {
            _buffer = ArrayPool<byte>.Shared.Rent((int)total);
            _total = (int)total;
        }
        chunk.CopyTo(_buffer.AsSpan(_received));
        _received += chunk.Length;
        _framesWithout = 0;
        if (_received < _total)
        {
            return true;
        }
        message = _buffer.AsSpan(0, _total);
        if (message[0] == Fragments.Type)
        {
            throw Fail(FragmentError.Nested, "a reassembled message is itself a fragment");
        }
        return true;
    }

    /// <summary>Returns the finished message's buffer; call after the message returned by <see cref="Accept"/> was handled.</summary>
    public void Release()
    {
        if (_buffer is not null && _received == _total)
        {
            Reset();
        }
    }

    /// <summary>Checks a message that is not a fragment against an incomplete fragmented one.</summary>
    /// <exception cref="FragmentException">A data message arrived in the middle of a fragmented one.</exception>
    public void CheckOther(byte type)
    {
        if (_buffer is not null && !Fragments.IsControl(type))
        {
            throw Fail(FragmentError.Interleaved, $"a message of type 0x{type:x2} arrived after {_received} of {_total} bytes of a fragmented message; only control messages may go between fragments");
        }
    }

    /// <summary>Counts a frame that carried no fragment while a message is incomplete.</summary>
    /// <exception cref="FragmentException">Too many such frames in a row.</exception>
    public void OnFrameWithoutFragment()
    {
        if (_buffer is not null && ++_framesWithout > MaxFramesWithoutFragment)
        {
            throw Fail(FragmentError.Stalled, $"{_framesWithout} frames in a row without the next fragment (after {_received} of {_total} bytes)");
        }
    }

    public void Dispose() => Reset();

    private void Reset()
    {
        if (_buffer is { } buffer)
        {
            _buffer = null;
            ArrayPool<byte>.Shared.Return(buffer);
        }
        _total = _received = _framesWithout = 0;
    }

    private FragmentException Fail(FragmentError error, string detail)
    {
        Reset();
        return new FragmentException(error, $"{error}: {detail}");
    }
}
