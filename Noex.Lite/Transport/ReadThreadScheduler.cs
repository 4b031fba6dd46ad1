using System.Diagnostics;
using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>
/// What a connection's read sets off, and where it runs. Each read thread owns one; so does each pool thread while it runs
/// a <see cref="TurnBatch"/> (a runner).
/// </summary>
/// <remarks>
/// <para>
/// By default (a handoff read thread) the read gathers the turns of the processes it woke and the completions of the calls
/// it answered into one <see cref="TurnBatch"/>, and hands that to the thread pool after the read: one handoff per read,
/// not one per message, and no user code on the read thread. The runner that takes the batch runs the turns and the
/// callers' continuations one after another, and the messages they queue go out once, at the end of the batch (every
/// <see cref="FlushEvery"/> messages, and at the end), instead of waking each connection's write loop.
/// </para>
/// <para>
/// With <see cref="NodeOptions.UnsafePreferInlineScheduling"/> the read thread does it all itself: it completes each
/// reply's caller inline (the caller's code after its <c>await</c> runs right there), runs one turn of each process the
/// read woke after the read (<see cref="Mailboxes"/>), and sends what all that queued. The next receive follows. This is
/// Kestrel's <c>UnsafePreferInlineScheduling</c> trade: no handoff at all, and user code that blocks (a synchronous
/// wait, a long computation) stalls every message behind it on that connection.
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
    /// Messages queued on an inline read thread or a runner before it sends them without waiting for the end of its work.
    /// A read of 100 replies then goes out as two sends, and the peer starts on the first while this side works on the
    /// second; with one send per read the two nodes take turns, and with much smaller batches the sends cost more than
    /// they overlap (figures: Noex.Lite.Bench/README.md).
    /// </summary>
    public const int FlushEvery = 64;

    /// <summary>
    /// How many times an inline read thread yields, looking for bytes, before it blocks in a receive. A blocked thread
    /// whose core then idles takes tens of microseconds to wake on a virtual machine, which is most of a call's round trip
    /// (the default mode's pool workers spin the same way; figures: Noex.Lite.Bench/README.md).
    /// </summary>
    public const int SpinsBeforeBlocking = 100;

    /// <summary>Connections one thread keeps to send later; past this many it sends what it has first.</summary>
    private const int MaxDeferred = 16;

    [ThreadStatic]
    private static ReadThreadScheduler? t_current;

    [ThreadStatic]
    private static ReadThreadScheduler? t_runner;

    private readonly Mode _mode;
    private readonly List<Mailbox> _turns = new(8);
    // The connections whose sends wait for the end of this thread's work: an array with a published count, because the
    // watchdog wakes the write loops of a stuck runner's connections from its own thread (stale entries cost a wake).
    private readonly Connection?[] _flushes = new Connection?[MaxDeferred];
    private int _flushCount;
    private TurnBatch? _batch;
    private bool _gatherTurns;
    private int _sinceFlush;
    private long _itemStarted; // a runner's: when its current item began (a timestamp), 0 between batches

    private ReadThreadScheduler(Mode mode) => _mode = mode;

    private enum Mode
    {
        /// <summary>A read thread that hands what a read sets off to the pool in one batch.</summary>
        Handoff,
        /// <summary>A read thread that runs what a read sets off itself.</summary>
        Inline,
        /// <summary>A pool thread running a <see cref="TurnBatch"/>: it defers sends to the end of the batch.</summary>
        Runner,
    }

    /// <summary>The mailbox scheduler of every node's runtime: a turn asked for on a read thread joins what that read
    /// sets off; any other goes to the thread pool.</summary>
    public static IMailboxScheduler Mailboxes { get; } = new DeferringMailboxScheduler();

    /// <summary>A scheduler for one connection's read thread: inline when <paramref name="inline"/>, else handoff.</summary>
    public static ReadThreadScheduler For(bool inline) => new(inline ? Mode.Inline : Mode.Handoff);

    /// <summary>Makes this the calling thread's scheduler; the read thread calls it once, before its first read.</summary>
    public void Attach()
    {
        t_current = this;
        _gatherTurns = true;
        if (_mode == Mode.Handoff)
        {
            _batch = TurnBatch.Rent();
        }
    }

    /// <summary>The read thread is ending: what it set off since its last read (closing the connection tells the
    /// services, which wake processes) runs as after a read, and the thread is no longer a read thread.</summary>
    public void Detach()
    {
        try
        {
            AfterRead();
        }
        finally
        {
            _gatherTurns = false;
            t_current = null;
        }
    }

    /// <summary>Before a blocking receive: an inline read thread yields a while, looking for bytes (see
    /// <see cref="SpinsBeforeBlocking"/>).</summary>
    public void BeforeReceive(Socket socket)
    {
        if (_mode != Mode.Inline)
        {
            return;
        }
        for (var spin = 0; spin < SpinsBeforeBlocking && socket.Available == 0; spin++)
        {
            Thread.Yield();
        }
    }

    /// <summary>After a read, even one that broke the protocol: hands what it set off to the pool, or (inline) runs the
    /// turns it asked for and sends what they and the read queued.</summary>
    public void AfterRead()
    {
        if (_mode == Mode.Handoff)
        {
            if (_batch!.Count > 0)
            {
                _batch.Queue();
                _batch = TurnBatch.Rent();
            }
            return;
        }
        // A process that has more than a turn's worth left schedules its next turn on the pool, as usual: the read
        // thread gives each process one turn per read and goes back to reading.
        _gatherTurns = false;
        try
        {
            for (var i = 0; i < _turns.Count; i++)
            {
                _turns[i].RunTurn();
            }
        }
        finally
        {
            _turns.Clear();
            _gatherTurns = true;
            // Each connection handles its own send failure, so one peer's reset cannot end another's read loop.
            Flush();
        }
    }

    /// <summary>Completes a call answered by a read: on a handoff read thread its caller continues on the batch's
    /// runner, on an inline one right here, anywhere else asynchronously on the pool.</summary>
    public static void Complete(CallWaiter waiter, long token, Value reply)
    {
        switch (t_current?._mode)
        {
            case Mode.Handoff:
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
    /// work, if it is an inline read thread or a runner; false when the caller must wake its write loop as usual.</summary>
    public static bool TryDeferFlush(Connection connection)
    {
        if (t_current is not { _mode: not Mode.Handoff } current)
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
        if (t_current is { _mode: not Mode.Handoff } current && ++current._sinceFlush >= FlushEvery)
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
            runner = t_runner = new ReadThreadScheduler(Mode.Runner);
            RunnerWatchdog.Register(runner);
        }
        runner._batch = batch;
        t_current = runner;
        RunnerWatchdog.NoteActive();
        return runner;
    }

    /// <summary>Ends a runner's batch: sends what it queued and gives the thread back to the pool as it was.</summary>
    internal static void LeaveRunner(ReadThreadScheduler runner)
    {
        t_current = null;
        Volatile.Write(ref runner._itemStarted, 0);
        runner._batch = null;
        runner.Flush();
    }

    /// <summary>A runner starts its next item: the watchdog measures from here.</summary>
    internal void BeginItem() => Volatile.Write(ref _itemStarted, Stopwatch.GetTimestamp());

    /// <summary>For the watchdog: the batch of a runner that has been in one item since before <paramref name="since"/>.</summary>
    internal TurnBatch? StuckBatch(long since)
    {
        var started = Volatile.Read(ref _itemStarted);
        return started != 0 && started < since ? Volatile.Read(ref _batch) : null;
    }

    /// <summary>For the watchdog: wakes the write loops of the connections a stuck runner kept to send later, which would
    /// otherwise wait for it (a continuation that blocks on a call it just made must see that call go out).</summary>
    internal void WakeDeferred()
    {
        var count = Volatile.Read(ref _flushCount);
        for (var i = 0; i < count; i++)
        {
            Volatile.Read(ref _flushes[i])?.WakeWriter();
        }
    }

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
                case { _mode: Mode.Handoff, _gatherTurns: true } handoff:
                    handoff._batch!.AddTurn(mailbox);
                    return;
                case { _mode: Mode.Inline, _gatherTurns: true } inline:
                    inline._turns.Add(mailbox);
                    return;
                default:
                    ThreadPoolMailboxScheduler.Instance.Schedule(mailbox);
                    return;
            }
        }
    }
}
