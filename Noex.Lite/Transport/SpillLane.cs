using System.Buffers;
using System.Buffers.Binary;

namespace Noex.Lite;

/// <summary>
/// The spill lane of an <see cref="OutboundQueue"/> (protocol.md §5.1, fragments): a message longer than
/// <see cref="Fragments.ChunkSize"/>, and every data message queued after it until it has gone, wait here as
/// <c>[length u32][bytes]</c> records, and each batch takes one chunk of them, so that control messages and heartbeats
/// queued meanwhile are never behind more than a chunk.
/// </summary>
/// <remarks>
/// The records live in a queue of segments, pooled arrays taken in order. A long message keeps the array it was encoded
/// into as a segment of its own (<see cref="Adopt"/>), wherever it is in line; short ones are copied into the last
/// segment's free space. So no record is ever moved once queued: with one growing array, four 8 MiB messages in line cost
/// 57 MiB of copying (the array doubled twice, moving what it held) and twice the time of four sent one by one
/// (`micro --filter '*LargeTransferBenchmarks*'`, Queued = 4). Not thread-safe: its queue calls it under its own lock.
/// </remarks>
internal sealed class SpillLane : IDisposable
{
    // The smallest array a segment of short messages is given, and the largest one kept for reuse once the lane empties.
    private const int SegmentSize = 4 * Fragments.ChunkSize;

    private Segment[] _segments = new Segment[4];
    private int _head;
    private int _count;
    private byte[] _spare = [];
    private long _bytes; // record bytes in all segments
    private int _fragmentOffset; // bytes of the head record already sent as fragments

    /// <summary>Whether nothing waits.</summary>
    public bool IsEmpty => _count == 0;

    /// <summary>The messages waiting.</summary>
    public int Messages { get; private set; }

    /// <summary>The bytes waiting (records, less what of the head record has gone as fragments).</summary>
    public long PendingBytes => _bytes - _fragmentOffset;

    /// <summary>Appends a message, copying it into the last segment (or a new one when it does not fit).</summary>
    public void Append(ReadOnlySpan<byte> message)
    {
        var needed = Framing.MessageLengthSize + message.Length;
        if (_count == 0 || Tail.Buffer.Length - Tail.End < needed)
        {
            byte[] buffer;
            if (_spare.Length >= needed)
            {
                buffer = _spare;
                _spare = [];
            }
            else
            {
                buffer = ArrayPool<byte>.Shared.Rent(Math.Max(needed, SegmentSize));
            }
            Push(new Segment(buffer, 0, 0));
        }
        ref var tail = ref Tail;
        BinaryPrimitives.WriteInt32LittleEndian(tail.Buffer.AsSpan(tail.End), message.Length);
        message.CopyTo(tail.Buffer.AsSpan(tail.End + Framing.MessageLengthSize));
        tail.End += needed;
        _bytes += needed;
        Messages++;
    }

    /// <summary>
    /// Takes <paramref name="buffer"/> (rented from <see cref="ArrayPool{T}.Shared"/>) as the lane's last segment, holding
    /// one message at <c>[<paramref name="start"/>, <paramref name="end"/>)</c>: its 4-byte length field, to be filled in
    /// here, then its bytes. The message is not copied; short messages queued after it go into the array's free space.
    /// </summary>
    public void Adopt(byte[] buffer, int start, int end)
    {
        BinaryPrimitives.WriteInt32LittleEndian(buffer.AsSpan(start), end - start - Framing.MessageLengthSize);
        Push(new Segment(buffer, start, end));
        _bytes += end - start;
        Messages++;
    }

    /// <summary>
    /// Moves one chunk into <paramref name="writer"/>: the next fragment of a long message, or whole messages up to a
    /// chunk's worth (from one segment: a chunk never spans two).
    /// </summary>
    public void TakeChunk(FrameWriter writer)
    {
        if (_count == 0)
        {
            return;
        }
        ref var head = ref _segments[_head];
        var moved = 0;
        while (head.Start < head.End)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(head.Buffer.AsSpan(head.Start));
            var body = head.Buffer.AsSpan(head.Start + Framing.MessageLengthSize, length);
            if (length > Fragments.ChunkSize)
            {
                if (moved > 0)
                {
                    break;
                }
                writer.BeginMessage();
                _fragmentOffset += Fragments.Write(writer, body, _fragmentOffset);
                writer.EndMessage();
                if (_fragmentOffset < length)
                {
                    return;
                }
                _fragmentOffset = 0;
            }
            else
            {
                if (moved > 0 && moved + length > Fragments.ChunkSize)
                {
                    break;
                }
                writer.WriteMessage(body);
                moved += length;
            }
            head.Start += Framing.MessageLengthSize + length;
            _bytes -= Framing.MessageLengthSize + length;
            Messages--;
            if (length > Fragments.ChunkSize)
            {
                break;
            }
        }
        if (head.Start == head.End)
        {
            Release(DropHead());
        }
    }

    /// <summary>Returns the buffers to the pool.</summary>
    public void Dispose()
    {
        while (_count > 0)
        {
            ArrayPool<byte>.Shared.Return(DropHead());
        }
        if (_spare.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_spare);
            _spare = [];
        }
        _bytes = _fragmentOffset = 0;
        Messages = 0;
    }

    /// <summary>Takes the first segment out of the ring and gives its array back to the caller.</summary>
    private byte[] DropHead()
    {
        var buffer = _segments[_head].Buffer;
        _segments[_head] = default;
        _head = (_head + 1) % _segments.Length;
        _count--;
        return buffer;
    }

    private ref Segment Tail => ref _segments[(_head + _count - 1) % _segments.Length];

    private void Push(Segment segment)
    {
        if (_count == _segments.Length)
        {
            // In line order from the start of a twice-as-long array; a lane this deep is rare, and it stays grown.
            var grown = new Segment[_segments.Length * 2];
            for (var i = 0; i < _count; i++)
            {
                grown[i] = _segments[(_head + i) % _segments.Length];
            }
            _segments = grown;
            _head = 0;
        }
        _segments[(_head + _count) % _segments.Length] = segment;
        _count++;
    }

    private void Release(byte[] buffer)
    {
        // One small array is kept for the next short messages; large messages are rare, so a big one goes back to the
        // pool rather than being held for the connection's life.
        if (buffer.Length <= SegmentSize && _spare.Length == 0)
        {
            _spare = buffer;
        }
        else
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private struct Segment(byte[] buffer, int start, int end)
    {
        public readonly byte[] Buffer = buffer;
        public int Start = start;
        public int End = end;
    }
}
