using System.Diagnostics;
using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>
/// What a connection's read sets off, and where it runs. Each read thread owns one; so does each pool thread while it runs
/// a shared <see cref="TurnBatch"/> (a runner).
/// </summary>
/// <remarks>
/// <para>
/// By default (an adaptive read thread) the read gathers the completions of the calls it answered and the turns of the
/// processes it woke into one <see cref="TurnBatch"/>, runs it itself after the read, and sends what that queued once at
/// the end (every <see cref="FlushEvery"/> messages, and at the end): no handoff for cheap work, which is most of it. Work
/// that is not cheap moves away: a batch still running after <see cref="TurnBatch.ShareAfterTicks"/> is shared with the
/// thread pool, and when one item holds the thread for <see cref="RunnerWatchdog.StuckAfter"/> (a continuation that
/// waits synchronously, a handler that computes for long) the <see cref="RunnerWatchdog"/> shares the rest of the batch,
/// sends what the thread kept back, and hands the connection's reading to a new read thread: the stuck one finishes its
/// item and ends. Reading moves only between reads, when the frame reader holds no message in use, so a connection never
/// stalls behind user code, and a continuation that waits for a reply on its own connection gets it.
/// </para>
/// <para>
/// With <see cref="NodeOptions.UnsafePreferInlineScheduling"/> (an inline read thread) completions run during the read
/// and turns after it, with no way out: user code that blocks stalls the connection, and a synchronous wait for a reply
/// on the same connection deadlocks it. Kestrel's <c>UnsafePreferInlineScheduling</c> trade, kept for comparison.
/// </para>
/// <para>
/// Code on other layers reaches the calling thread's scheduler through the static members: a connection asks
/// <see cref="TryDeferFlush"/> and <see cref="NoteEnqueued"/>, the remote call service <see cref="Complete"/>, and the
/// node's runtime schedules its mailboxes through <see cref="Mailboxes"/>; on any other thread they do what they always
/// did (wake the write loop, complete asynchronously, queue the turn on the pool).
/// </para>
/// </remarks>
internal sealed class ReadThreadScheduler
{
    /// <summary>The largest batch a read thread or runner sends itself: a write this small fits the kernel's buffer
    /// whenever it reports room, so the thread never blocks in a send while its peer may be blocked sending to it.</summary>
    public const int MaxInlineSend = 16 * 1024;

    /// <summary>
    /// Messages queued on a read thread or a runner before it sends them without waiting for the end of its work. A read
    /// of 100 replies then goes out as two sends, and the peer starts on the first while this side works on the second;
    /// with one send per read the two nodes take turns, and with much smaller batches the sends cost more than they
    /// overlap (figures: Noex.Lite.Bench/README.md).
    /// </summary>
    public const int FlushEvery = 64;

    /// <summary>
    /// How many times a read thread yields, looking for bytes, before it blocks in a receive. A blocked thread whose core
    /// then idles takes tens of microseconds to wake on a virtual machine, which is most of a call's round trip (figures:
    /// Noex.Lite.Bench/README.md).
    /// </summary>
    public const int SpinsBeforeBlocking = 100;

    /// <summary>
    /// How long a process's turn may go on past its budget on the read thread that woke it, running one read's work
    /// (<see cref="IMailboxScheduler.ContinueTurn"/>). A turn that ended with messages left went to the pool, and the
    /// read thread back to reading: in a flood the reads then outran the process and its backlog grew without bound,
    /// and the backlog's messages, outliving the youngest generation, made the collector copy them (the remote
    /// benchmark's server spent as much again per cast: figures in Noex.Lite.Bench/README.md). Going on holds back the
    /// next read instead, which is backpressure through the socket. A millisecond is far below the watchdog's
    /// <see cref="RunnerWatchdog.StuckAfter"/>, and far above what a read of cheap messages takes to handle.
    /// </summary>
    public static readonly long ContinueTicks = Stopwatch.Frequency / 1_000;

