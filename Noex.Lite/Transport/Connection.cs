using System.Buffers;
using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>Receives what a connection reads. Called on the connection's read thread, one call at a time per connection.</summary>
internal interface IConnectionHandler
{
    /// <summary>One message of a verified frame. <paramref name="message"/> is valid only during the call.</summary>
    void OnMessage(Connection connection, ReadOnlySpan<byte> message);

    /// <summary>The connection ended, once: its <see cref="Connection.CloseReason"/>, <see cref="Connection.CloseDetail"/>
    /// and <see cref="Connection.CloseError"/> say why.</summary>
    void OnClosed(Connection connection);
}

/// <summary>
/// One authenticated connection to one peer: a read thread that verifies frames and hands their messages to the handler,
/// and a write loop that sends what its <see cref="OutboundQueue"/> holds.
/// </summary>
/// <remarks>
/// <para>
/// The socket stays in blocking mode. Reads are blocking receives on a thread of the connection's own: the kernel wakes
/// it straight when bytes arrive, where an asynchronous receive wakes the runtime's event-loop thread, which queues the
/// continuation to the thread pool and wakes a worker: one more hop and one more wake per inbound batch, and on a
/// two-core machine the workers spinning around those hops cost more CPU than the frames themselves (figures:
/// Noex.Lite.Bench/README.md). Sends are blocking
/// too (an asynchronous call would take the socket out of blocking mode): the write loop, on the pool, sends while the
/// kernel has room, and a stalled send moves to a thread of its own.
/// </para>
/// <para>
/// What a read sets off runs on the read thread after the read, gathered in one <see cref="TurnBatch"/>; work that takes
/// long moves to the thread pool, and a read thread held by it hands the reading to a new one (see
/// <see cref="ReadThreadScheduler"/>).
/// </para>
/// </remarks>
internal sealed class Connection : IAsyncDisposable
{
    /// <summary>The most a pool thread sends in one blocking call: small enough that a kernel buffer that has room for
    /// anything almost always has room for it.</summary>
    private const int PoolSendPiece = 64 * 1024;

    private readonly Socket _socket;
    private readonly Stream? _stream;
    private readonly IConnectionHandler _handler;
    private readonly FrameReader _reader;
    private readonly FragmentAssembler _assembler;
    private readonly OutboundQueue _outbound;
    private readonly WriteSignal _writeSignal = new();
    private readonly SessionKeys _keys;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _closing = new();
    private Task _readLoop = Task.CompletedTask;
    private ReadThreadScheduler? _reads; // the current read thread's
    private Task _writeLoop = Task.CompletedTask;
    private Lazy<Task>? _release;
    private long _lastReceived;
    private long _incompleteSince; // when the frame now arriving began (a timestamp), 0 when none is incomplete
    private long _incompleteLength; // its length field, once its first 4 bytes are here (written by the read thread)
    private long _lastSent;
    private long _bytesReceived;  // written by the read thread only
    private long _bytesSent;      // written by whoever finishes a batch, one at a time
    private Ending? _ending;
    private int _closingAs;   // set by FlushAndCloseAsync: the reason the connection ends with, whoever ends it
    private volatile bool _started;
    private bool _sendBlocked;

    public Connection(Socket socket, Stream? stream, NodeId peer, ulong peerIncarnation, SessionKeys keys, NodeOptions options, IConnectionHandler handler)
    {
        _socket = socket;
        _stream = stream;
        Peer = peer;
        PeerText = peer.ToString();
        PeerIncarnation = peerIncarnation;
        _keys = keys;
        _handler = handler;
        _reader = new FrameReader(keys.Receive, 0, options.MaxFrameLength);
        _assembler = new FragmentAssembler(options.MaxFrameLength - Framing.SingleMessageOverhead);
        _outbound = new OutboundQueue(keys.Send, options);
        _time = options.TimeProvider;
        // The node's options refuse the inline mode with TLS: only the write loop may write to an SslStream.
        RunsInline = options.UnsafePreferInlineScheduling && stream is null;
        ReadAheadLimit = options.ReadAheadLimit;
        _lastReceived = _lastSent = _time.GetTimestamp();
    }

    /// <summary>The peer's id.</summary>
    public NodeId Peer { get; }

    /// <summary>The peer's id as text, as process refs carry it.</summary>
    public string PeerText { get; }

