using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using System.Threading.Tasks.Sources;

namespace Noex.Lite;

/// <summary>Why a connection ended. Set once (the first reason wins) and reported in node-down events and metrics.</summary>
public enum CloseReason
{
    /// <summary>The peer closed the connection (end of stream).</summary>
    ConnectionClosed = 1,
    /// <summary>The connection was reset or failed on a socket error.</summary>
    ConnectionReset,
    /// <summary>No frame arrived for the heartbeat interval times the miss threshold.</summary>
    HeartbeatTimeout,
    /// <summary>The peer said it was stopping (graceful_shutdown).</summary>
    GracefulShutdown,
    /// <summary>The peer broke protocol.md: a bad tag, sequence number or frame, or a malformed message.</summary>
    ProtocolError,
    /// <summary>A new incarnation of the peer connected, so this connection belongs to a node that is gone.</summary>
    Restarted,
    /// <summary>This node is stopping.</summary>
    LocalShutdown,
}

/// <summary>Receives what a connection reads. Called on the connection's read loop, one call at a time per connection.</summary>
internal interface IConnectionHandler
{
    /// <summary>One message of a verified frame. <paramref name="message"/> is valid only during the call.</summary>
    void OnMessage(Connection connection, ReadOnlySpan<byte> message);

    /// <summary>The connection ended, once, with its reason.</summary>
    void OnClosed(Connection connection, CloseReason reason, Exception? error);
}

/// <summary>The outcome of <see cref="Connection.TryEnqueue{TMessage}"/>.</summary>
internal enum EnqueueResult
{
    Queued,
    Full,
    Closed,
}