    /// <summary>How long a process whose backlog holds back the reading may go without taking a message before the read
    /// thread reads again: its handler may be blocked waiting for a reply on this very connection. (A handler that awaits
    /// holds back nothing: see <see cref="Mailbox.IsAwaitingHandler"/>.) Well above a time slice, so that a process
    /// preempted on a loaded machine is not taken for a stalled one.</summary>
    public static readonly long StallTicks = Stopwatch.Frequency / 20; // 50 ms

    /// <summary>The longest a read thread holds back its next read for backlogs: the peer's heartbeats wait in the socket
    /// meanwhile, and the connection must not look silent (after three heartbeat intervals by default) because a process
    /// is slow.</summary>
    public static readonly long MaxPauseTicks = Stopwatch.Frequency; // 1 s

    /// <summary>Processes a read thread keeps track of at once as holding back its next read.</summary>
    private const int MaxBacklogged = 4;

    /// <summary>Read threads of the process that may spin before a receive at once: half the cores, at least one.</summary>
    private static readonly int MaxSpinners = Math.Max(1, Environment.ProcessorCount / 2);

    private static int s_spinners;

    /// <summary>Connections one thread keeps to send later; past this many it sends what it has first.</summary>
    private const int MaxDeferred = 16;

    private const int Reading = 0;
    private const int Running = 1;
    private const int Abandoned = 2;

    [ThreadStatic]
    private static ReadThreadScheduler? t_current;

    [ThreadStatic]
    private static ReadThreadScheduler? t_runner;

    private readonly Mode _mode;
    private readonly Connection? _connection;
    private readonly List<Mailbox> _turns = new(8);
    // The connections whose sends wait for the end of this thread's work: an array with a published count, because the
    // watchdog wakes the write loops of a stuck thread's connections from its own thread (stale entries cost a wake).
    private readonly Connection?[] _flushes = new Connection?[MaxDeferred];
    private int _flushCount;
    private TurnBatch? _batch;
    private bool _gatherTurns;
    private int _sinceFlush;
    private long _itemStarted; // when the current item began (a timestamp), 0 between items
    private int _state;        // an adaptive read thread's: Reading, Running (a read's work), or Abandoned (reading moved on)
    private bool _stuck;       // the watchdog found the current item stuck: sends are no longer deferred
    // Processes this read thread fed past the connection's ReadAheadLimit: the next read waits for them.
    private readonly Mailbox?[] _backlogged = new Mailbox?[MaxBacklogged];
    private int _backlogCount;

    private ReadThreadScheduler(Mode mode, Connection? connection)
    {
        _mode = mode;
        _connection = connection;
    }

    private enum Mode
    {
        /// <summary>A read thread that runs what a read sets off after the read, and stops reading when that blocks.</summary>
        Adaptive,
        /// <summary>A read thread that runs what a read sets off itself, come what may.</summary>
        Inline,
        /// <summary>A pool thread running a shared <see cref="TurnBatch"/>: it defers sends to the end of its work.</summary>
        Runner,
    }

    /// <summary>The mailbox scheduler of every node's runtime: a turn asked for on a read thread during a read joins what
    /// that read sets off; any other goes to the thread pool.</summary>
    public static IMailboxScheduler Mailboxes { get; } = new DeferringMailboxScheduler();

    /// <summary>A scheduler for a read thread of <paramref name="connection"/>: inline when <paramref name="inline"/>,
    /// else adaptive.</summary>
    public static ReadThreadScheduler For(bool inline, Connection connection) =>
        new(inline ? Mode.Inline : Mode.Adaptive, connection);

    /// <summary>Makes this the calling thread's scheduler; the read thread calls it once, before its first read.</summary>
    public void Attach()
    {
        t_current = this;
        _gatherTurns = true;
        if (_mode == Mode.Adaptive)
        {
            _batch = TurnBatch.Rent();
            RunnerWatchdog.Register(this);
        }
    }

    /// <summary>The read thread is ending: what it set off since its last read (closing the connection tells the
    /// services, whose notices wake processes) runs as after a read, and the thread is no longer a read thread.</summary>
    public void Detach()
    {
        try
        {
            // No next read to hold back.
            _backlogCount = 0;
            Array.Clear(_backlogged);
            AfterRead();
        }
        finally
        {
            _gatherTurns = false;
            t_current = null;
            RunnerWatchdog.Unregister(this);
        }
    }