    /// <summary>The peer's incarnation, from the handshake.</summary>
    public ulong PeerIncarnation { get; }

    /// <summary>The protocol version and capabilities the handshake settled: a sender uses a capability's messages and
    /// fields only when it is in this set (protocol.md §4.6).</summary>
    public Negotiated Protocol { get; init; } = new(1, Capabilities.None);

    /// <summary>Whether what a read sets off runs on the read thread (<see cref="NodeOptions.UnsafePreferInlineScheduling"/>):
    /// a handler may then complete waiters inline.</summary>
    public bool RunsInline { get; }

    /// <summary>The most user messages this connection leaves queued in one local process before it stops reading
    /// (<see cref="NodeOptions.ReadAheadLimit"/>; 0 for no limit).</summary>
    public int ReadAheadLimit { get; }

    /// <summary>When bytes last arrived (<see cref="TimeProvider.GetTimestamp"/>): any bytes count as a sign of life.</summary>
    public long LastReceived => Volatile.Read(ref _lastReceived);

    /// <summary>When bytes were last sent (<see cref="TimeProvider.GetTimestamp"/>): an idle link gets a heartbeat.</summary>
    public long LastSent => Volatile.Read(ref _lastSent);

    /// <summary>Whether the connection has ended.</summary>
    public bool IsClosed => Volatile.Read(ref _ending) is not null;

    /// <summary>Why the connection ended; 0 while it has not.</summary>
    public NodeDownReason CloseReason => Volatile.Read(ref _ending)?.Reason ?? 0;

    /// <summary>What ended the connection, in words; null while it has not ended.</summary>
    public string? CloseDetail => Volatile.Read(ref _ending)?.Detail;

    /// <summary>The exception that ended the connection, when there was one (a socket error, the protocol violation).</summary>
    public Exception? CloseError => Volatile.Read(ref _ending)?.Error;

    /// <summary>What ended the connection, as a <see cref="ConnectionCause"/> token; null while it has not ended.</summary>
    public string? CloseCause => Volatile.Read(ref _ending)?.Cause;

    /// <summary>Whether the peer dialled this node (the connection was accepted), for the log.</summary>
    public bool Inbound { get; init; }

    /// <summary>The bytes waiting to be sent.</summary>
    public long QueuedBytes => _outbound.QueuedBytes;

    /// <summary>Bytes read from the peer so far (for the cluster observer's rates).</summary>
    public long BytesReceived => Volatile.Read(ref _bytesReceived);

    /// <summary>Bytes written to the peer so far.</summary>
    public long BytesSent => Volatile.Read(ref _bytesSent);

    /// <summary>The bytes the outbound queue's writers hold: what the outbound side costs in memory.</summary>
    internal long WriterCapacity => _outbound.WriterCapacity;

    /// <summary>Whether the socket's descriptor has been closed (the connection was released), for tests.</summary>
    internal bool SocketClosed => _socket.SafeHandle.IsClosed;

    /// <summary>The socket's descriptor, for tests that check it stays in blocking mode.</summary>
    internal IntPtr SocketHandle => _socket.Handle;

    /// <summary>Whether the write loop is waiting for the kernel to take bytes: the peer is not reading fast enough.</summary>
    internal bool SendBlocked => Volatile.Read(ref _sendBlocked);

    /// <summary>Starts the read thread and the write loop.</summary>
    public void Start()
    {
        _started = true;
        Telemetry.ConnectionStarted(this);
        _readLoop = DedicatedThread.Run("noex read", ReadLoop);
        _writeLoop = Task.Run(WriteLoopAsync);
    }

    /// <summary>Encodes a message into the outbound queue, unless the queue is full or the connection closed, and wakes
    /// the sender if the queue was idle.</summary>
    /// <param name="message">The message.</param>
    /// <param name="force">Queue even past the bound (see <see cref="OutboundQueue.TryEnqueue{TMessage}"/>).</param>
    /// <exception cref="Exception">Whatever <paramref name="message"/>'s encoder throws; the queue is left as it was.</exception>
    public EnqueueResult TryEnqueue<TMessage>(in TMessage message, bool force = false)
        where TMessage : struct, IOutboundMessage
    {
        var result = _outbound.TryEnqueue(message, force, out var wake);
        if (result == EnqueueResult.Queued && _stream is null)
        {
            // On an inline read thread or a batch's runner the send waits for the end of its work (or the next batch of
            // messages). Only the write loop writes to a stream (TLS).
            if (!wake || ReadThreadScheduler.TryDeferFlush(this))
            {
                ReadThreadScheduler.NoteEnqueued();
                return result;
            }
        }
        if (wake)
        {
            _writeSignal.Set();
        }
        return result;
    }

