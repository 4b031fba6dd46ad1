namespace Noex.Lite;

/// <summary>The outcome of <see cref="OutboundQueue.TryEnqueue{TMessage}"/>.</summary>
internal enum EnqueueResult
{
    Queued,
    Full,
    Closed,
}

/// <summary>
/// A connection's bounded outbound queue: messages encoded straight into frames, waiting for the connection's sender.
/// </summary>
/// <remarks>
/// <para>
/// Senders on any thread encode their message straight into the active <see cref="FrameWriter"/> under a short lock; the
/// sender takes whatever has accumulated as one sealed batch (<see cref="TakeBatch"/>), swapping in the spare writer so
/// that senders go on while the bytes are on their way. Under load many messages share one frame, one MAC and one
/// syscall; nothing is allocated per message.
/// </para>
/// <para>
/// The queue is bounded in bytes and messages (<see cref="NodeOptions.MaxOutboundQueueBytes"/>,
/// <see cref="NodeOptions.MaxOutboundQueueMessages"/>): a full queue is reported, never grown. Messages longer than a
/// fragment, and the data messages behind them, wait in the <see cref="SpillLane"/> and go out a chunk per batch.
/// </para>
/// <para>Thread-safe. Waiters are completed outside the lock.</para>
/// </remarks>
internal sealed class OutboundQueue : IDisposable
{
    /// <summary>The largest writer buffer the queue keeps once it is empty (a burst may grow one far past it).</summary>
    private const int ShrinkAbove = 1024 * 1024;

    private readonly Lock _lock = new();
    private readonly long _maxQueuedBytes;
    private readonly int _maxQueuedMessages;
    private readonly bool _fragmenting; // a fragment fits a frame (not with a maximum frame length just above 64 KiB)
    private readonly SpillLane _spill = new();
    private FrameWriter _active;
    private FrameWriter _sending;
    private ulong _batchStartSeq; // the active writer's first sequence number (frames per batch = NextSeq − this)
    private long _queuedBytes;
    private int _queuedMessages;
    private bool _heartbeatRequested;
    private bool _inFlight;       // a batch taken from the queue is still being written to the socket
    private bool _closed;
    private TaskCompletionSource? _spaceWaiter;
    private TaskCompletionSource? _drainWaiter;

    /// <summary>A queue whose frames are signed with <paramref name="sendKey"/>, within the bounds of <paramref name="options"/>.</summary>
    public OutboundQueue(byte[] sendKey, NodeOptions options)
    {
        _maxQueuedBytes = options.MaxOutboundQueueBytes;
        _maxQueuedMessages = options.MaxOutboundQueueMessages;
        _fragmenting = options.MaxFrameLength - Framing.SingleMessageOverhead >= Fragments.HeaderSize + Fragments.ChunkSize;
        _active = new FrameWriter(sendKey, 0, options.MaxFrameLength);
        _sending = new FrameWriter(sendKey, 0, options.MaxFrameLength);
    }

    /// <summary>The bytes waiting to be sent.</summary>
    public long QueuedBytes => Volatile.Read(ref _queuedBytes);

    /// <summary>The frames in the batch last taken (for the sender's metrics).</summary>
    public ulong BatchFrames { get; private set; }

    /// <summary>The bytes both frame writers hold (capacity, not content): what the outbound side costs in memory.</summary>
    public long WriterCapacity
    {
        get
        {
            lock (_lock)
            {
                return (long)_active.Capacity + _sending.Capacity;
            }
        }
    }

    /// <summary>Whether <see cref="Close"/> has been called.</summary>
    public bool IsClosed
    {
        get
        {
            lock (_lock)
            {
                return _closed;
            }
        }
    }

    /// <summary>Encodes a message into the queue, unless it is full or closed.</summary>
    /// <param name="message">The message.</param>
    /// <param name="force">Queue even past the bound: for replies, which the peer's calls in flight already bound and
    /// which must not be lost.</param>
    /// <param name="wake">Set when the queue went from idle to busy: the sender must be woken (later senders ride along).</param>
    /// <exception cref="Exception">Whatever <paramref name="message"/>'s encoder throws; the queue is left as it was.</exception>
    public EnqueueResult TryEnqueue<TMessage>(in TMessage message, bool force, out bool wake)
        where TMessage : struct, IOutboundMessage
    {
        wake = false;
        lock (_lock)
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
                if (_fragmenting && !written.IsEmpty && !Fragments.IsControl(written[0]) && (!_spill.IsEmpty || written.Length > Fragments.ChunkSize))
                {
                    // Too long to go whole, or behind one that is: to the spill lane, in order.
                    _spill.Append(written);
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
            wake = _queuedMessages == 1 && !_heartbeatRequested;
        }
        return EnqueueResult.Queued;
    }

    /// <summary>Waits until the queue has room again, or it closes.</summary>
    public Task WaitForSpaceAsync(CancellationToken cancellationToken) => WaitForSpaceAsync(long.MaxValue, cancellationToken);