    /// <summary>Before a blocking receive: yields a while, looking for bytes (see <see cref="SpinsBeforeBlocking"/>), when
    /// fewer than <see cref="MaxSpinners"/> read threads of the process are doing so already.</summary>
    public static void BeforeReceive(Socket socket)
    {
        // With many connections, every read thread spinning after every read takes the cores the work needs (a 16-node
        // mesh on 2 cores: 13k calls/s with every read thread spinning, 36k with one per process).
        if (Interlocked.Increment(ref s_spinners) <= MaxSpinners)
        {
            for (var spin = 0; spin < SpinsBeforeBlocking && socket.Available == 0; spin++)
            {
                Thread.Yield();
            }
        }
        Interlocked.Decrement(ref s_spinners);
    }

    /// <summary>After a read, even one that broke the protocol: runs what it set off and sends what that and the read
    /// queued.</summary>
    /// <returns>False when the connection's reading moved to a new thread meanwhile (see <see cref="TryTakeOver"/>): this
    /// thread must not touch the connection's socket or reader again.</returns>
    public bool AfterRead()
    {
        _gatherTurns = false;
        var reading = true;
        try
        {
            if (_mode == Mode.Adaptive)
            {
                if (_batch!.Count > 0)
                {
                    Volatile.Write(ref _state, Running);
                    var batch = _batch;
                    try
                    {
                        batch.RunOn(this);
                    }
                    finally
                    {
                        _batch = TurnBatch.Rent();
                        reading = Interlocked.CompareExchange(ref _state, Reading, Running) == Running;
                    }
                }
            }
            else
            {
                // A process that has more than a turn's worth left schedules its next turn on the pool, as usual: the
                // read thread gives each process one turn per read and goes back to reading.
                for (var i = 0; i < _turns.Count; i++)
                {
                    _itemStarted = Stopwatch.GetTimestamp();
                    _turns[i].RunTurn();
                }
                _itemStarted = 0;
            }
        }
        finally
        {
            _turns.Clear();
            _gatherTurns = true;
            // Each connection handles its own send failure, so one peer's reset cannot end another's read loop.
            Flush();
        }
        if (reading && _backlogCount > 0)
        {
            WaitForBacklogs();
        }
        return reading;
    }

    /// <summary>Takes over the processes <paramref name="previous"/> (the connection's read thread before this one, held in
    /// a read's work) fed past the read-ahead limit, to wait for them before this thread's first read.</summary>
    /// <remarks>The previous thread may still post (its item goes on), so its list is read as it stands: an entry
    /// missed or read twice costs a read more or a look more, nothing else.</remarks>
    public void InheritBacklogs(ReadThreadScheduler? previous)
    {
        if (previous is null)
        {
            return;
        }
        var count = Math.Min(Volatile.Read(ref previous._backlogCount), MaxBacklogged);
        for (var i = 0; i < count && _backlogCount < MaxBacklogged; i++)
        {
            if (Volatile.Read(ref previous._backlogged[i]) is { } mailbox)
            {
                _backlogged[_backlogCount++] = mailbox;
            }
        }
    }

    /// <summary>Before the first read of a thread that took the reading over: waits for the backlogs it inherited.</summary>
    public void BeforeFirstRead()
    {
        if (_backlogCount > 0)
        {
            WaitForBacklogs();
        }
    }

