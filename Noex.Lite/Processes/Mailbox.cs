using System.Diagnostics;

namespace Noex.Lite;

/// <summary>The outcome of posting to a mailbox.</summary>
internal enum PostResult
{
    /// <summary>Queued; it will be delivered.</summary>
    Accepted,
    /// <summary>The mailbox is closed (its process ended); the message was not queued.</summary>
    Closed,
    /// <summary>The message was queued as the mailbox closed; it has been (or is being) handed to <c>OnRejected</c>, which answers for it.</summary>
    Rejected,
    /// <summary>A bounded mailbox with <see cref="MailboxOverflow.Reject"/> is full; the message was not queued.</summary>
    Full,
    /// <summary>A bounded mailbox with <see cref="MailboxOverflow.DropNewest"/> is full; the message was dropped and counted.</summary>
    Dropped,
}

/// <summary>What kind of user message an <see cref="Envelope"/> carries.</summary>
internal enum EnvelopeKind : byte
{
    Cast,
    Call,
    Info,
    Internal,
}

/// <summary>
/// One user message in a mailbox. A struct so that queueing a cast allocates nothing: the payload is a
/// <see cref="Value"/> passed by reference, and a call's reply address is a sink plus the token it knows the call by.
/// </summary>
internal readonly struct Envelope
{
    public readonly EnvelopeKind Kind;
    public readonly Value Message;
    /// <summary>Where the answer goes: for calls, the <see cref="IReplySink"/> that gets the reply; for internal
    /// requests, the request object, which completes itself; otherwise null.</summary>
    public readonly object? ReplyTo;
    /// <summary>For calls: the call's token at its sink: a local waiter's version (so a late reply cannot complete a
    /// reused waiter), or a remote caller's call id.</summary>
    public readonly long Token;

    public Envelope(EnvelopeKind kind, Value message, object? replyTo, long token)
    {
        Kind = kind;
        Message = message;
        ReplyTo = replyTo;
        Token = token;
    }
}

/// <summary>
/// A system message: stop, exit signal, down notification, init. Rare, so each is an object; they are
/// linked into an intrusive lock-free stack (akka's design) and always processed before user messages.
/// </summary>
internal abstract class SystemMessage
{
    /// <summary>The next (older) message while on the stack; the next (newer) one once reversed.</summary>
    internal SystemMessage? Next;
}

/// <summary>
/// Where a mailbox asks to be run. The default queues the mailbox itself on the thread pool (no
/// allocation); tests use a manual scheduler to decide exactly when each turn runs.
/// </summary>
internal interface IMailboxScheduler
{
    /// <summary>Runs <paramref name="mailbox"/>'s <see cref="Mailbox.RunTurn"/> later, on some thread.</summary>
    void Schedule(Mailbox mailbox);

    /// <summary>
    /// Asked by a turn that used up its budget with messages left: true lets it go on with a new budget on the calling
    /// thread, false ends it (and the mailbox is scheduled again). The default ends it: on a shared pool the budget is
    /// what keeps one busy process from holding a thread.
    /// </summary>
    bool ContinueTurn(Mailbox mailbox) => false;

    /// <summary>Told, for one message in <see cref="MailboxQueue{T}.SampleEvery"/> posted to <paramref name="mailbox"/>,
    /// by the thread that posted it, after the post: where the poster can wait for the backlog (a connection's read
    /// thread), it may look at <see cref="Mailbox.Count"/>. The default does nothing.</summary>
    void NotePosted(Mailbox mailbox)
    {
    }
}

/// <summary>The default scheduler: the mailbox is an <see cref="IThreadPoolWorkItem"/> and queues itself.</summary>
internal sealed class ThreadPoolMailboxScheduler : IMailboxScheduler
{
    public static readonly ThreadPoolMailboxScheduler Instance = new();

    // preferLocal: false puts the mailbox on the global queue. A process woken by a cast from another
    // process would otherwise sit behind that worker's local queue; fairness across processes matters
    // more here than cache locality (Kestrel's IOQueue makes the same choice; akka and Orleans differ).
    public void Schedule(Mailbox mailbox) => ThreadPool.UnsafeQueueUserWorkItem(mailbox, preferLocal: false);
}

