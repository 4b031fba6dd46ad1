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
/// sender takes whatever has accumulated as one sealed batch (<see cref="TakeBatch"/>), swapping in a spare writer so
/// that senders go on while the bytes are on their way. Under load many messages share one frame, one MAC and one
/// syscall; nothing is allocated per message.
/// </para>
/// <para>
/// The queue is segmented: once the active writer holds <see cref="SegmentBytes"/>, the next message starts a new one
/// and the full one waits, frame still open, for the sender, which takes segments oldest first, one per batch. A drained
/// writer goes back to the queue's own spares, so a flood as deep as one before it reuses that flood's writers and
/// allocates nothing; one deeper than any before doubles the writers (up to the bound's worth). (With one writer per
/// batch, grown by doubling its array, a flood a little deeper than any before it rented an array twice as large,
/// megabytes that the shared pool seldom had: 1.5–8 B per cast in the remote benchmark's second cast flood.)
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
    /// <summary>The largest writer buffer the queue keeps once it is empty (a large message may grow one far past it).</summary>
    private const int ShrinkAbove = 1024 * 1024;

    /// <summary>
    /// 64 KiB: a segment is one frame and one send piece of the write loop (<c>Connection.PoolSendPiece</c>) and the
    /// size of a fragment chunk, so that segmenting adds no syscall and at most one MAC per 64 KiB (about 1,600 small
    /// casts), and the peer verifies and delivers a flood 64 KiB at a time rather than after a frame of megabytes.
    /// </summary>
    internal const int SegmentBytes = 64 * 1024;

    /// <summary>A segment takes no new message once this full: room for a small message without growing its buffer.</summary>
    private const int SegmentRollAt = SegmentBytes - 1024;

    /// <summary>Drained writers kept once the queue is idle (<see cref="TrimIdleBuffers"/>): a 1 MiB burst's worth.</summary>
    private const int IdleSpares = ShrinkAbove / SegmentBytes;

    private readonly Lock _lock = new();
    private readonly long _maxQueuedBytes;
    private readonly int _maxQueuedMessages;
    private readonly bool _fragmenting; // a fragment fits a frame (not with a maximum frame length just above 64 KiB)
    private readonly SpillLane _spill = new();
    private readonly byte[] _sendKey;
    private readonly int _maxFrameLength;
    // Full segments waiting for the sender, oldest first; each with its open frame, its counts and its first sequence
    // number. Both collections grow their arrays once to a flood's depth and keep them.
    private readonly Queue<Segment> _full = new();
    private readonly Stack<FrameWriter> _spares = new();
    private FrameWriter _active;
    private FrameWriter? _sending; // the batch in flight, if any
    private ulong _batchStartSeq; // the active writer's first sequence number (frames per batch = NextSeq − this)
    private long _activeBytes;    // what the active writer holds of the counts below
    private int _activeMessages;
    private long _queuedBytes;    // full segments + the active writer + the spill lane
    private int _queuedMessages;
    private bool _heartbeatRequested;
    private bool _rolledSinceTick; // a flood filled a segment since the last TrimIdleBuffers
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
        _sendKey = sendKey;
        _maxFrameLength = options.MaxFrameLength;
        _active = new FrameWriter(sendKey, 0, options.MaxFrameLength);
        _spares.Push(new FrameWriter(sendKey, 0, options.MaxFrameLength));
    }

    /// <summary>The bytes waiting to be sent.</summary>
    public long QueuedBytes => Volatile.Read(ref _queuedBytes);

    /// <summary>The frames in the batch last taken (for the sender's metrics).</summary>
    public ulong BatchFrames { get; private set; }

    /// <summary>The bytes all frame writers hold (capacity, not content): what the outbound side costs in memory.</summary>
    public long WriterCapacity
    {
        get
        {
            lock (_lock)
            {
                long capacity = _active.Capacity + (_sending?.Capacity ?? 0);
                foreach (var segment in _full)
                {
                    capacity += segment.Writer.Capacity;
                }
                foreach (var spare in _spares)
                {
                    capacity += spare.Capacity;
                }
                return capacity;
            }
        }
    }

    /// <summary>The frame writers the queue holds: active, full, in flight and spare (for tests).</summary>
    internal int WriterCount
    {
        get
        {
            lock (_lock)
            {
                return 1 + _full.Count + _spares.Count + (_sending is null ? 0 : 1);
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
            if (_activeMessages > 0 && _active.WrittenCountIncludingOpen >= SegmentRollAt)
            {
                Roll();
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
                    // Too long to go whole, or behind one that is: to the spill lane, in order. A long one is handed
                    // over in the buffer it was encoded into, where a copy cost one more pass over its megabytes.
                    added = Framing.MessageLengthSize + written.Length;
                    if (written.Length > Fragments.ChunkSize)
                    {
                        var buffer = _active.DetachOpenMessage(out var start, out var end);
                        _spill.Adopt(buffer, start, end);
                    }
                    else
                    {
                        _spill.Append(written);
                        _active.CancelMessage();
                    }
                }
                else
                {
                    _active.EndMessage();
                    added = _active.WrittenCountIncludingOpen - before;
                    _activeBytes += added;
                    _activeMessages++;
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
    /// Gives a burst's grown writer buffers back to the pool if the queue is idle now, and the spare writers past a 1 MiB
    /// burst's worth once a whole tick has gone by without a flood. Called once per heartbeat tick: a queue between two
    /// floods keeps its writers (making them again would allocate), one that has gone quiet does not hold a high-water
    /// mark of up to <see cref="NodeOptions.MaxOutboundQueueBytes"/> for the rest of its life.
    /// </summary>
    /// <remarks>The writers stay one tick after a flood because a tick falls between two floods a moment apart as often
    /// as not: trimming then made the second flood allocate its writers again (17 MB, 17 B per cast, in the remote
    /// benchmark), where the single grown buffer of old came back from the shared pool.</remarks>
    public void TrimIdleBuffers()
    {
        lock (_lock)
        {
            var rolled = _rolledSinceTick;
            _rolledSinceTick = false;
            if (_queuedMessages == 0 && !_inFlight && !_heartbeatRequested && !_closed)
            {
                _active.ShrinkIfEmpty(ShrinkAbove);
                while (!rolled && _spares.Count > IdleSpares)
                {
                    _spares.Pop().Dispose();
                }
                foreach (var spare in _spares)
                {
                    spare.ShrinkIfEmpty(ShrinkAbove);
                }
            }
        }
    }

    /// <summary>
    /// Seals the oldest full segment, or else what the active writer holds (plus one chunk of the spill lane, or an empty
    /// heartbeat frame), into one batch to send, and lets senders go on in a spare writer; null when there is nothing to
    /// send, or a batch is still in flight. Follow with <see cref="FinishBatch"/> once it is sent.
    /// </summary>
    /// <param name="more">Set when more waits (full segments, or the spill lane): take another batch without waiting for a
    /// signal.</param>
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
                || (maxBytes != int.MaxValue && (_queuedBytes > maxBytes || !_spill.IsEmpty || _full.Count > 0)))
            {
                return null;
            }
            if (_full.TryDequeue(out var segment))
            {
                // The oldest segment first: its frame, still open, was numbered before every later writer's (Roll).
                batch = segment.Writer;
                batch.Seal();
                BatchFrames = batch.NextSeq - segment.StartSeq;
                _queuedBytes -= segment.Bytes;
                _queuedMessages -= segment.Messages;
                // The active writer, the spill lane or more segments still wait: no signal will come for them.
                more = _queuedMessages > 0;
            }
            else
            {
                // One chunk of the spill lane rides behind whatever control (and earlier data) messages wait: in the
                // active writer only, since a full segment may hold data queued before the spill lane's.
                _spill.TakeChunk(_active);
                // Seal what has accumulated (or an empty heartbeat frame), and let senders go on in a spare writer,
                // which continues the sequence numbers.
                _active.Seal();
                batch = _active;
                BatchFrames = batch.NextSeq - _batchStartSeq;
                _active = SpareWriter();
                _active.ContinueSequenceFrom(batch);
                _batchStartSeq = _active.NextSeq;
                _activeBytes = 0;
                _activeMessages = 0;
                // What is left is in the spill lane; it keeps the sender going without a signal.
                _queuedBytes = _spill.PendingBytes;
                _queuedMessages = _spill.Messages;
                more = _spill.Messages > 0;
            }
            // Any frame does for a heartbeat.
            _heartbeatRequested = false;
            _sending = batch;
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
            if (ReferenceEquals(batch, _sending))
            {
                // Back to the spares, for the next segment or batch: the reuse that keeps a warm queue at 0 B.
                _sending = null;
                _spares.Push(batch);
            }
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
            _sending?.Dispose();
            while (_full.TryDequeue(out var segment))
            {
                segment.Writer.Dispose();
            }
            while (_spares.TryPop(out var spare))
            {
                spare.Dispose();
            }
            _spill.Dispose();
        }
    }

    /// <summary>Sets the full active writer aside, its frame left open for the sender to seal, and goes on in a spare one
    /// numbered after it. Under the lock.</summary>
    private void Roll()
    {
        _rolledSinceTick = true;
        _full.Enqueue(new Segment(_active, _batchStartSeq, _activeBytes, _activeMessages));
        var next = SpareWriter();
        next.ContinueSequenceFrom(_active);
        _active = next;
        _batchStartSeq = next.NextSeq;
        _activeBytes = 0;
        _activeMessages = 0;
    }

    /// <summary>A drained writer; when there is none (a flood deeper than any before it), new ones. Under the lock.</summary>
    private FrameWriter SpareWriter()
    {
        if (_spares.TryPop(out var spare))
        {
            return spare;
        }
        // As many new writers as the queue holds, up to the bound's worth: the writers double, as one growing buffer did,
        // so that a flood up to twice as deep as this one allocates nothing (writer per writer, one added at a time made
        // every flood a little deeper than the last allocate: 0.9 B per cast in the remote benchmark's second flood).
        var held = 1 + _full.Count + (_sending is null ? 0 : 1);
        var bound = (int)Math.Min(int.MaxValue, _maxQueuedBytes / SegmentBytes + 2);
        var added = Math.Max(0, Math.Min(held, bound - held - 1));
        // Room for every writer in both collections now, so that they do not grow (allocate) in the deeper flood either.
        _full.EnsureCapacity(held + added + 1);
        _spares.EnsureCapacity(held + added + 1);
        for (var i = added; i > 0; i--)
        {
            _spares.Push(NewWriter());
        }
        return NewWriter();
    }

    private FrameWriter NewWriter() => new(_sendKey, 0, _maxFrameLength, SegmentBytes);

    /// <summary>A full segment: its writer (frame open), its first sequence number and what it holds of the counts.</summary>
    private readonly record struct Segment(FrameWriter Writer, ulong StartSeq, long Bytes, int Messages);
}