    /// <summary>
    /// Holds back the next read until each process this thread fed past the connection's read-ahead limit is down to half
    /// of it, is closed, awaits a handler's task, or has gone <see cref="StallTicks"/> without taking a message; or the
    /// connection closes, or the pause reaches <see cref="MaxPauseTicks"/>.
    /// </summary>
    private void WaitForBacklogs()
    {
        var connection = _connection!;
        var started = Stopwatch.GetTimestamp();
        var resumeAt = connection.ReadAheadLimit / 2;
        var paused = false;
        for (var i = 0; i < _backlogCount; i++)
        {
            var mailbox = _backlogged[i]!;
            _backlogged[i] = null;
            var last = mailbox.Count;
            var progressAt = Stopwatch.GetTimestamp();
            for (var spin = 0; last > resumeAt && !mailbox.IsClosed && !mailbox.IsAwaitingHandler && !connection.IsClosed; spin++)
            {
                // Yield first (the process may be a few microseconds from done), then sleep: the backlog above the
                // resume mark keeps the process busy for longer than a sleep lasts.
                paused = true;
                if (spin < 20)
                {
                    Thread.Yield();
                }
                else
                {
                    Thread.Sleep(1);
                }
                var now = mailbox.Count;
                var at = Stopwatch.GetTimestamp();
                if (now < last)
                {
                    progressAt = at;
                }
                else if (at - progressAt > StallTicks)
                {
                    break;
                }
                if (at - started > MaxPauseTicks)
                {
                    break;
                }
                last = now;
            }
        }
        _backlogCount = 0;
        if (paused)
        {
            Telemetry.ReadAheadPaused(connection, Stopwatch.GetElapsedTime(started));
        }
    }

    /// <summary>For the watchdog: takes the reading role from an adaptive read thread stuck in a read's work, once.</summary>
    /// <returns>True when the caller must start a new read thread for the connection.</returns>
    internal bool TryTakeOver() =>
        _mode == Mode.Adaptive && Interlocked.CompareExchange(ref _state, Abandoned, Running) == Running;

    /// <summary>The connection this read thread reads, for the watchdog; null for a runner.</summary>
    internal Connection? Connection => _connection;

    /// <summary>Completes a call answered by a read: on an adaptive read thread its caller continues after the read, on
    /// an inline one right here, anywhere else asynchronously on the pool.</summary>
    public static void Complete(CallWaiter waiter, long token, Value reply)
    {
        switch (t_current?._mode)
        {
            case Mode.Adaptive:
                t_current._batch!.AddCompletion(waiter, token, reply);
                break;
            case Mode.Inline:
                waiter.TryComplete(token, reply, inline: true);
                break;
            default:
                waiter.TryComplete(token, reply, inline: false);
                break;
        }
    }

    /// <summary>Keeps a connection whose queue went from empty to not empty, to send at the end of the calling thread's
    /// work, if it is a read thread or a runner; false when the caller must wake its write loop as usual.</summary>
    public static bool TryDeferFlush(Connection connection)
    {
        if (t_current is not { } current || Volatile.Read(ref current._stuck) || Volatile.Read(ref current._state) == Abandoned)
        {
            return false;
        }
        if (current._flushCount == MaxDeferred)
        {
            current.Flush();
        }
        current._flushes[current._flushCount] = connection;
        Volatile.Write(ref current._flushCount, current._flushCount + 1);
        return true;
    }

    /// <summary>Counts a message queued on the calling thread, if it defers sends, and sends what has gathered once there
    /// is a batch of it.</summary>
    public static void NoteEnqueued()
    {
        if (t_current is { } current && ++current._sinceFlush >= FlushEvery)
        {
            current.Flush();
        }
    }

    /// <summary>Makes the calling pool thread a runner of <paramref name="batch"/> until <see cref="LeaveRunner"/>.</summary>
    internal static ReadThreadScheduler EnterRunner(TurnBatch batch)
    {
        var runner = t_runner;
        if (runner is null)
        {
            runner = t_runner = new ReadThreadScheduler(Mode.Runner, null);
            RunnerWatchdog.Register(runner);
        }
        runner._batch = batch;
        t_current = runner;
        RunnerWatchdog.NoteActive();
        return runner;
    }

    /// <summary>Ends a runner's work: sends what it queued and gives the thread back to the pool as it was.</summary>
    internal static void LeaveRunner(ReadThreadScheduler runner)
    {
        t_current = null;
        runner._batch = null;
        runner.Flush();
    }

