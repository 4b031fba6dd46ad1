namespace Noex.Lite;

/// <summary>
/// Run-to-completion on a connection's read thread, for nodes that opt in with
/// <see cref="NodeOptions.UnsafePreferInlineScheduling"/>: what one read sets off runs on the thread that read it.
/// </summary>
/// <remarks>
/// <para>
/// By default every read hands its work to the thread pool: a reply's caller continues there, a process that a call
/// wakes takes its turn there, and the write loop that sends the answers is woken there. Each handoff costs a worker
/// wake-up, and on a small machine the wake-ups, not the work, bound throughput.
/// </para>
/// <para>
/// With the option on, the read thread does it all in order: it completes each reply's caller inline (the caller's
/// code after its <c>await</c> runs right there), gathers the processes the read woke and runs one turn of each after
/// the read, and sends what all that queued itself (every <see cref="FlushEvery"/> messages, and at the end of the
/// read) instead of waking the write loop. The next receive follows. This is Kestrel's <c>UnsafePreferInlineScheduling</c> trade: the fastest path, and
/// user code that blocks (a synchronous wait, a long computation) stalls every message behind it on that connection.
/// </para>
/// </remarks>
internal static class InlineScheduling
{
    /// <summary>The largest batch the read thread sends itself: a write this small fits the kernel's buffer whenever it
    /// reports room, so the read thread never blocks in a send while its peer may be blocked sending to it.</summary>
    public const int MaxInlineSend = 16 * 1024;

    /// <summary>
    /// Messages queued on the read thread before it sends them without waiting for the end of the read. A read of 100
    /// replies then goes out as two sends, and the peer starts on the first while this side works on the second: with
    /// one send per read the two nodes took turns (100 calls outstanding ran at 1.26M/s with one send per read, 1.6–1.7M
    /// with 50–64 per send, 0.85M with 10).
    /// </summary>
    public const int FlushEvery = 64;

    /// <summary>
    /// How many times an inline read thread yields, looking for bytes, before it blocks in a receive. A blocked thread
    /// whose core then idles takes tens of microseconds to wake on a virtual machine: without this spin one call at a
    /// time ran at 12k/s, with it at 62k/s (the default mode's pool workers spin the same way).
    /// </summary>
    public const int SpinsBeforeBlocking = 100;

    [ThreadStatic]
    private static bool t_enabled;

    [ThreadStatic]
    private static bool t_gatherTurns;

    [ThreadStatic]
    private static List<Mailbox>? t_turns;

    [ThreadStatic]
    private static List<Connection>? t_flushes;

    [ThreadStatic]
    private static int t_sinceFlush;

    /// <summary>Whether the calling thread is a read thread running inline.</summary>
    public static bool OnThisThread => t_enabled;

    /// <summary>Makes the calling thread (a connection's read thread) run what its reads set off (see remarks).</summary>
    public static void EnableOnThisThread()
    {
        t_enabled = true;
        t_gatherTurns = true;
        t_turns = new List<Mailbox>(8);
        t_flushes = new List<Connection>(4);
    }

    /// <summary>Keeps a turn the read asked for, to run after the read; false when the caller must schedule it as usual.</summary>
    public static bool TryDeferTurn(Mailbox mailbox)
    {
        if (!t_gatherTurns)
        {
            return false;
        }
        t_turns!.Add(mailbox);
        return true;
    }

    /// <summary>Keeps a connection whose queue went from empty to not empty, to send after the read; false when the
    /// caller must wake its write loop as usual.</summary>
    public static bool TryDeferFlush(Connection connection)
    {
        if (!t_enabled)
        {
            return false;
        }
        t_flushes!.Add(connection);
        return true;
    }

    /// <summary>Counts a message queued on this thread, and sends what has gathered once there is a batch of it.</summary>
    public static void NoteEnqueued()
    {
        if (t_enabled && ++t_sinceFlush >= FlushEvery)
        {
            Flush();
        }
    }

    private static void Flush()
    {
        t_sinceFlush = 0;
        var flushes = t_flushes!;
        for (var i = 0; i < flushes.Count; i++)
        {
            flushes[i].FlushFromReadThread();
        }
        flushes.Clear();
    }

    /// <summary>After a read: runs the turns it asked for, then sends what they and the read queued.</summary>
    public static void RunDeferred()
    {
        var turns = t_turns!;
        var flushes = t_flushes!;
        // A process that has more than a turn's worth left schedules its next turn on the pool, as usual: the read
        // thread gives each process one turn per read and goes back to reading.
        t_gatherTurns = false;
        try
        {
            for (var i = 0; i < turns.Count; i++)
            {
                turns[i].RunTurn();
            }
        }
        finally
        {
            turns.Clear();
            t_gatherTurns = true;
            // Each connection handles its own send failure, so one peer's reset cannot end another's read loop.
            Flush();
        }
    }
}
