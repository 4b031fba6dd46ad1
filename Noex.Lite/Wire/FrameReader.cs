using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace Noex.Lite;

/// <summary>
/// Reads verified frames for one direction of a connection out of a TCP byte stream, however the stream
/// is split: the socket read loop receives into <see cref="GetMemory"/>, calls <see cref="Advance"/>,
/// then <see cref="TryRead"/> until it returns <see cref="OperationStatus.NeedMoreData"/>.
/// </summary>
/// <remarks>
/// <para>
/// The reader owns one receive buffer rented from <see cref="ArrayPool{T}.Shared"/>. It grows it only to
/// hold a frame whose length prefix already passed the maximum check (§3.4 step 2), never because of an
/// unchecked length; it moves unread bytes to the front instead of growing when it can, and goes back to
/// <see cref="DefaultBufferSize"/> once a small frame follows a large one.
/// </para>
/// <para>
/// The <see cref="FrameView"/> that <see cref="TryRead"/> returns points into that buffer: it and its
/// message spans are valid only until the next <see cref="TryRead"/>, <see cref="GetMemory"/> or
/// <see cref="Dispose"/>; copy to retain. After <see cref="OperationStatus.InvalidData"/> the reader stays
/// failed (§3.4: every frame error is fatal) and reports <see cref="Error"/> and <see cref="ErrorMessage"/>.
/// Not thread-safe: the read loop owns it.
/// </para>
/// </remarks>
internal sealed class FrameReader : IDisposable
{
    /// <summary>
    /// 16 KiB: one receive takes ~200 small frames or a few 1 KiB batches, and ArrayPool.Shared caches
    /// arrays of this size per core, so opening and closing connections does not allocate.
    /// </summary>
    public const int DefaultBufferSize = 16 * 1024;

    /// <summary>
    /// 512 KiB: what the buffer grows to for a frame of up to a quarter of it, which is what a fragmented message arrives
    /// as (protocol.md §5.1: 64 KiB chunks, frames of 65,597 bytes). Grown to only one such frame, the buffer had room for
    /// the next one only after moving its first bytes to the front: a copy of about every byte of a large message. With
    /// room for seven, receives are up to that long and the move comes once per seven frames
    /// (Noex.Lite.Bench/README.md, "Large messages"). Larger frames get exactly their size.
    /// </summary>
    internal const int LargeBufferSize = 512 * 1024;

    private readonly IncrementalHash _mac;
    private readonly int _maxFrameLength;
    private byte[] _buffer;
    private int _start;     // first unread byte
    private int _end;       // end of received bytes
    private int _pending;   // bytes of the frame last returned, consumed on the next call
    private int _lastFrameSize; // size of the frame last returned, to decide when to shrink
    private ulong _expectedSeq;
    private bool _seqExhausted;   // the frame numbered ulong.MaxValue has been read: nothing may follow
    private FrameError _error;
    private string? _errorMessage;
    private int _disposed;

    /// <summary>Creates a reader for one direction.</summary>
    /// <param name="key">The HMAC key of the direction this reader receives (the peer's sending key). It is copied.</param>
    /// <param name="expectedSeq">The sequence number of the first frame, 0 on a new connection (§3.2).</param>
    /// <param name="maxFrameLength">The largest accepted <c>length</c>, 44 to 1 GiB (§6).</param>
    public FrameReader(ReadOnlySpan<byte> key, ulong expectedSeq = 0, int maxFrameLength = Framing.DefaultMaxFrameLength)
    {
        Framing.ValidateMaxFrameLength(maxFrameLength);
        _mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        _maxFrameLength = maxFrameLength;
        _expectedSeq = expectedSeq;
        _buffer = ArrayPool<byte>.Shared.Rent(DefaultBufferSize);
    }

    /// <summary>The sequence number the next frame must carry.</summary>
    public ulong ExpectedSeq => _expectedSeq;

    /// <summary>Why the stream was refused, or null while it is healthy.</summary>
    public FrameError? Error => _errorMessage is null ? null : _error;

    /// <summary>A description of <see cref="Error"/> naming the field and values, or null.</summary>
    public string? ErrorMessage => _errorMessage;

    /// <summary>Bytes received and not yet returned as a frame.</summary>
    public int BufferedCount => _end - _start - _pending;