    /// <summary>A thread starts its next item of a batch: the watchdog measures from here.</summary>
    internal void BeginItem()
    {
        Volatile.Write(ref _stuck, false);
        if (Volatile.Read(ref _itemStarted) == 0)
        {
            RunnerWatchdog.NoteActive();
        }
        Volatile.Write(ref _itemStarted, Stopwatch.GetTimestamp());
    }

    /// <summary>A thread has run its last item of a batch.</summary>
    internal void EndItems() => Volatile.Write(ref _itemStarted, 0);

    /// <summary>For the watchdog: the batch of a thread that has been in one item since before <paramref name="since"/>.</summary>
    internal TurnBatch? StuckBatch(long since)
    {
        var started = Volatile.Read(ref _itemStarted);
        return started != 0 && started < since ? Volatile.Read(ref _batch) : null;
    }

    /// <summary>For the watchdog: wakes the write loops of the connections a stuck thread kept to send later, which would
    /// otherwise wait for it (a continuation that blocks on a call it just made must see that call go out).</summary>
    internal void WakeDeferred()
    {
        var count = Volatile.Read(ref _flushCount);
        for (var i = 0; i < count; i++)
        {
            // Taken, so that each is woken once: the thread's own Flush skips what is gone.
            Interlocked.Exchange(ref _flushes[i], null)?.WakeWriter();
        }
    }

    /// <summary>For the watchdog: marks a thread found stuck in its current item; true the first time for that item.
    /// From then on the thread defers no send (user code that goes on there, such as a loop reading the console, sends at
    /// once), so the watchdog need not come back to it.</summary>
    internal bool MarkStuck() => !Interlocked.Exchange(ref _stuck, true);

    private void Flush()
    {
        _sinceFlush = 0;
        var count = _flushCount;
        Volatile.Write(ref _flushCount, 0);
        for (var i = 0; i < count; i++)
        {
            // Null-tolerant: a failed send closes its connection, and what that sets off may defer another send here.
            var connection = _flushes[i];
            _flushes[i] = null;
            connection?.FlushDeferred();
        }
    }

    private sealed class DeferringMailboxScheduler : IMailboxScheduler
    {
        public void Schedule(Mailbox mailbox)
        {
            switch (t_current)
            {
                case { _mode: Mode.Adaptive, _gatherTurns: true } adaptive:
                    adaptive._batch!.AddTurn(mailbox);
                    return;
                case { _mode: Mode.Inline, _gatherTurns: true } inline:
                    inline._turns.Add(mailbox);
                    return;
                default:
                    ThreadPoolMailboxScheduler.Instance.Schedule(mailbox);
                    return;
            }
        }

        /// <summary>A read thread that fed <paramref name="mailbox"/> past its connection's read-ahead limit waits for it
        /// before its next read.</summary>
        public void NotePosted(Mailbox mailbox)
        {
            if (t_current is not { _mode: Mode.Adaptive or Mode.Inline, _connection: { ReadAheadLimit: > 0 } connection } current
                || mailbox.Count <= connection.ReadAheadLimit || mailbox.IsAwaitingHandler)
            {
                return;
            }
            for (var i = 0; i < current._backlogCount; i++)
            {
                if (ReferenceEquals(current._backlogged[i], mailbox))
                {
                    return;
                }
            }
            if (current._backlogCount < MaxBacklogged)
            {
                current._backlogged[current._backlogCount++] = mailbox;
            }
        }

        /// <summary>A turn on a read thread, run as a read's work, goes on while it has run less than
        /// <see cref="ContinueTicks"/> (and, adaptive, while the thread still owns the reading and is not found stuck);
        /// anywhere else it ends at its budget.</summary>
        public bool ContinueTurn(Mailbox mailbox)
        {
            if (t_current is not { _mode: Mode.Adaptive or Mode.Inline } current || current._itemStarted == 0)
            {
                return false;
            }
            if (current._mode == Mode.Adaptive
                && (Volatile.Read(ref current._state) != Running || Volatile.Read(ref current._stuck)))
            {
                return false;
            }
            return Stopwatch.GetTimestamp() - current._itemStarted < ContinueTicks;
        }
    }
}
