using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;

namespace Noex.Lite;

/// <summary>
/// Builds signed data frames for one direction of a connection into one pooled buffer: reserve the
/// header, encode the messages straight into the buffer, then back-fill the lengths and the tag.
/// </summary>
/// <remarks>
/// <para>
/// Use: <see cref="BeginMessage"/>, write through <see cref="IBufferWriter{T}"/>, <see cref="EndMessage"/>
/// (or <see cref="WriteMessage"/>), repeated; then <see cref="Seal"/>, which completes the frame, signs it
/// once and advances the sequence number. Several frames can be sealed one after another and sent with
/// one write of <see cref="WrittenMemory"/>; then <see cref="Clear"/>. A message that would push the
/// open frame past the maximum frame length starts a new frame by itself, so a batch larger than one
/// frame still ends up in one buffer.
/// </para>
/// <para>
/// Not thread-safe: one sender owns a writer. The buffer is rented from <see cref="ArrayPool{T}.Shared"/>
/// and returned by <see cref="Dispose"/>. <see cref="WrittenMemory"/> and the spans handed out are
/// valid until the next call that writes, <see cref="Clear"/> or <see cref="Dispose"/>.
/// </para>
/// <para>
/// The buffer is a plain rented array rather than CommunityToolkit's <c>ArrayPoolBufferWriter&lt;byte&gt;</c>:
/// back-filling needs random write access to bytes already written, which that type only gives through
/// <c>DangerousGetArray</c>, and its <c>Clear()</c> zeroes the written bytes on every send for nothing: a
/// few percent of the frame's HMAC, small but not free (FramingBenchmarks.ToolkitWriterClear; figures:
/// Noex.Lite.Bench/README.md), and the array is simpler anyway.
/// </para>
/// </remarks>
internal sealed class FrameWriter : IBufferWriter<byte>, IDisposable
{
    /// <summary>
    /// 16 KiB: one send of this size carries a batch of over 200 small frames (70 bytes for one small
    /// message), and the array stays within the sizes ArrayPool.Shared caches per core, so a connection's
    /// writer costs no allocation.
    /// </summary>
    public const int DefaultBufferSize = 16 * 1024;

    private readonly IncrementalHash _mac;
    private readonly int _maxFrameLength;
    private byte[] _buffer;
    private int _written;         // end of all bytes written, sealed or not
    private int _sealed;          // end of the last sealed frame
    private int _frameStart = -1; // start of the open frame's length prefix, or -1
    private int _messageStart = -1; // start of the open message's length field, or -1
    private readonly int _initialCapacity; // what a buffer given away (DetachOpenMessage) is replaced with
    private ulong _nextSeq;
    private bool _seqExhausted;   // the frame numbered ulong.MaxValue has been sealed (§3.2: no wrap)
    private int _disposed;

    /// <summary>Creates a writer for one direction.</summary>
    /// <param name="key">The direction's HMAC key (32 bytes normally; HMAC takes any length). It is copied.</param>
    /// <param name="initialSeq">The sequence number of the first frame, 0 on a new connection (§3.2).</param>
    /// <param name="maxFrameLength">The largest <c>length</c> a frame may have, 44 to 1 GiB (§6).</param>
    /// <param name="initialCapacity">The buffer's first size; it grows as needed.</param>
    public FrameWriter(ReadOnlySpan<byte> key, ulong initialSeq = 0, int maxFrameLength = Framing.DefaultMaxFrameLength, int initialCapacity = DefaultBufferSize)
    {
        Framing.ValidateMaxFrameLength(maxFrameLength);
        ArgumentOutOfRangeException.ThrowIfNegative(initialCapacity);
        _mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        _maxFrameLength = maxFrameLength;
        _nextSeq = initialSeq;
        _initialCapacity = Math.Max(initialCapacity, Framing.HeaderSize + Framing.TagSize);
        _buffer = ArrayPool<byte>.Shared.Rent(_initialCapacity);
    }

    /// <summary>The sequence number the next sealed frame will carry.</summary>
    public ulong NextSeq => _nextSeq;