    /// <summary>Wakes the write loop to send what is queued: for a runner's deferred sends that cannot wait for it.</summary>
    public void WakeWriter() => _writeSignal.Set();

    /// <summary>Waits until the outbound queue has room again, or the connection closes.</summary>
    public Task WaitForSpaceAsync(CancellationToken cancellationToken) => _outbound.WaitForSpaceAsync(cancellationToken);

    /// <summary>Waits until the outbound queue has room and holds less than <paramref name="belowBytes"/>, or the
    /// connection closes (see <see cref="OutboundQueue.WaitForSpaceAsync(long, CancellationToken)"/>).</summary>
    public Task WaitForSpaceAsync(long belowBytes, CancellationToken cancellationToken) => _outbound.WaitForSpaceAsync(belowBytes, cancellationToken);

    /// <summary>Asks for an empty frame (a heartbeat) unless something is about to be sent anyway.</summary>
    public void RequestHeartbeat()
    {
        if (_outbound.RequestHeartbeat())
        {
            _writeSignal.Set();
        }
    }

    /// <summary>Gives a burst's grown buffers back to the pool if the queue is idle (see <see cref="OutboundQueue.TrimIdleBuffers"/>).</summary>
    public void TrimIdleBuffers() => _outbound.TrimIdleBuffers();

