using System.Buffers;
using System.Buffers.Binary;

namespace Noex.Lite;

/// <summary>
/// The spill lane of an <see cref="OutboundQueue"/> (protocol.md §5.1, fragments): a message longer than
/// <see cref="Fragments.ChunkSize"/>, and every data message queued after it until it has gone, wait here as
/// <c>[length u32][bytes]</c> records, and each batch takes one chunk of them, so that control messages and heartbeats
/// queued meanwhile are never behind more than a chunk.
/// </summary>
/// <remarks>Not thread-safe: its queue calls it under its own lock.</remarks>
internal sealed class SpillLane : IDisposable
{
    private byte[] _buffer = [];
    private int _start;
    private int _end;
    private int _fragmentOffset; // bytes of the head record already sent as fragments

    /// <summary>Whether nothing waits.</summary>
    public bool IsEmpty => _end == _start;

    /// <summary>The messages waiting.</summary>
    public int Messages { get; private set; }

    /// <summary>The bytes waiting (records, less what of the head record has gone as fragments).</summary>
    public long PendingBytes => _end - _start - _fragmentOffset;

    /// <summary>Appends a message.</summary>
    public void Append(ReadOnlySpan<byte> message)
    {
        var needed = Framing.MessageLengthSize + message.Length;
        if (_buffer.Length - _end < needed)
        {
            var live = _end - _start;
            var grown = _buffer.Length - live < needed ? ArrayPool<byte>.Shared.Rent(Math.Max(live + needed, 2 * _buffer.Length)) : _buffer;
            _buffer.AsSpan(_start, live).CopyTo(grown);
            if (!ReferenceEquals(grown, _buffer))
            {
                Return();
                _buffer = grown;
            }
            _start = 0;
            _end = live;
        }
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_end), message.Length);
        message.CopyTo(_buffer.AsSpan(_end + Framing.MessageLengthSize));
        _end += needed;
        Messages++;
    }

    /// <summary>
    /// Takes <paramref name="buffer"/> (rented from <see cref="ArrayPool{T}.Shared"/>) as the lane's buffer, holding one
    /// message at <c>[<paramref name="start"/>, <paramref name="end"/>)</c>: its 4-byte length field, to be filled in here,
    /// then its bytes. Only when the lane is empty: the message is then the first in line, and is not copied.
    /// </summary>
    public void Adopt(byte[] buffer, int start, int end)
    {
        if (!IsEmpty)
        {
            throw new InvalidOperationException("SpillLane.Adopt: the lane is not empty.");
        }
        Return();
        _buffer = buffer;
        _start = start;
        _end = end;
        BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_start), end - start - Framing.MessageLengthSize);
        Messages++;
    }

    /// <summary>
    /// Moves one chunk into <paramref name="writer"/>: the next fragment of a long message, or whole messages up to a
    /// chunk's worth.
    /// </summary>
    public void TakeChunk(FrameWriter writer)
    {
        var moved = 0;
        while (_start < _end)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan(_start));
            var body = _buffer.AsSpan(_start + Framing.MessageLengthSize, length);
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
            _start += Framing.MessageLengthSize + length;
            Messages--;
            if (length > Fragments.ChunkSize)
            {
                break;
            }
        }
        if (_start == _end)
        {
            _start = _end = 0;
            // Large messages are rare: give a big buffer back rather than hold it for the connection's life.
            if (_buffer.Length > 4 * Fragments.ChunkSize)
            {
                Return();
            }
        }
    }

    /// <summary>Returns the buffer to the pool.</summary>
    public void Dispose() => Return();

    private void Return()
    {
        if (_buffer.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_buffer);
        }
        _buffer = [];
        _start = _end = 0;
    }
}