    /// <summary>The largest message this writer accepts: the maximum frame length minus 48.</summary>
    public int MaxMessageLength => _maxFrameLength - Framing.SingleMessageOverhead;

    /// <summary>Every sealed frame, ready to send.</summary>
    public ReadOnlyMemory<byte> WrittenMemory => _buffer.AsMemory(0, _sealed);

    /// <summary>The bytes of every sealed frame, ready to send.</summary>
    public ReadOnlySpan<byte> WrittenSpan => _buffer.AsSpan(0, _sealed);

    /// <summary>Every byte written, sealed or not (a connection counts its queued bytes with it).</summary>
    public int WrittenCountIncludingOpen => _written;

    /// <summary>
    /// Makes this writer's next frame follow <paramref name="other"/>'s last one, so that two writers can take turns on
    /// one direction (one fills while the other's bytes are sent) under one sequence (§3.2). A frame still open in
    /// <paramref name="other"/> counts as its last one: it takes its number when it is sealed, so this writer's frames
    /// must be sent after it.
    /// </summary>
    /// <exception cref="InvalidOperationException">This writer has a frame open.</exception>
    public void ContinueSequenceFrom(FrameWriter other)
    {
        if (_frameStart >= 0)
        {
            ThrowInvalidOperation("ContinueSequenceFrom: a frame is open.");
        }
        if (other._frameStart < 0)
        {
            _nextSeq = other._nextSeq;
            _seqExhausted = other._seqExhausted;
        }
        else
        {
            // The open frame will be numbered other._nextSeq; after the last number there is none (§3.2: no wrap).
            _seqExhausted = other._seqExhausted || other._nextSeq == ulong.MaxValue;
            _nextSeq = _seqExhausted ? ulong.MaxValue : other._nextSeq + 1;
        }
    }

    /// <summary>The buffer's current size (for tests and diagnostics).</summary>
    internal int Capacity => _buffer.Length;

    /// <summary>The bytes written so far into the open message (after its length field); empty when none is open.</summary>
    internal ReadOnlySpan<byte> OpenMessage =>
        _messageStart < 0 ? default : _buffer.AsSpan(_messageStart + Framing.MessageLengthSize, _written - _messageStart - Framing.MessageLengthSize);

    /// <summary>Starts a message: reserves its 4-byte length (and the frame's header, if no frame is open).</summary>
    public void BeginMessage()
    {
        ThrowIfDisposed();
        if (_messageStart >= 0)
        {
            ThrowInvalidOperation("BeginMessage: a message is already open; call EndMessage first.");
        }
        if (_frameStart < 0)
        {
            OpenFrame();
        }
        EnsureCapacity(Framing.MessageLengthSize);
        _messageStart = _written;
        _written += Framing.MessageLengthSize;
    }

    /// <summary>Ends the open message: back-fills its length.</summary>
    /// <exception cref="InvalidOperationException">No message is open, or it is empty (messages are at least 1 byte, §3.3); an empty message is discarded.</exception>
    public void EndMessage()
    {
        ThrowIfDisposed();
        if (_messageStart < 0)
        {
            ThrowInvalidOperation("EndMessage: no message is open; call BeginMessage first.");
        }
        int messageBytes = _written - _messageStart;
        if (messageBytes == Framing.MessageLengthSize)
        {
            CancelMessage();
            ThrowInvalidOperation("EndMessage: the message is empty; protocol.md §3.3 requires at least 1 byte.");
        }
        // Advance has already refused a message longer than MaxMessageLength, so this message fits a
        // frame on its own. If it does not fit the open frame, the frame is sealed without it and the
        // message moves 48 bytes on (past the tag and a new header): a copy only when a batch overflows.
        if (_written - _frameStart - Framing.LengthPrefixSize + Framing.TagSize > _maxFrameLength)
        {
            EnsureCapacity(Framing.TagSize + Framing.HeaderSize);
            int shift = Framing.TagSize + Framing.HeaderSize;
            _buffer.AsSpan(_messageStart, messageBytes).CopyTo(_buffer.AsSpan(_messageStart + shift));
            _written = _messageStart;
            _messageStart = -1;
            SealOpenFrame();
            OpenFrame();
            _messageStart = _written;
            _written += messageBytes;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.AsSpan(_messageStart), (uint)(messageBytes - Framing.MessageLengthSize));
        _messageStart = -1;
    }