    /// <summary>Ends the connection with <paramref name="reason"/> (the first reason given wins) and reports it once.</summary>
    /// <param name="reason">Why.</param>
    /// <param name="error">The exception that caused it, if any.</param>
    /// <param name="detail">What happened, in words; by default the error's message, or a sentence for the reason.</param>
    /// <param name="cause">What happened, as a <see cref="ConnectionCause"/> token; by default the one the error or
    /// the reason implies.</param>
    public void Close(NodeDownReason reason, Exception? error = null, string? detail = null, string? cause = null)
    {
        if (Volatile.Read(ref _ending) is not null)
        {
            // Closed already: not even the cause is worth building.
            return;
        }
        // The first closer wins; every later call (the other loop failing as the socket goes) is a no-op. Reason, cause
        // and error are published as one object, so whoever sees the connection closed sees why.
        var ending = new Ending(reason, error, detail ?? error?.Message ?? Describe(reason), cause ?? ConnectionCause.Of(reason, error));
        if (Interlocked.CompareExchange(ref _ending, ending, null) is not null)
        {
            return;
        }
        _outbound.Close();
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
            _handler.OnClosed(this);
        }
    }

    /// <summary>
    /// Sends what is queued (the goodbye included) and waits until it has been written to the socket, then closes.
    /// Bounded by <paramref name="timeout"/>.
    /// </summary>
    public async Task FlushAndCloseAsync(NodeDownReason reason, TimeSpan timeout)
    {
        // From now on the connection ends for this reason, even when the peer's answer ends it first (it closes on the
        // goodbye, before this node's flush completes): that close is this one's consequence, not news.
        Volatile.Write(ref _closingAs, (int)reason);
        try
        {
            await _outbound.WhenDrainedAsync().WaitAsync(timeout).ConfigureAwait(false);
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
        Close(NodeDownReason.LocalShutdown);
        // The read loop may have moved to a new thread (TakeOverReading) while this waited: wait for the current one. A
        // thread that gave up reading is not waited for: it may be held by user code, and it touches nothing released
        // here. Nor is one held by a read's work now: it gives up reading here, as it would to the watchdog.
        Task readLoop;
        do
        {
            readLoop = Volatile.Read(ref _readLoop);
            if (Volatile.Read(ref _reads)?.TryTakeOver() == true)
            {
                break;
            }
            await readLoop.ConfigureAwait(false);
        }
        while (readLoop != Volatile.Read(ref _readLoop));
        await _writeLoop.ConfigureAwait(false);
        _socket.Dispose();
        if (_stream is not null)
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        _reader.Dispose();
        _assembler.Dispose();
        _outbound.Dispose();
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(_keys.Send);
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(_keys.Receive);
        _closing.Dispose();
    }

    /// <summary>The receive buffer's free space, for the read thread (and the transport micro benchmark) to fill.</summary>
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
        // look like silence to the failure detector. A frame that crawls too long is bounded by its own deadline.
        var now = _time.GetTimestamp();
        var completed = false;
        Volatile.Write(ref _lastReceived, now);
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
            completed = true;
        }
        if (_reader.BufferedCount == 0)
        {
            if (_incompleteSince != 0)
            {
                Volatile.Write(ref _incompleteSince, 0);
            }
        }
        else
        {
            // The frame left incomplete began at this read, unless it is the one that was incomplete before it.
            if (completed || _incompleteSince == 0)
            {
                _incompleteLength = 0;
                Volatile.Write(ref _incompleteSince, now);
            }
            if (_incompleteLength == 0)
            {
                Volatile.Write(ref _incompleteLength, _reader.IncompleteLength);
            }
        }
        return status != OperationStatus.InvalidData;
    }

    /// <summary>
    /// Why the frame now arriving is past its deadline (protocol.md §6: the silence bound, plus a second for each 64 KiB of
    /// its length, from its first byte), or null: any bytes are a sign of life, so without this a peer could trickle one
    /// frame for ever and hold its buffer.
    /// </summary>
    /// <param name="now">The current timestamp.</param>
    /// <param name="silence">The silence bound (heartbeat interval times the miss threshold).</param>
    internal string? OverdueFrame(long now, TimeSpan silence)
    {
        var since = Volatile.Read(ref _incompleteSince);
        if (since == 0)
        {
            return null;
        }
        var length = Volatile.Read(ref _incompleteLength);
        var deadline = silence + TimeSpan.FromSeconds(length / 65536.0);
        var age = _time.GetElapsedTime(since, now);
        return age > deadline
            ? $"a frame of {length} bytes has been arriving for {age.TotalMilliseconds:0} ms (its deadline is {deadline.TotalMilliseconds:0} ms)"
            : null;
    }

    /// <summary>
    /// Moves the connection's reading to a new thread: the watchdog calls it when the read thread has been held for long
    /// by what a read set off (user code that blocks), after that thread gave up the role between two reads
    /// (<see cref="ReadThreadScheduler.TryTakeOver"/>), so exactly one thread reads at a time.
    /// </summary>
    internal void TakeOverReading()
    {
        if (IsClosed)
        {
            return;
        }
        Telemetry.ReaderTakenOver(this);
        Volatile.Write(ref _readLoop, DedicatedThread.Run("noex read", ReadLoop));
    }

    /// <summary>The read thread: blocking receives until the socket ends (see the remarks on <see cref="Connection"/>).</summary>
    private void ReadLoop()
    {
        var reads = ReadThreadScheduler.For(RunsInline, this);
        // A thread that takes the reading over first waits for what its predecessor's last read fed past the read-ahead
        // limit: its predecessor, held in that read's work, never will.
        reads.InheritBacklogs(Volatile.Read(ref _reads));
        Volatile.Write(ref _reads, reads);
        var reading = true;
        reads.Attach();
        try
        {
            reads.BeforeFirstRead();
            while (true)
            {
                // Close shuts the socket down, which ends a blocked receive with 0 or an error.
                var memory = ReceiveBuffer.Span;
                ReadThreadScheduler.BeforeReceive(_socket);
                var read = _stream is null ? _socket.Receive(memory, SocketFlags.None) : _stream.Read(memory);
                if (read == 0)
                {
                    PeerClosed(NodeDownReason.ConnectionClosed, null);
                    return;
                }
                bool delivered;
                try
                {
                    delivered = Deliver(read);
                }
                finally
                {
                    // What this read set off runs now, even if a later message of it broke the protocol.
                    reading = reads.AfterRead();
                }
                if (!reading)
                {
                    // Held by what the read set off, this thread gave its role to a new read thread: it touches nothing more.
                    return;
                }
                if (!delivered)
                {
                    Close(NodeDownReason.ProtocolError, _reader.CreateException());
                    return;
                }
            }
        }
        catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
        {
            PeerClosed(NodeDownReason.ConnectionReset, e); // a no-op after a local Close, which is what ended the receive
        }
        catch (Exception e) when (reading)
        {
            // A fragment error, or a bug in a handler: either way the connection cannot go on. End it, with the cause.
            Close(NodeDownReason.ProtocolError, e);
        }
        finally
        {
            // Closing on this thread told the services, whose notices (a monitor's down, a link's exit) woke processes: their
            // turns were gathered for after a read that will not come.
            reads.Detach();
        }
    }

    /// <summary>
    /// Takes what is queued as one batch to send (see <see cref="OutboundQueue.TakeBatch"/>): the write loop's first half,
    /// and what the transport micro benchmark drives without a socket. Follow with <see cref="FinishBatch"/> once it is sent.
    /// </summary>
    internal FrameWriter? TakeBatch(out bool more, int maxBytes = int.MaxValue) => _outbound.TakeBatch(out more, maxBytes);

    /// <summary>Records that <paramref name="batch"/> from <see cref="TakeBatch"/> was written, and clears it for reuse.</summary>
    internal void FinishBatch(FrameWriter batch)
    {
        var bytes = batch.WrittenMemory.Length;
        Volatile.Write(ref _lastSent, _time.GetTimestamp());
        Volatile.Write(ref _bytesSent, _bytesSent + bytes);
        if (Telemetry.FramesSent.Enabled)
        {
            Telemetry.FramesSent.Add((long)_outbound.BatchFrames);
        }
        if (Telemetry.BytesSent.Enabled)
        {
            Telemetry.BytesSent.Add(bytes);
        }
        if (_outbound.FinishBatch(batch))
        {
            // The other taker (read thread or write loop) may have found this batch in flight and gone back to waiting.
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
                    if (_outbound.IsClosed)
                    {
                        return;
                    }
                    continue;
                }
                var bytes = batch.WrittenMemory;
                if (_stream is null)
                {
                    await SendBlocking(bytes).ConfigureAwait(false);
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
            PeerClosed(NodeDownReason.ConnectionReset, e);
        }
    }

    /// <summary>
    /// Sends what is queued from the thread that deferred it (an inline read thread, or a batch's runner): one small batch
    /// when the kernel has room for it and the write loop is idle, else the write loop is woken to send it as usual.
    /// </summary>
    internal void FlushDeferred()
    {
        try
        {
            if (!_socket.Poll(0, SelectMode.SelectWrite) || TakeBatch(out _, ReadThreadScheduler.MaxInlineSend) is not { } batch)
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
            PeerClosed(NodeDownReason.ConnectionReset, e);
        }
    }

    /// <summary>The socket ended (end of stream, or an error): for <paramref name="reason"/>, unless this node had begun
    /// to close the connection already (<see cref="FlushAndCloseAsync"/>), whose reason it then is.</summary>
    private void PeerClosed(NodeDownReason reason, Exception? error)
    {
        var closingAs = (NodeDownReason)Volatile.Read(ref _closingAs);
        if (closingAs == 0)
        {
            Close(reason, error);
        }
        else
        {
            Close(closingAs, error, Describe(closingAs), ConnectionCause.Of(closingAs, null));
        }
    }

    /// <summary>
    /// Sends <paramref name="bytes"/> in blocking sends (an asynchronous one would take the socket out of blocking mode).
    /// The pool thread sends only while the kernel says it has room, a piece at a time; once it has none (the peer is not
    /// reading fast enough), the rest goes from a thread of its own, so a peer that stalls holds no pool thread.
    /// </summary>
    private ValueTask SendBlocking(ReadOnlyMemory<byte> bytes)
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

    private static string Describe(NodeDownReason reason) => reason switch
    {
        NodeDownReason.ConnectionClosed => "the peer closed the connection",
        NodeDownReason.GracefulShutdown => "the peer said goodbye",
        NodeDownReason.HeartbeatTimeout => "nothing arrived from the peer for the heartbeat window",
        NodeDownReason.Restarted => "a newer incarnation of the peer connected",
        NodeDownReason.LocalShutdown => "this node is stopping",
        _ => reason.ToString(),
    };

    /// <summary>How the connection ended: set once, as one object.</summary>
    private sealed record Ending(NodeDownReason Reason, Exception? Error, string Detail, string Cause);
}
