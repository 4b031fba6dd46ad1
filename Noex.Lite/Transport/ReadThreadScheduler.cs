using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>
/// Run-to-completion on a connection's read thread, for nodes that opt in with
/// <see cref="NodeOptions.UnsafePreferInlineScheduling"/>: what one read sets off runs on the thread that read it. Each
/// read thread owns one; <see cref="Off"/> stands in for it when the option is off, and does nothing.
/// </summary>
/// <remarks>
/// <para>
/// By default every read hands its work to the thread pool: a reply's caller continues there, a process that a call
/// wakes takes its turn there, and the write loop that sends the answers is woken there. Each handoff costs a worker
/// wake-up, and on a small machine the wake-ups, not the work, bound throughput.
/// </para>
/// <para>
/// With the option on, the read thread does it all in order: it completes each reply's caller inline (the caller's code
/// after its <c>await</c> runs right there), gathers the processes the read woke and runs one turn of each after the
/// read (<see cref="Mailboxes"/>, the node's mailbox scheduler), and sends what all that queued itself (every
/// <see cref="FlushEvery"/> messages, and at the end of the read) instead of waking the write loop. The next receive
/// follows. This is Kestrel's <c>UnsafePreferInlineScheduling</c> trade: the fastest path, and user code that blocks (a
/// synchronous wait, a long computation) stalls every message behind it on that connection.
/// </para>
/// <para>
/// Code on other layers reaches the calling thread's scheduler through the static members, and only when the option is
/// on: a connection asks <see cref="TryDeferFlush"/> and <see cref="NoteEnqueued"/> only if it was made inline, and only
/// an inline node's runtime schedules its mailboxes through <see cref="Mailboxes"/>.
/// </para>
/// </remarks>
internal sealed class ReadThreadScheduler
{
    /// <summary>The largest batch the read thread sends itself: a write this small fits the kernel's buffer whenever it
    /// reports room, so the read thread never blocks in a send while its peer may be blocked sending to it.</summary>
    public const int MaxInlineSend = 16 * 1024;

    /// <summary>
    /// Messages queued on the read thread before it sends them without waiting for the end of the read. A read of 100
    /// replies then goes out as two sends, and the peer starts on the first while this side works on the second; with
    /// one send per read the two nodes take turns, and with much smaller batches the sends cost more than they overlap
    /// (figures: Noex.Lite.Bench/README.md).
    /// </summary>
    public const int FlushEvery = 64;

    /// <summary>
    /// How many times an inline read thread yields, looking for bytes, before it blocks in a receive. A blocked thread
    /// whose core then idles takes tens of microseconds to wake on a virtual machine, which is most of a call's round trip
    /// (the default mode's pool workers spin the same way; figures: Noex.Lite.Bench/README.md).
    /// </summary>
    public const int SpinsBeforeBlocking = 100;

    /// <summary>The scheduler of a read thread that hands everything to the thread pool: every member does nothing.</summary>
    public static readonly ReadThreadScheduler Off = new(enabled: false);

    [ThreadStatic]
    private static ReadThreadScheduler? t_current;

    private readonly bool _enabled;
    private readonly List<Mailbox> _turns = new(8);
    private readonly List<Connection> _flushes = new(4);
    private bool _gatherTurns;
    private int _sinceFlush;

    private ReadThreadScheduler(bool enabled) => _enabled = enabled;

    /// <summary>The mailbox scheduler of an inline node's runtime: a turn asked for on an inline read thread runs there
    /// after the read; any other goes to the thread pool.</summary>
    public static IMailboxScheduler Mailboxes { get; } = new DeferringMailboxScheduler();

    /// <summary>A scheduler for one connection's read thread: a real one when <paramref name="inline"/>, else <see cref="Off"/>.</summary>
    public static ReadThreadScheduler For(bool inline) => inline ? new ReadThreadScheduler(enabled: true) : Off;

    /// <summary>Makes this the calling thread's scheduler; the read thread calls it once, before its first read.</summary>
    public void Attach()
    {
        if (_enabled)
        {
            t_current = this;
            _gatherTurns = true;
        }
    }

    /// <summary>The read thread is ending: what it set off since its last read (closing the connection tells the
    /// services, whose notices wake processes) runs as after a read, and the thread is no longer a read thread.</summary>
    public void Detach()
    {
        if (!_enabled)
        {
            return;
        }
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

    /// <summary>Before a blocking receive: yields a while, looking for bytes (see <see cref="SpinsBeforeBlocking"/>).</summary>
    public void BeforeReceive(Socket socket)
    {
        if (!_enabled)
        {
            return;
        }
        for (var spin = 0; spin < SpinsBeforeBlocking && socket.Available == 0; spin++)
        {
            Thread.Yield();
        }
    }

    /// <summary>After a read, even one that broke the protocol: runs the turns it asked for, then sends what they and the
    /// read queued.</summary>
    public void AfterRead()
    {
        if (!_enabled)
        {
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

    /// <summary>Keeps a connection whose queue went from empty to not empty, to send after the read, if the calling
    /// thread is an inline read thread; false when the caller must wake its write loop as usual.</summary>
    public static bool TryDeferFlush(Connection connection)
    {
        if (t_current is not { } current)
        {
            return false;
        }
        current._flushes.Add(connection);
        return true;
    }

    /// <summary>Counts a message queued on the calling thread, if it is an inline read thread, and sends what has
    /// gathered once there is a batch of it.</summary>
    public static void NoteEnqueued()
    {
        if (t_current is { } current && ++current._sinceFlush >= FlushEvery)
        {
            current.Flush();
        }
    }

    private void Flush()
    {
        _sinceFlush = 0;
        for (var i = 0; i < _flushes.Count; i++)
        {
            _flushes[i].FlushFromReadThread();
        }
        _flushes.Clear();
    }

    private sealed class DeferringMailboxScheduler : IMailboxScheduler
    {
        public void Schedule(Mailbox mailbox)
        {
            if (t_current is { _gatherTurns: true } current)
            {
                current._turns.Add(mailbox);
                return;
            }
            ThreadPoolMailboxScheduler.Instance.Schedule(mailbox);
        }
    }
}