/// <summary>
/// One authenticated connection to one peer: a read loop, a single write loop and a bounded outbound queue.
/// </summary>
/// <remarks>
/// <para>
/// Senders on any thread encode their message straight into the active <see cref="FrameWriter"/> under a short lock;
/// the write loop seals whatever has accumulated into frames and sends it with one socket write, swapping in the spare
/// writer so that senders go on while the bytes are on their way. Under load many messages share one frame, one MAC
/// and one syscall; nothing is allocated per message.
/// </para>
/// <para>
/// The queue is bounded in bytes and messages (<see cref="NodeOptions.MaxOutboundQueueBytes"/>,
/// <see cref="NodeOptions.MaxOutboundQueueMessages"/>): a full queue is reported, never grown.
/// </para>
/// </remarks>
internal sealed class Connection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly Stream? _stream;
    private readonly IConnectionHandler _handler;
    private readonly FrameReader _reader;
    private readonly FragmentAssembler _assembler;
    /// <summary>The largest writer buffer a connection keeps once its queue is empty (a burst may grow one far past it).</summary>
    private const int ShrinkAbove = 1024 * 1024;
    /// <summary>The most a pool thread sends in one blocking call: small enough that a kernel buffer that has room for
    /// anything almost always has room for it.</summary>
    private const int PoolSendPiece = 64 * 1024;

    private readonly Lock _sendLock = new();
    private readonly WriteSignal _writeSignal = new();
    private readonly long _maxQueuedBytes;
    private readonly bool _fragmenting; // a fragment fits a frame (not with a maximum frame length just above 64 KiB)
    private readonly int _maxQueuedMessages;
    private readonly SessionKeys _keys;
    private readonly CancellationTokenSource _closing = new();
    private FrameWriter _active;
    // The spill lane (protocol.md §5.1, fragments): a message longer than Fragments.ChunkSize, and every data message
    // queued after it until it has gone, wait here as [length u32][bytes] records, and each write takes one chunk of
    // them, so that control messages and heartbeats written into _active meanwhile are never behind more than a chunk.
    private byte[] _spill = [];
    private int _spillStart;
    private int _spillEnd;
    private int _spillMessages;
    private int _spillFragmentOffset; // bytes of the head record already sent as fragments
    private FrameWriter _sending;
    private ulong _batchStartSeq; // the active writer's first sequence number (frames per send = NextSeq − this)
    private ulong _batchFrames;   // frames in the batch being sent (the write loop's only)
    private long _queuedBytes;
    private int _queuedMessages;
    private bool _heartbeatRequested;
    private bool _inFlight;       // a batch taken from the queue is still being written to the socket
    private TaskCompletionSource? _drainWaiter;
    private bool _closed;
    private TaskCompletionSource? _spaceWaiter;
    private int _closeReason;
    private Task _readLoop = Task.CompletedTask;
    private Task _writeLoop = Task.CompletedTask;
    private readonly TimeProvider _time;
    private long _lastReceived;
    private long _lastSent;
    private long _bytesReceived;  // written by the read loop only
    private long _bytesSent;      // written by the write loop only
    private volatile bool _started;
    private bool _sendBlocked;
    private Lazy<Task>? _release;
    private readonly bool _inline;

    public Connection(Socket socket, Stream? stream, NodeId peer, ulong peerIncarnation, bool dialed, SessionKeys keys, NodeOptions options, IConnectionHandler handler)
    {
        _socket = socket;
        _stream = stream;
        Peer = peer;
        PeerIncarnation = peerIncarnation;
        Dialed = dialed;
        _keys = keys;
        _handler = handler;
        _maxQueuedBytes = options.MaxOutboundQueueBytes;
        _fragmenting = options.MaxFrameLength - Framing.SingleMessageOverhead >= Fragments.HeaderSize + Fragments.ChunkSize;
        _maxQueuedMessages = options.MaxOutboundQueueMessages;
        _reader = new FrameReader(keys.Receive, 0, options.MaxFrameLength);
        _assembler = new FragmentAssembler(options.MaxFrameLength - Framing.SingleMessageOverhead);
        _active = new FrameWriter(keys.Send, 0, options.MaxFrameLength);
        _sending = new FrameWriter(keys.Send, 0, options.MaxFrameLength);
        _time = options.TimeProvider;
        // TLS keeps the pool's write loop: the read thread cannot write to an SslStream while it may be reading from it.
        _inline = options.UnsafePreferInlineScheduling && stream is null;
        _lastReceived = _lastSent = _time.GetTimestamp();
    }

    /// <summary>The peer's id.</summary>
    public NodeId Peer { get; }

    /// <summary>The peer's id as text, as process refs carry it.</summary>
    public string PeerText => Peer.ToString();

    /// <summary>The peer's incarnation, from the handshake.</summary>
    public ulong PeerIncarnation { get; }

    /// <summary>Whether this node dialled the connection (as opposed to accepting it).</summary>
    public bool Dialed { get; }

    /// <summary>When bytes last arrived (<see cref="TimeProvider.GetTimestamp"/>): any bytes count as a sign of life.</summary>
    public long LastReceived => Volatile.Read(ref _lastReceived);

    /// <summary>When bytes were last sent (<see cref="TimeProvider.GetTimestamp"/>): an idle link gets a heartbeat.</summary>
    public long LastSent => Volatile.Read(ref _lastSent);

    /// <summary>Whether the connection has ended.</summary>
    public bool IsClosed => Volatile.Read(ref _closeReason) != 0;

    private bool IsClosedForSending
    {
        get
        {
            lock (_sendLock)
            {
                return _closed;
            }
        }
    }

    /// <summary>The bytes waiting to be sent.</summary>
    public long QueuedBytes => Volatile.Read(ref _queuedBytes);

    /// <summary>Bytes read from the peer so far (for the cluster observer's rates).</summary>
    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    /// <summary>The bytes both frame writers hold (capacity, not content): what the outbound side costs in memory.</summary>
    internal long WriterCapacity
    {
        get
        {
            lock (_sendLock)
            {
                return (long)_active.Capacity + _sending.Capacity;
            }
        }
    }

    /// <summary>Whether the socket's descriptor has been closed (the connection was released), for tests.</summary>
    internal bool SocketClosed => _socket.SafeHandle.IsClosed;

    /// <summary>The socket's descriptor, for tests that check it stays in blocking mode.</summary>
    internal IntPtr SocketHandle => _socket.Handle;

    /// <summary>Whether the write loop is waiting for the kernel to take bytes: the peer is not reading fast enough.</summary>
    internal bool SendBlocked => Volatile.Read(ref _sendBlocked);

    /// <summary>Bytes written to the peer so far.</summary>
    public long BytesSent => Volatile.Read(ref _bytesSent);

    /// <summary>Starts the read and write loops.</summary>
    public void Start()
    {
        _started = true;
        Telemetry.ConnectionStarted(this);
        _readLoop = DedicatedThread.Run("noex read", ReadLoop);
        _writeLoop = Task.Run(WriteLoopAsync);
    }

    /// <summary>Encodes a message into the outbound queue, unless the queue is full or the connection closed.</summary>
    /// <param name="message">The message.</param>
    /// <param name="force">Queue even past the bound: for replies, which the peer's calls in flight already bound and
    /// which must not be lost.</param>
    /// <exception cref="Exception">Whatever <paramref name="message"/>'s encoder throws; the queue is left as it was.</exception>
    public EnqueueResult TryEnqueue<TMessage>(in TMessage message, bool force = false)
        where TMessage : struct, IOutboundMessage
    {
        bool wake;
        lock (_sendLock)
        {
            if (_closed)
            {
                return EnqueueResult.Closed;
            }
            if (!force && (_queuedBytes >= _maxQueuedBytes || _queuedMessages >= _maxQueuedMessages))
            {
                return EnqueueResult.Full;
            }
            var before = _active.WrittenCountIncludingOpen;
            long added;
            _active.BeginMessage();
            try
            {
                message.Write(_active);
                var written = _active.OpenMessage;
                if (_fragmenting && !written.IsEmpty && !Fragments.IsControl(written[0]) && (_spillEnd > _spillStart || written.Length > Fragments.ChunkSize))
                {
                    // Too long to go whole, or behind one that is: to the spill lane, in order.
                    Spill(written);
                    _active.CancelMessage();
                    added = Framing.MessageLengthSize + written.Length;
                }
                else
                {
                    _active.EndMessage();
                    added = _active.WrittenCountIncludingOpen - before;
                }
            }
            catch
            {
                _active.CancelMessage();
                throw;
            }
            _queuedBytes += added;
            _queuedMessages++;
            // Only the sender that finds the queue empty needs to wake the write loop; later ones ride along.
            wake = _queuedMessages == 1 && !_heartbeatRequested;
        }
        if (wake && !InlineScheduling.TryDeferFlush(this))
        {
            _writeSignal.Set();
        }
        InlineScheduling.NoteEnqueued();
        return EnqueueResult.Queued;
    }

    /// <summary>Waits until the outbound queue has room again, or the connection closes.</summary>
    public Task WaitForSpaceAsync(CancellationToken cancellationToken)
    {
        Task wait;
        lock (_sendLock)
        {
            if (_closed || (_queuedBytes < _maxQueuedBytes && _queuedMessages < _maxQueuedMessages))
            {
                return Task.CompletedTask;
            }
            // One shared waiter per drain: every blocked sender awaits the same task (an allocation per full queue,
            // not per message).
            _spaceWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            wait = _spaceWaiter.Task;
        }
        return wait.WaitAsync(cancellationToken);
    }

    /// <summary>Asks for an empty frame (a heartbeat) unless something is about to be sent anyway.</summary>
    public void RequestHeartbeat()
    {
        bool wake;
        lock (_sendLock)
        {
            wake = !_closed && _queuedMessages == 0 && !_heartbeatRequested;
            _heartbeatRequested = true;
        }
        if (wake)
        {
            _writeSignal.Set();
        }
    }

    /// <summary>
    /// Gives a burst's grown writer buffers back to the pool if the queue is idle now. Called once per heartbeat tick:
    /// a connection between two floods keeps its buffers (re-growing them would allocate), one that has gone quiet does
    /// not hold a high-water mark of up to <see cref="NodeOptions.MaxOutboundQueueBytes"/> for the rest of its life.
    /// </summary>
    public void TrimIdleBuffers()
    {
        lock (_sendLock)
        {
            if (_queuedMessages == 0 && !_inFlight && !_heartbeatRequested && !_closed)
            {
                _active.ShrinkIfEmpty(ShrinkAbove);
                _sending.ShrinkIfEmpty(ShrinkAbove);
            }
        }
    }

    /// <summary>Ends the connection with <paramref name="reason"/> (the first reason given wins) and reports it once.</summary>
    public void Close(CloseReason reason, Exception? error = null)
    {
        // The first closer wins; every later call (the other loop failing as the socket goes) is a no-op.
        if (Interlocked.CompareExchange(ref _closeReason, (int)reason, 0) != 0)
        {
            return;
        }
        TaskCompletionSource? waiter;
        TaskCompletionSource? drain;
        lock (_sendLock)
        {
            _closed = true;
            waiter = _spaceWaiter;
            _spaceWaiter = null;
            drain = _drainWaiter;
            _drainWaiter = null;
        }
        waiter?.TrySetResult();
        drain?.TrySetResult();
        _closing.Cancel();
        try
        {
            // Shutdown sends FIN after whatever the kernel already has; Dispose below releases the descriptor.
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        _writeSignal.Set();
        // A connection that never started (it lost a simultaneous dial) was never up, so it is never reported down.
        if (_started)
        {
            Telemetry.ConnectionEnded(this, reason);
            _handler.OnClosed(this, reason, error);
        }
    }

    /// <summary>
    /// Sends what is queued (the goodbye included) and waits until it has been written to the socket, then closes.
    /// Bounded by <paramref name="timeout"/>.
    /// </summary>
    public async Task FlushAndCloseAsync(CloseReason reason, TimeSpan timeout)
    {
        Task drained;
        lock (_sendLock)
        {
            // Drained means nothing queued and no batch still being written: the queue counters drop to zero when the
            // write loop takes a batch, before its bytes are on the wire, so they alone would close too early.
            drained = _closed || (!_inFlight && _queuedMessages == 0 && !_heartbeatRequested)
                ? Task.CompletedTask
                : (_drainWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
        try
        {
            await drained.WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        Close(reason);
    }

    /// <summary>
    /// Closes the connection, waits for both loops to end, then releases the socket, the buffers and the keys. Safe to
    /// call more than once and from several places (the transport disposes every connection that closes, and all that
    /// are left when it stops); each call completes when the release has.
    /// </summary>
    public ValueTask DisposeAsync()
    {
        var release = new Lazy<Task>(ReleaseAsync, LazyThreadSafetyMode.ExecutionAndPublication);
        return new(Interlocked.CompareExchange(ref _release, release, null) is { } first ? first.Value : release.Value);
    }

    private async Task ReleaseAsync()
    {
        Close(CloseReason.LocalShutdown);
        await Task.WhenAll(_readLoop, _writeLoop).ConfigureAwait(false);
        _socket.Dispose();
        if (_stream is not null)
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        _reader.Dispose();
        _assembler.Dispose();
        lock (_sendLock)
        {
            _active.Dispose();
            _sending.Dispose();
            ReturnSpill();
        }
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(_keys.Send);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(_keys.Receive);
        _closing.Dispose();
    }

    /// <summary>The receive buffer's free space, for the read loop (and the transport micro benchmark) to fill.</summary>
    internal Memory<byte> ReceiveBuffer => _reader.GetMemory();

    /// <summary>
    /// Takes <paramref name="read"/> bytes received into <see cref="ReceiveBuffer"/>: verifies every whole frame and hands
    /// its messages to the handler, reassembling fragments. False when the stream broke protocol.md §3 (the reader has the
    /// error); a fragment or handler failure throws.
    /// </summary>
    internal bool Deliver(int read)
    {
        _reader.Advance(read);
        // Any bytes are a sign of life, not only whole frames: a large frame crawling over a slow link must not
        // look like silence to the failure detector (reliability case T18).
        Volatile.Write(ref _lastReceived, _time.GetTimestamp());
        Volatile.Write(ref _bytesReceived, _bytesReceived + read);
        if (Telemetry.BytesReceived.Enabled)
        {
            Telemetry.BytesReceived.Add(read);
        }
        OperationStatus status;
        while ((status = _reader.TryRead(out var frame)) == OperationStatus.Done)
        {
            if (Telemetry.FramesReceived.Enabled)
            {
                Telemetry.FramesReceived.Add(1);
            }
            var fragments = false;
            foreach (var message in frame)
            {
                if (message[0] != Fragments.Type)
                {
                    _assembler.CheckOther(message[0]);
                    _handler.OnMessage(this, message);
                    continue;
                }
                fragments = true;
                if (_assembler.Accept(message, out var whole) && !whole.IsEmpty)
                {
                    _handler.OnMessage(this, whole);
                    _assembler.Release();
                }
            }
            if (!fragments)
            {
                _assembler.OnFrameWithoutFragment();
            }
        }
        return status != OperationStatus.InvalidData;
    }

    /// <summary>
    /// The read loop, on a thread of its own, in blocking receives: the kernel wakes this thread straight when bytes
    /// arrive. An asynchronous receive wakes the runtime's event-loop thread instead, which queues the continuation to
    /// the thread pool and wakes a worker: one more hop and one more wake per inbound batch, and on a two-core machine the
    /// pool's workers spinning around those hops cost more CPU than the frames themselves (remote benchmark, two runs of
    /// three rounds each way: call-100 0.18x to 0.27–0.34x raw, call-1 p50 1.29–1.59x to 0.92–1.25x raw).
    /// </summary>
    private void ReadLoop()
    {
        if (_inline)
        {
            InlineScheduling.EnableOnThisThread();
        }
        try
        {
            while (true)
            {
                // Close shuts the socket down, which ends a blocked receive with 0 or an error.
                var memory = ReceiveBuffer.Span;
                if (_inline)
                {
                    SpinForBytes();
                }
                var read = _stream is null ? _socket.Receive(memory, SocketFlags.None) : _stream.Read(memory);
                if (read == 0)
                {
                    Close(CloseReason.ConnectionClosed);
                    return;
                }
                bool delivered;
                try
                {
                    delivered = Deliver(read);
                }
                finally
                {
                    if (_inline)
                    {
                        // What this read set off runs now, even if a later message of it broke the protocol.
                        InlineScheduling.RunDeferred();
                    }
                }
                if (!delivered)
                {
                    Close(CloseReason.ProtocolError, _reader.CreateException());
                    return;
                }
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            Close(CloseReason.ConnectionReset, e); // a no-op after a local Close, which is what ended the receive
        }
        catch (Exception e)
        {
            // A handler bug must not leave a half-dead connection: end it, with the cause.
            Close(CloseReason.ProtocolError, e);
        }
    }

    /// <summary>
    /// Seals what is queued (plus one chunk of the spill lane, or an empty heartbeat frame) into one batch to send, and
    /// lets senders go on in the spare writer; null when there is nothing to send. The write loop's first half, and what
    /// the transport micro benchmark drives without a socket. Follow with <see cref="FinishBatch"/> once it is sent.
    /// </summary>
    /// <param name="more">Set when the spill lane still holds data: take another batch without waiting for a signal.</param>
    /// <param name="maxBytes">Take nothing if more than this is queued, or anything waits in the spill lane (the read
    /// thread's limit); null then too.</param>
    internal FrameWriter? TakeBatch(out bool more, int maxBytes = int.MaxValue)
    {
        TaskCompletionSource? waiter;
        FrameWriter batch;
        lock (_sendLock)
        {
            more = false;
            // One batch at a time: the read thread (inline scheduling) and the write loop both take batches.
            if (_closed || _inFlight || (_queuedMessages == 0 && !_heartbeatRequested)
                || (maxBytes != int.MaxValue && (_queuedBytes > maxBytes || _spillEnd > _spillStart)))
            {
                return null;
            }
            // One chunk of the spill lane rides behind whatever control (and earlier data) messages wait.
            TakeSpillChunk();
            // Seal what has accumulated (or an empty heartbeat frame), and let senders go on in the spare
            // writer, which continues the sequence numbers.
            _active.Seal();
            batch = _active;
            _batchFrames = batch.NextSeq - _batchStartSeq;
            _active = _sending;
            _active.ContinueSequenceFrom(batch);
            _batchStartSeq = _active.NextSeq;
            _sending = batch;
            // What is left is in the spill lane; it keeps the write loop going without a signal.
            _queuedBytes = _spillEnd - _spillStart - _spillFragmentOffset;
            _queuedMessages = _spillMessages;
            more = _spillMessages > 0;
            _heartbeatRequested = false;
            _inFlight = true;
            waiter = _spaceWaiter;
            _spaceWaiter = null;
        }
        waiter?.TrySetResult();
        return batch;
    }

    /// <summary>Records that <paramref name="batch"/> from <see cref="TakeBatch"/> was written, and clears it for reuse.</summary>
    internal void FinishBatch(FrameWriter batch)
    {
        Volatile.Write(ref _lastSent, _time.GetTimestamp());
        Volatile.Write(ref _bytesSent, _bytesSent + batch.WrittenMemory.Length);
        if (Telemetry.FramesSent.Enabled)
        {
            Telemetry.FramesSent.Add((long)_batchFrames);
        }
        if (Telemetry.BytesSent.Enabled)
        {
            Telemetry.BytesSent.Add(batch.WrittenMemory.Length);
        }
        TaskCompletionSource? drained = null;
        bool more;
        lock (_sendLock)
        {
            batch.Clear();
            _inFlight = false;
            more = _queuedMessages > 0 || _heartbeatRequested;
            if (!more)
            {
                drained = _drainWaiter;
                _drainWaiter = null;
            }
        }
        drained?.TrySetResult();
        if (more)
        {
            // The other taker may have found this batch in flight and gone back to waiting.
            _writeSignal.Set();
        }
    }

    private async Task WriteLoopAsync()
    {
        var token = _closing.Token;
        var more = false;
        try
        {
            while (!token.IsCancellationRequested)
            {
                if (!more)
                {
                    await _writeSignal.WaitAsync().ConfigureAwait(false);
                }
                if (TakeBatch(out more) is not { } batch)
                {
                    if (IsClosedForSending)
                    {
                        return;
                    }
                    continue;
                }
                var bytes = batch.WrittenMemory;
                if (_stream is null)
                {
                    await SendAsync(bytes).ConfigureAwait(false);
                }
                else
                {
                    await _stream.WriteAsync(bytes, token).ConfigureAwait(false);
                    await _stream.FlushAsync(token).ConfigureAwait(false);
                }
                FinishBatch(batch);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            Close(CloseReason.ConnectionReset, e);
        }
    }

    /// <summary>Yields a while, looking for bytes, before the read thread blocks (see <see cref="InlineScheduling.SpinsBeforeBlocking"/>).</summary>
    private void SpinForBytes()
    {
        for (var spin = 0; spin < InlineScheduling.SpinsBeforeBlocking && _socket.Available == 0; spin++)
        {
            Thread.Yield();
        }
    }

    /// <summary>
    /// Sends what is queued from the read thread (inline scheduling): one small batch when the kernel has room for it
    /// and the write loop is idle, else the write loop is woken to send it as usual.
    /// </summary>
    internal void FlushFromReadThread()
    {
        try
        {
            // A TLS connection's bytes go through its stream, which only the write loop writes.
            if (_stream is not null || !_socket.Poll(0, SelectMode.SelectWrite) || TakeBatch(out _, InlineScheduling.MaxInlineSend) is not { } batch)
            {
                _writeSignal.Set();
                return;
            }
            var bytes = batch.WrittenSpan;
            while (!bytes.IsEmpty)
            {
                bytes = bytes[_socket.Send(bytes, SocketFlags.None)..];
            }
            FinishBatch(batch);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            Close(CloseReason.ConnectionReset, e);
        }
    }

    /// <summary>
    /// Sends <paramref name="bytes"/> in blocking sends (an asynchronous one would take the socket out of blocking mode,
    /// see <see cref="ReadLoop"/>). The pool thread sends only while the kernel says it has room, a piece at a time; once
    /// it has none (the peer is not reading fast enough), the rest goes from a thread of its own, so a peer that stalls
    /// holds no pool thread.
    /// </summary>
    private ValueTask SendAsync(ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            if (!_socket.Poll(0, SelectMode.SelectWrite))
            {
                return new(StalledSendAsync(bytes));
            }
            bytes = bytes[_socket.Send(bytes.Span[..Math.Min(bytes.Length, PoolSendPiece)], SocketFlags.None)..];
        }
        return ValueTask.CompletedTask;
    }

    private async Task StalledSendAsync(ReadOnlyMemory<byte> bytes)
    {
        Volatile.Write(ref _sendBlocked, true);
        try
        {
            // A blocking send returns once every byte is in the kernel; Close shuts the socket down, which ends it with an
            // error (the write loop's to handle).
            await DedicatedThread.Run("noex send", () => _socket.Send(bytes.Span, SocketFlags.None)).ConfigureAwait(false);
        }
        finally
        {
            Volatile.Write(ref _sendBlocked, false);
        }
    }

    /// <summary>Appends a message to the spill lane (under the send lock).</summary>
    private void Spill(ReadOnlySpan<byte> message)
    {
        var needed = Framing.MessageLengthSize + message.Length;
        if (_spill.Length - _spillEnd < needed)
        {
            var live = _spillEnd - _spillStart;
            var grown = _spill.Length - live < needed ? ArrayPool<byte>.Shared.Rent(Math.Max(live + needed, 2 * _spill.Length)) : _spill;
            _spill.AsSpan(_spillStart, live).CopyTo(grown);
            if (!ReferenceEquals(grown, _spill))
            {
                ReturnSpill();
                _spill = grown;
            }
            _spillStart = 0;
            _spillEnd = live;
        }
        BinaryPrimitives.WriteInt32LittleEndian(_spill.AsSpan(_spillEnd), message.Length);
        message.CopyTo(_spill.AsSpan(_spillEnd + Framing.MessageLengthSize));
        _spillEnd += needed;
        _spillMessages++;
    }

    /// <summary>
    /// Moves one chunk of the spill lane into the active writer (under the send lock): the next fragment of a long message,
    /// or whole messages up to a chunk's worth.
    /// </summary>
    private void TakeSpillChunk()
    {
        var moved = 0;
        while (_spillStart < _spillEnd)
        {
            var length = BinaryPrimitives.ReadInt32LittleEndian(_spill.AsSpan(_spillStart));
            var body = _spill.AsSpan(_spillStart + Framing.MessageLengthSize, length);
            if (length > Fragments.ChunkSize)
            {
                if (moved > 0)
                {
                    break;
                }
                _active.BeginMessage();
                _spillFragmentOffset += Fragments.Write(_active, body, _spillFragmentOffset);
                _active.EndMessage();
                if (_spillFragmentOffset < length)
                {
                    return;
                }
                _spillFragmentOffset = 0;
            }
            else
            {
                if (moved > 0 && moved + length > Fragments.ChunkSize)
                {
                    break;
                }
                _active.WriteMessage(body);
                moved += length;
            }
            _spillStart += Framing.MessageLengthSize + length;
            _spillMessages--;
            if (length > Fragments.ChunkSize)
            {
                break;
            }
        }
        if (_spillStart == _spillEnd)
        {
            _spillStart = _spillEnd = 0;
            // Large messages are rare: give a big spill buffer back rather than hold it for the connection's life.
            if (_spill.Length > 4 * Fragments.ChunkSize)
            {
                ReturnSpill();
            }
        }
    }

    private void ReturnSpill()
    {
        if (_spill.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_spill);
        }
        _spill = [];
        _spillStart = _spillEnd = 0;
    }

    /// <summary>
    /// Wakes the single write loop without allocating: an auto-reset signal over ManualResetValueTaskSourceCore.
    /// </summary>
    /// <remarks>
    /// The wake-up goes through the thread pool's global queue (the signal is its own work item), not the waking thread's
    /// local queue, where ManualResetValueTaskSourceCore's asynchronous continuations go. A local queue is LIFO for its
    /// owner: the write loop would run right after the first sender, ahead of the callers' continuations queued just
    /// before it, and send one or two messages per syscall. Queued globally, it runs after the work already queued, so
    /// the messages those continuations enqueue ride in the same write (measured with `remote --stats`: call-100 went
    /// from 0.55 socket writes per call to 0.01, i.e. all 100 calls in flight in one write).
    /// </remarks>
    private sealed class WriteSignal : IValueTaskSource, IThreadPoolWorkItem
    {
        private const int Idle = 0;
        private const int Waiting = 1;
        private const int Signalled = 2;

        // Continuations run inline in Execute, which the thread pool calls: that is the asynchronous hop.
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = false };
        private int _state;

        public ValueTask WaitAsync()
        {
            // Signalled → Idle: a Set arrived while the loop was busy; consume it and run at once.
            if (Interlocked.CompareExchange(ref _state, Idle, Signalled) == Signalled)
            {
                return ValueTask.CompletedTask;
            }
            _core.Reset();
            // Idle → Waiting publishes the reset source; if a Set slipped in between (state is Signalled now), consume it.
            if (Interlocked.CompareExchange(ref _state, Waiting, Idle) == Signalled)
            {
                Volatile.Write(ref _state, Idle);
                return ValueTask.CompletedTask;
            }
            return new ValueTask(this, _core.Version);
        }

        public void Set()
        {
            while (true)
            {
                var state = Volatile.Read(ref _state);
                if (state == Signalled)
                {
                    return;
                }
                if (state == Waiting)
                {
                    // Waiting → Idle by exactly one setter, who then completes the awaited source.
                    if (Interlocked.CompareExchange(ref _state, Idle, Waiting) == Waiting)
                    {
                        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
                        return;
                    }
                    continue;
                }
                // Idle → Signalled: the loop is busy; it will see the signal on its next WaitAsync.
                if (Interlocked.CompareExchange(ref _state, Signalled, Idle) == Idle)
                {
                    return;
                }
            }
        }

        public void Execute() => _core.SetResult(true);

        public void GetResult(short token) => _core.GetResult(token);

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