    /// <summary>Waits until the queue has room again and holds less than <paramref name="belowBytes"/>, or it closes:
    /// for background senders that leave most of the bound to the rest (a sync of the global registry).</summary>
    /// <remarks>The wait ends when the sender takes a batch, which empties the queue but for the spill lane: a caller
    /// that still finds too much queued waits again.</remarks>
    public Task WaitForSpaceAsync(long belowBytes, CancellationToken cancellationToken)
    {
        Task wait;
        lock (_lock)
        {
            if (_closed || (_queuedBytes < Math.Min(belowBytes, _maxQueuedBytes) && _queuedMessages < _maxQueuedMessages))
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

    /// <summary>Asks for an empty frame (a heartbeat) unless something is about to be sent anyway; true when the sender
    /// must be woken for it.</summary>
    public bool RequestHeartbeat()
    {
        lock (_lock)
        {
            var wake = !_closed && _queuedMessages == 0 && !_heartbeatRequested;
            _heartbeatRequested = true;
            return wake;
        }
    }

    /// <summary>
    /// Gives a burst's grown writer buffers back to the pool if the queue is idle now. Called once per heartbeat tick:
    /// a queue between two floods keeps its buffers (re-growing them would allocate), one that has gone quiet does not
    /// hold a high-water mark of up to <see cref="NodeOptions.MaxOutboundQueueBytes"/> for the rest of its life.
    /// </summary>
    public void TrimIdleBuffers()
    {
        lock (_lock)
        {
            if (_queuedMessages == 0 && !_inFlight && !_heartbeatRequested && !_closed)
            {
                _active.ShrinkIfEmpty(ShrinkAbove);
                _sending.ShrinkIfEmpty(ShrinkAbove);
            }
        }
    }

    /// <summary>
    /// Seals what is queued (plus one chunk of the spill lane, or an empty heartbeat frame) into one batch to send, and
    /// lets senders go on in the spare writer; null when there is nothing to send, or a batch is still in flight.
    /// Follow with <see cref="FinishBatch"/> once it is sent.
    /// </summary>
    /// <param name="more">Set when the spill lane still holds data: take another batch without waiting for a signal.</param>
    /// <param name="maxBytes">Take nothing if more than this is queued, or anything waits in the spill lane (the read
    /// thread's limit); null then too.</param>
    public FrameWriter? TakeBatch(out bool more, int maxBytes = int.MaxValue)
    {
        TaskCompletionSource? waiter;
        FrameWriter batch;
        lock (_lock)
        {
            more = false;
            // One batch at a time: the read thread (inline scheduling) and the write loop both take batches.
            if (_closed || _inFlight || (_queuedMessages == 0 && !_heartbeatRequested)
                || (maxBytes != int.MaxValue && (_queuedBytes > maxBytes || !_spill.IsEmpty)))
            {
                return null;
            }
            // One chunk of the spill lane rides behind whatever control (and earlier data) messages wait.
            _spill.TakeChunk(_active);
            // Seal what has accumulated (or an empty heartbeat frame), and let senders go on in the spare
            // writer, which continues the sequence numbers.
            _active.Seal();
            batch = _active;
            BatchFrames = batch.NextSeq - _batchStartSeq;
            _active = _sending;
            _active.ContinueSequenceFrom(batch);
            _batchStartSeq = _active.NextSeq;
            _sending = batch;
            // What is left is in the spill lane; it keeps the sender going without a signal.
            _queuedBytes = _spill.PendingBytes;
            _queuedMessages = _spill.Messages;
            more = _spill.Messages > 0;
            _heartbeatRequested = false;
            _inFlight = true;
            waiter = _spaceWaiter;
            _spaceWaiter = null;
        }
        waiter?.TrySetResult();
        return batch;
    }

    /// <summary>Clears <paramref name="batch"/> from <see cref="TakeBatch"/> for reuse once it was written; true when
    /// more waits to be sent (a taker that found this batch in flight may have gone back to waiting).</summary>
    public bool FinishBatch(FrameWriter batch)
    {
        TaskCompletionSource? drained = null;
        bool more;
        lock (_lock)
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
        return more;
    }

    /// <summary>Completes once nothing is queued and no batch is still being written, or the queue closed.</summary>
    public Task WhenDrainedAsync()
    {
        lock (_lock)
        {
            // The counters drop to zero when a batch is taken, before its bytes are on the wire, so they alone would
            // report drained too early: a batch in flight counts too.
            return _closed || (!_inFlight && _queuedMessages == 0 && !_heartbeatRequested)
                ? Task.CompletedTask
                : (_drainWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
        }
    }

    /// <summary>Refuses every later message and releases whoever waits for room or for the drain.</summary>
    public void Close()
    {
        TaskCompletionSource? waiter;
        TaskCompletionSource? drain;
        lock (_lock)
        {
            _closed = true;
            waiter = _spaceWaiter;
            _spaceWaiter = null;
            drain = _drainWaiter;
            _drainWaiter = null;
        }
        waiter?.TrySetResult();
        drain?.TrySetResult();
    }

    /// <summary>Returns the buffers to the pool; only once both loops of the connection have ended.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _active.Dispose();
            _sending.Dispose();
            _spill.Dispose();
        }
    }
}