/// <summary>
/// A multi-producer, single-consumer mailbox that schedules itself on an <see cref="IMailboxScheduler"/>.
/// </summary>
/// <remarks>
/// <para>
/// Thread safety: <see cref="Post"/>, <see cref="PostSystem"/> and <see cref="Close"/> may be called
/// from any thread. The abstract Invoke methods are called by at most one thread at a time: a turn, and
/// the continuation of an async handler, never overlap.
/// </para>
/// <para>
/// The state word <c>_status</c> holds three bits. <c>Scheduled</c> is set by the one poster whose CAS
/// moves it from clear to set; that poster hands the mailbox to the scheduler, everybody else just
/// enqueues. It stays set for the whole turn and while an async handler is pending, and is cleared
/// at the end of a turn, followed by a re-check of both queues. <c>Closed</c> is set once, when the
/// process ends; after that nothing is scheduled and whatever is posted is rejected. <c>Awaiting</c>
/// is set while a handler's task is pending (Scheduled is set too), for whoever watches the backlog.
/// </para>
/// </remarks>
internal abstract class Mailbox : IThreadPoolWorkItem
{
    private const int ScheduledBit = 1;
    private const int ClosedBit = 2;
    private const int AwaitingBit = 4; // a handler's task is pending; its completion schedules the next turn

    /// <summary>Messages per turn when none is configured: akka uses 30, Proto.Actor 300; we sit between.</summary>
    public const int DefaultThroughput = 100;

    /// <summary>
    /// Busy periods in a row (from a message to an empty queue) that must each take under a quarter of the queue's ring
    /// before the ring is halved. Taken counts bound the backlog from above (everything queued in a period is taken in
    /// it), so a halved ring still holds twice the recent peaks; and a mailbox whose bursts fill its ring never shrinks,
    /// so a warm mailbox allocates nothing per message. Sixteen keeps a mailbox whose load comes and goes from
    /// reallocating on every lull.
    /// </summary>
    internal const int LightPeriodsBeforeShrink = 16;

    // Not readonly: a mutable struct, updated in place (see MailboxQueue).
    private MailboxQueue<Envelope> _userQueue;
    private readonly IMailboxScheduler _scheduler;
    private readonly int _throughput;
    private readonly int _capacity;
    private readonly MailboxOverflow _overflow;
    private SystemMessage? _systemHead;
    private int _status;
    private int _count;
    private long _deadLetters;
    private int _periodTaken;   // user messages taken since the queue was last found empty (the turn's thread only)
    private int _lightPeriods;  // light busy periods in a row (the turn's thread only)

    protected Mailbox(IMailboxScheduler scheduler, int throughput, int capacity, MailboxOverflow overflow)
    {
        Debug.Assert(throughput > 0);
        _scheduler = scheduler;
        _throughput = throughput;
        _capacity = capacity;
        _overflow = overflow;
    }

    /// <summary>True once <see cref="Close"/> ran: nothing more will be delivered.</summary>
    public bool IsClosed => (Volatile.Read(ref _status) & ClosedBit) != 0;

    /// <summary>Whether the process waits for a handler's task to complete: its backlog cannot shrink until that task
    /// does, which may need a message still unread (a reply), so nobody should wait for that backlog.</summary>
    public bool IsAwaitingHandler => (Volatile.Read(ref _status) & AwaitingBit) != 0;

    /// <summary>How many user messages were dropped by <see cref="MailboxOverflow.DropNewest"/>.</summary>
    public long DeadLetters => Interlocked.Read(ref _deadLetters);

    /// <summary>User messages queued (exact only for bounded mailboxes; otherwise a snapshot).</summary>
    public int Count => _capacity > 0 ? Volatile.Read(ref _count) : _userQueue.Count;

    /// <summary>The slots the user queue keeps while drained (0 until the first message; for tests and benchmarks).</summary>
    internal int QueueCapacity => _userQueue.Capacity;

    /// <summary>Queues a user message and makes sure a turn will run. Never blocks.</summary>
    public PostResult Post(in Envelope envelope)
    {
        if ((Volatile.Read(ref _status) & ClosedBit) != 0)
        {
            return PostResult.Closed;
        }

        if (_capacity > 0)
        {
            // Reserve a slot first: two producers racing for the last slot both increment, and the one
            // that overshoots gives its reservation back, so the queue never holds more than _capacity.
            if (Interlocked.Increment(ref _count) > _capacity)
            {
                Interlocked.Decrement(ref _count);
                if (_overflow == MailboxOverflow.DropNewest)
                {
                    // Counted, not queued: the sender never sleeps or spins on a full mailbox.
                    Interlocked.Increment(ref _deadLetters);
                    return PostResult.Dropped;
                }

                return PostResult.Full;
            }
        }

        bool sampled = _userQueue.Enqueue(in envelope);
        // MailboxQueue.Enqueue reserves its slot with Interlocked.CompareExchange, a full fence, so the
        // status read in Schedule cannot move ahead of the enqueue. That ordering closes the race with
        // the end of a turn (the turn clears Scheduled with a fenced op, then re-reads the queue) and
        // with Close (which sets Closed with a fenced op, then drains).
        if (!ScheduleOrDrain())
        {
            return PostResult.Rejected;
        }

        if (sampled)
        {
            _scheduler.NotePosted(this);
        }

        return PostResult.Accepted;
    }