    /// <summary>The length field of the frame that has begun to arrive but is not whole, or 0 when none has (or fewer than
    /// its 4 length bytes are here).</summary>
    public uint IncompleteLength =>
        BufferedCount >= 4 ? System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start + _pending)) : 0;

    /// <summary>The receive buffer's current size (for tests and diagnostics).</summary>
    internal int Capacity => _buffer.Length;

    /// <summary>
    /// Returns free space to receive into, at least 1 byte and at least <paramref name="sizeHint"/> up to
    /// <see cref="DefaultBufferSize"/>: beyond that the buffer grows only for a frame whose length passed
    /// the maximum check. Invalidates the last <see cref="FrameView"/>.
    /// </summary>
    /// <param name="sizeHint">The fewest free bytes wanted, honoured up to <see cref="DefaultBufferSize"/>.</param>
    /// <returns>The free tail of the receive buffer.</returns>
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        ConsumePending();
        int unread = _end - _start;
        int room = Math.Clamp(sizeHint, 1, DefaultBufferSize);
        int wanted = Math.Max(CheckedFrameSize(), unread + room);
        // Shrink back only once a small frame has been read, so that a stream of large frames keeps
        // its buffer instead of renting and returning it around every frame.
        bool shrink = _buffer.Length > DefaultBufferSize && wanted <= DefaultBufferSize && _lastFrameSize <= DefaultBufferSize;
        if (shrink || _buffer.Length - _start < wanted || _buffer.Length - _end < room)
        {
            Reshape(unread, wanted);
        }
        return _buffer.AsMemory(_end);
    }

    /// <summary>Records that <paramref name="count"/> bytes were received into the memory from <see cref="GetMemory"/>.</summary>
    /// <param name="count">The number of bytes received.</param>
    public void Advance(int count)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if ((uint)count > (uint)(_buffer.Length - _end))
        {
            ThrowAdvance(count);
        }
        _end += count;
    }

    /// <summary>
    /// Reads the next frame: Done with a verified frame, NeedMoreData until one is complete, or
    /// InvalidData (and from then on always InvalidData) when the stream breaks protocol.md §3.
    /// </summary>
    /// <param name="frame">On Done, the frame; valid until the next TryRead, GetMemory or Dispose.</param>
    /// <returns>Done, NeedMoreData or InvalidData.</returns>
    public OperationStatus TryRead(out FrameView frame)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_errorMessage is not null)
        {
            frame = default;
            return OperationStatus.InvalidData;
        }
        ConsumePending();
        ReadOnlySpan<byte> unread = _buffer.AsSpan(_start, _end - _start);
        if (_seqExhausted && !unread.IsEmpty)
        {
            // §3.2: seq never wraps, so whatever follows frame 2^64 - 1 would be a replay of seq 0.
            _error = FrameError.SequenceMismatch;
            _errorMessage = $"{FrameError.SequenceMismatch}: expected no frame after seq {ulong.MaxValue}, got {unread.Length} more bytes";
            frame = default;
            return OperationStatus.InvalidData;
        }
        OperationStatus status = Framing.TryReadFrame(unread, _mac, _expectedSeq, _maxFrameLength, out frame, out int consumed, out FrameError error);
        if (status == OperationStatus.Done)
        {
            _pending = consumed;
            _lastFrameSize = consumed;
            if (_expectedSeq == ulong.MaxValue)
            {
                _seqExhausted = true;
            }
            else
            {
                _expectedSeq++;
            }
        }
        else if (status == OperationStatus.InvalidData)
        {
            _error = error;
            _errorMessage = Framing.Describe(unread, error, _expectedSeq, _maxFrameLength);
        }
        return status;
    }

    /// <summary>The failure as an exception to throw or to close the connection with, or null while healthy.</summary>
    /// <returns>A <see cref="FrameException"/> carrying <see cref="Error"/> and <see cref="ErrorMessage"/>.</returns>
    public FrameException? CreateException() =>
        _errorMessage is null ? null : new FrameException(_error, _errorMessage);

    /// <summary>Returns the buffer to the pool and releases the MAC. Idempotent.</summary>
    public void Dispose()
    {
        // The read loop and the connection's teardown may both dispose: once only.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _mac.Dispose();
        byte[] buffer = _buffer;
        _buffer = [];
        _start = _end = _pending = 0;
        ArrayPool<byte>.Shared.Return(buffer);
    }

    private void ConsumePending()
    {
        _start += _pending;
        _pending = 0;
        if (_start == _end)
        {
            // Nothing unread: receive at the front again, no copy needed.
            _start = _end = 0;
        }
    }

    /// <summary>
    /// The size of the frame at the front when its length prefix is complete and within limits (the
    /// checks of §3.4 step 2), else 0: the only number the buffer may grow to beyond its default size.
    /// </summary>
    private int CheckedFrameSize()
    {
        if (_end - _start < Framing.LengthPrefixSize)
        {
            return 0;
        }
        uint length = BinaryPrimitives.ReadUInt32LittleEndian(_buffer.AsSpan(_start));
        return length < Framing.MinLength || length > (uint)_maxFrameLength ? 0 : Framing.LengthPrefixSize + (int)length;
    }

    private void Reshape(int unread, int wanted)
    {
        // Grow to what the checked frame needs (room for several if it is fragment-sized); shrink back after a large frame
        // was read.
        int size = wanted <= DefaultBufferSize ? DefaultBufferSize : wanted <= LargeBufferSize / 4 ? LargeBufferSize : wanted;
        if (size > _buffer.Length || (_buffer.Length > DefaultBufferSize && size == DefaultBufferSize))
        {
            byte[] next = ArrayPool<byte>.Shared.Rent(size);
            _buffer.AsSpan(_start, unread).CopyTo(next);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = next;
        }
        else
        {
            // Compact: move the unread bytes to the front (overlap-safe).
            _buffer.AsSpan(_start, unread).CopyTo(_buffer);
        }
        _start = 0;
        _end = unread;
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowAdvance(int count) =>
        throw new ArgumentOutOfRangeException(nameof(count), count, "Advance past the end of the memory that GetMemory returned.");
}