    /// <summary>Discards the open message, if any, so that an encoder failure leaves the writer usable.</summary>
    public void CancelMessage()
    {
        if (_messageStart >= 0)
        {
            _written = _messageStart;
            _messageStart = -1;
        }
    }

    /// <summary>
    /// Gives the open message's bytes away without copying them: returns the buffer, in which
    /// <c>[<paramref name="start"/>, <paramref name="end"/>)</c> is the message's 4-byte length field (not yet filled in)
    /// and then its bytes, and goes on in a new rented buffer holding what preceded the message. The caller owns the
    /// returned buffer and gives it back to <see cref="ArrayPool{T}.Shared"/>.
    /// </summary>
    /// <remarks>For a message of megabytes (grown into this writer by its encoder) that goes on as fragments: the bytes
    /// before it are at most a segment's worth, so moving them is cheaper than copying the message (one pass over
    /// megabytes per large send; Noex.Lite.Bench/README.md, "Large messages").</remarks>
    /// <exception cref="InvalidOperationException">No message is open.</exception>
    internal byte[] DetachOpenMessage(out int start, out int end)
    {
        ThrowIfDisposed();
        if (_messageStart < 0)
        {
            ThrowInvalidOperation("DetachOpenMessage: no message is open.");
        }
        byte[] detached = _buffer;
        start = _messageStart;
        end = _written;
        byte[] next = ArrayPool<byte>.Shared.Rent(Math.Max(_initialCapacity, _messageStart));
        detached.AsSpan(0, _messageStart).CopyTo(next);
        _buffer = next;
        _written = _messageStart;
        _messageStart = -1;
        return detached;
    }

    /// <summary>Writes one whole message into the open frame (opening one if needed).</summary>
    /// <param name="message">The message, at least 1 and at most <see cref="MaxMessageLength"/> bytes.</param>
    public void WriteMessage(ReadOnlySpan<byte> message)
    {
        if (message.IsEmpty)
        {
            ThrowInvalidOperation("WriteMessage: the message is empty; protocol.md §3.3 requires at least 1 byte.");
        }
        if (message.Length > MaxMessageLength)
        {
            ThrowMessageTooLarge(message.Length);
        }
        // Seal first when the message would not fit, rather than copying it twice in EndMessage.
        if (_frameStart >= 0 && _messageStart < 0
            && _written - _frameStart - Framing.LengthPrefixSize + Framing.MessageLengthSize + message.Length + Framing.TagSize > _maxFrameLength)
        {
            Seal();
        }
        BeginMessage();
        message.CopyTo(GetSpan(message.Length));
        Advance(message.Length);
        EndMessage();
    }

    /// <summary>
    /// Completes the open frame (an empty one, a heartbeat, if none is open): back-fills its length,
    /// header and sequence number, appends its tag and advances <see cref="NextSeq"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">A message is still open.</exception>
    public void Seal()
    {
        ThrowIfDisposed();
        if (_messageStart >= 0)
        {
            ThrowInvalidOperation("Seal: a message is still open; call EndMessage or CancelMessage first.");
        }
        if (_frameStart < 0)
        {
            OpenFrame();
        }
        SealOpenFrame();
    }

    /// <summary>
    /// Forgets everything written, after <see cref="WrittenMemory"/> has been sent. An open frame is
    /// discarded too (its messages are lost, and its sequence number is reused). Nothing is zeroed.
    /// </summary>
    public void Clear()
    {
        _written = 0;
        _sealed = 0;
        _frameStart = -1;
        _messageStart = -1;
    }