    /// <summary>Queues a system message ahead of all user messages and makes sure a turn will run.</summary>
    /// <returns>False if the mailbox is already closed (the message was handed to <see cref="OnRejectedSystem"/>).</returns>
    public bool PostSystem(SystemMessage message)
    {
        SystemMessage? head;
        do
        {
            head = Volatile.Read(ref _systemHead);
            message.Next = head;
            // CAS push onto the intrusive stack: a concurrent push or drain changes the head, so we
            // retry with the new head instead of losing either message.
        }
        while (Interlocked.CompareExchange(ref _systemHead, message, head) != head);

        return ScheduleOrDrain();
    }

    /// <summary>
    /// Marks the mailbox closed and rejects everything still queued. Called once, by the owning turn or
    /// by a forced termination; later posts are rejected by whoever posts them.
    /// </summary>
    public void Close()
    {
        // Fenced set of Closed: a producer that enqueued before this point is seen by DrainClosed below;
        // a producer that enqueues after reads Closed in ScheduleOrDrain and drains its own message.
        Interlocked.Or(ref _status, ClosedBit);
        DrainClosed();
    }

    /// <summary>Runs one turn. Called by the thread pool (through <see cref="IThreadPoolWorkItem"/>) or a test scheduler.</summary>
    public void Execute() => RunTurn();

    /// <summary>
    /// Processes system messages first, then up to the throughput budget of user messages, re-checking
    /// system messages before each one. An incomplete handler ends the turn and keeps the mailbox
    /// Scheduled until it completes, so handlers of one process never interleave.
    /// </summary>
    internal void RunTurn()
    {
        int budget = _throughput;
        int taken = 0;
        while (true)
        {
            if (Volatile.Read(ref _systemHead) is not null)
            {
                if (ProcessSystemMessages() is { } pending)
                {
                    ResumeAfter(pending);
                    return;
                }
            }

            if ((Volatile.Read(ref _status) & ClosedBit) != 0)
            {
                // The process ended during this turn; Close already rejected what was left.
                return;
            }

            if (budget-- == 0)
            {
                if (!_scheduler.ContinueTurn(this))
                {
                    break;
                }
                budget = _throughput - 1;
            }

            if (!_userQueue.TryDequeue(out Envelope envelope))
            {
                OnDrained(taken);
                taken = 0;
                break;
            }

            taken++;

            if (_capacity > 0)
            {
                // Release the slot reserved in Post; pairs with its Increment.
                Interlocked.Decrement(ref _count);
            }

            ValueTask handled = InvokeUserAsync(in envelope);
            if (!handled.IsCompletedSuccessfully)
            {
                _periodTaken += taken;
                ResumeAfter(handled.AsTask());
                return;
            }
        }

        _periodTaken += taken;
        EndTurn();
    }

    /// <summary>
    /// The turn found the queue empty: a busy period ended. After <see cref="LightPeriodsBeforeShrink"/> light periods
    /// in a row, the ring is halved, so a mailbox that once held a backlog gives the room back as it calms down.
    /// </summary>
    private void OnDrained(int taken)
    {
        int period = _periodTaken + taken;
        _periodTaken = 0;
        int capacity = _userQueue.Capacity;
        if (capacity <= MailboxQueue<Envelope>.InitialLength || period >= capacity / 4)
        {
            _lightPeriods = 0;
            return;
        }

        if (++_lightPeriods >= LightPeriodsBeforeShrink)
        {
            _lightPeriods = 0;
            _userQueue.Shrink(capacity / 2);
        }
    }

    /// <summary>Delivers one user message. Must not throw and must not fault: failures are the process's to handle.</summary>
    protected abstract ValueTask InvokeUserAsync(in Envelope envelope);

    /// <summary>Delivers one system message. Must not throw and must not fault.</summary>
    protected abstract ValueTask InvokeSystemAsync(SystemMessage message);

    /// <summary>Takes a user message that will never be delivered (closed mailbox): fail the call, count the cast.</summary>
    protected abstract void OnRejected(in Envelope envelope);

    /// <summary>Takes a system message that will never be delivered (closed mailbox): e.g. answer a monitor with its reason.</summary>
    protected abstract void OnRejectedSystem(SystemMessage message);

    private Task? ProcessSystemMessages()
    {
        while (true)
        {
            // Take the whole stack in one swap: pushers after this point start a new stack, which the
            // loop in RunTurn picks up before the next user message.
            SystemMessage? list = Interlocked.Exchange(ref _systemHead, null);
            if (list is null)
            {
                return null;
            }

            // The stack is newest first; reverse it so system messages are delivered in posting order.
            SystemMessage? fifo = null;
            while (list is not null)
            {
                SystemMessage? next = list.Next;
                list.Next = fifo;
                fifo = list;
                list = next;
            }

            while (fifo is not null)
            {
                SystemMessage current = fifo;
                fifo = current.Next;
                current.Next = null;
                if ((Volatile.Read(ref _status) & ClosedBit) != 0)
                {
                    OnRejectedSystem(current);
                    continue;
                }

                ValueTask handled = InvokeSystemAsync(current);
                if (!handled.IsCompletedSuccessfully)
                {
                    if (fifo is not null)
                    {
                        PushBackInOrder(fifo);
                    }

                    return handled.AsTask();
                }
            }
        }
    }

    /// <summary>Puts not-yet-processed system messages back in front, keeping their order.</summary>
    private void PushBackInOrder(SystemMessage oldest)
    {
        // Reverse back to newest-first and splice the chain under whatever was pushed meanwhile.
        SystemMessage? lifo = null;
        SystemMessage tail = oldest;
        SystemMessage? fifo = oldest;
        while (fifo is not null)
        {
            SystemMessage? next = fifo.Next;
            fifo.Next = lifo;
            lifo = fifo;
            fifo = next;
        }

        SystemMessage? head;
        do
        {
            head = Volatile.Read(ref _systemHead);
            tail.Next = head;
            // Same CAS as PostSystem: messages pushed meanwhile are newer, so they stay on top.
        }
        while (Interlocked.CompareExchange(ref _systemHead, lifo, head) != head);
    }

    private void ResumeAfter(Task pending)
    {
        // The mailbox stays Scheduled while the handler runs, so no poster can start a second turn.
        // When it completes, the next turn goes back through the scheduler (not inline on whatever
        // thread completed the task); the status word only says meanwhile that a handler is pending.
        Interlocked.Or(ref _status, AwaitingBit);
        pending.ContinueWith(
            static (_, state) =>
            {
                var mailbox = (Mailbox)state!;
                Interlocked.And(ref mailbox._status, ~AwaitingBit);
                mailbox._scheduler.Schedule(mailbox);
            },
            this,
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    private void EndTurn()
    {
        // Fenced clear of Scheduled. A poster that enqueued before this saw Scheduled and left the work
        // to us, so we must look at the queues again after clearing; a poster that enqueues after it
        // sees the bit clear and schedules by itself. Whoever wins the CAS in ScheduleOrDrain runs next.
        int status = Interlocked.And(ref _status, ~ScheduledBit);
        if ((status & ClosedBit) != 0)
        {
            return;
        }

        if (Volatile.Read(ref _systemHead) is not null || !_userQueue.IsEmpty)
        {
            ScheduleOrDrain();
        }
    }

    /// <summary>Sets Scheduled and hands the mailbox to the scheduler if nobody else has; drains if closed.</summary>
    /// <returns>False when the mailbox is closed.</returns>
    private bool ScheduleOrDrain()
    {
        int status = Volatile.Read(ref _status);
        while (true)
        {
            if ((status & ClosedBit) != 0)
            {
                DrainClosed();
                return false;
            }

            if ((status & ScheduledBit) != 0)
            {
                // A turn is queued or running and will see our message (it re-checks before going idle).
                return true;
            }

            // Only one poster wins the Idle→Scheduled transition; that one queues the mailbox, so it is
            // on the scheduler at most once. A loser re-reads and finds Scheduled (or Closed).
            int seen = Interlocked.CompareExchange(ref _status, status | ScheduledBit, status);
            if (seen == status)
            {
                _scheduler.Schedule(this);
                return true;
            }

            status = seen;
        }
    }

    private void DrainClosed()
    {
        // MailboxQueue is safe for several consumers, so any number of threads may drain at once;
        // each message is taken by exactly one of them.
        while (_userQueue.TryDequeue(out Envelope envelope))
        {
            if (_capacity > 0)
            {
                Interlocked.Decrement(ref _count);
            }

            OnRejected(in envelope);
        }

        SystemMessage? list = Interlocked.Exchange(ref _systemHead, null);
        while (list is not null)
        {
            SystemMessage? next = list.Next;
            list.Next = null;
            OnRejectedSystem(list);
            list = next;
        }
    }
}