    /// <summary>
    /// Swaps a buffer grown past <paramref name="limit"/> for a default-sized one, if nothing is written: a burst's
    /// high-water mark goes back to the shared pool (which can hand it to the next burst, or trim it under memory
    /// pressure) instead of staying with this writer for the connection's life.
    /// </summary>
    /// <param name="limit">The largest buffer to keep.</param>
    public void ShrinkIfEmpty(int limit)
    {
        if (_written != 0 || _buffer.Length <= limit || _disposed != 0)
        {
            return;
        }
        byte[] large = _buffer;
        _buffer = ArrayPool<byte>.Shared.Rent(DefaultBufferSize);
        ArrayPool<byte>.Shared.Return(large);
    }

    /// <inheritdoc/>
    public void Advance(int count)
    {
        ThrowIfDisposed();
        if (_messageStart < 0)
        {
            ThrowInvalidOperation("Advance: no message is open; call BeginMessage first.");
        }
        if ((uint)count > (uint)(_buffer.Length - _written))
        {
            ThrowAdvance(count);
        }
        _written += count;
        if (_written - _messageStart - Framing.MessageLengthSize > MaxMessageLength)
        {
            int length = _written - _messageStart - Framing.MessageLengthSize;
            CancelMessage();
            ThrowMessageTooLarge(length);
        }
    }

    /// <inheritdoc/>
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        PrepareWrite(sizeHint);
        return _buffer.AsMemory(_written);
    }

    /// <inheritdoc/>
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        PrepareWrite(sizeHint);
        return _buffer.AsSpan(_written);
    }

    /// <summary>Returns the buffer to the pool and releases the MAC. Idempotent.</summary>
    public void Dispose()
    {
        // Single owner, but a connection's teardown and a failed send may both dispose: once only.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _mac.Dispose();
        byte[] buffer = _buffer;
        _buffer = [];
        Clear();
        ArrayPool<byte>.Shared.Return(buffer);
    }

    private void PrepareWrite(int sizeHint)
    {
        ThrowIfDisposed();
        if (_messageStart < 0)
        {
            ThrowInvalidOperation("GetSpan/GetMemory: no message is open; call BeginMessage first.");
        }
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        EnsureCapacity(Math.Max(sizeHint, 1));
    }

    private void OpenFrame()
    {
        EnsureCapacity(Framing.HeaderSize);
        _frameStart = _written;
        _written += Framing.HeaderSize;
    }

    private void SealOpenFrame()
    {
        if (_seqExhausted)
        {
            ThrowInvalidOperation("Seal: the frame numbered 2^64 - 1 was the last one (protocol.md §3.2); close the connection.");
        }
        EnsureCapacity(Framing.TagSize);
        Span<byte> frame = _buffer.AsSpan(_frameStart, _written - _frameStart + Framing.TagSize);
        // §3.1: length counts every byte after itself, the tag included.
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)(frame.Length - Framing.LengthPrefixSize));
        frame[4] = Framing.Version;
        frame[5] = Framing.KindData;
        BinaryPrimitives.WriteUInt16LittleEndian(frame[6..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(frame[8..], _nextSeq);
        Framing.ComputeTag(_mac, default, frame[..^Framing.TagSize], frame[^Framing.TagSize..]);
        // A wrapped seq would let a recorded frame 0 be replayed (§3.2), so the last number ends the stream.
        if (_nextSeq == ulong.MaxValue)
        {
            _seqExhausted = true;
        }
        else
        {
            _nextSeq++;
        }
        _written += Framing.TagSize;
        _sealed = _written;
        _frameStart = -1;
    }

    private void EnsureCapacity(int extra)
    {
        if (_buffer.Length - _written >= extra)
        {
            return;
        }
        // Grows by doubling; bounded because a message is capped at MaxMessageLength in Advance.
        int needed = checked(_written + extra);
        byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, (int)Math.Min(Array.MaxLength, 2L * _buffer.Length)));
        _buffer.AsSpan(0, _written).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed != 0, this);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowInvalidOperation(string message) => throw new InvalidOperationException(message);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowMessageTooLarge(int length) =>
        throw new MessageTooLargeException(length, MaxMessageLength, _maxFrameLength);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowAdvance(int count) =>
        throw new ArgumentOutOfRangeException(nameof(count), count, "Advance past the end of the span that GetSpan/GetMemory returned.");
}
