using System.Diagnostics;

namespace Noex.Lite;

/// <summary>
/// Keeps a <see cref="TurnBatch"/> moving when its runner is stuck in one item: a continuation that blocks (a synchronous
/// wait on another call) or a handler that computes for long. Every <see cref="Period"/> it looks at each runner; one that
/// has been in the same item for longer than <see cref="StuckAfter"/> gets its batch shared with another pool thread and
/// the write loops of the connections it kept to send later woken; a read thread stuck so also hands its connection's
/// reading to a new thread.
/// </summary>
/// <remarks>
/// Without it, the default mode would have the inline mode's hazard: a continuation that blocks until a reply arrives
/// would wait for ever when that reply's completion sits behind it in the same batch, or when the call it made waits in
/// the runner's deferred sends. The thread pool itself notices blocked workers only after half a second; this notices
/// within <see cref="StuckAfter"/> plus a period. The timer runs only while batches run: it stops itself after a second
/// without any, and the next batch starts it again.
/// </remarks>
internal static class RunnerWatchdog
{
    /// <summary>How often the watchdog looks.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromMilliseconds(10);

    /// <summary>How long one item may hold a runner before the rest of its batch moves on without it: far above any
    /// continuation or turn that does not block (microseconds), well below a call's timeout.</summary>
    public static readonly TimeSpan StuckAfter = TimeSpan.FromMilliseconds(20);

    private const int IdleTicksBeforeStop = 100;

    private static readonly List<(Thread Thread, ReadThreadScheduler Runner)> s_runners = [];
    private static readonly Timer s_timer = new(_ => Tick(), null, Timeout.Infinite, Timeout.Infinite);
    private static int s_armed;
    private static int s_active;
    private static int s_idleTicks;

    /// <summary>Watches the calling pool thread's runner from now on (once per thread).</summary>
    public static void Register(ReadThreadScheduler runner)
    {
        lock (s_runners)
        {
            // Pool threads come and go: drop the runners of threads that have ended.
            s_runners.RemoveAll(entry => !entry.Thread.IsAlive);
            s_runners.Add((Thread.CurrentThread, runner));
        }
    }

    /// <summary>Stops watching a read thread that ends.</summary>
    public static void Unregister(ReadThreadScheduler runner)
    {
        lock (s_runners)
        {
            s_runners.RemoveAll(entry => entry.Runner == runner);
        }
    }

    /// <summary>A batch is starting: makes sure the timer runs. A volatile read when it does.</summary>
    public static void NoteActive()
    {
        if (Volatile.Read(ref s_active) == 0)
        {
            // A fenced write, read before s_armed: pairs with the fenced disarm in Tick, which reads s_active after it.
            Interlocked.Exchange(ref s_active, 1);
        }
        if (Volatile.Read(ref s_armed) == 0 && Interlocked.CompareExchange(ref s_armed, 1, 0) == 0)
        {
            s_timer.Change(Period, Period);
        }
    }

    private static void Tick()
    {
        if (Interlocked.Exchange(ref s_active, 0) != 0)
        {
            s_idleTicks = 0;
        }
        else if (++s_idleTicks >= IdleTicksBeforeStop)
        {
            s_idleTicks = 0;
            s_timer.Change(Timeout.Infinite, Timeout.Infinite);
            Interlocked.Exchange(ref s_armed, 0);
            // A batch that started meanwhile saw the timer armed and did not arm it: arm it again for that one.
            if (Volatile.Read(ref s_active) != 0 && Interlocked.CompareExchange(ref s_armed, 1, 0) == 0)
            {
                s_timer.Change(Period, Period);
            }
            return;
        }
        var since = Stopwatch.GetTimestamp() - (long)(StuckAfter.TotalSeconds * Stopwatch.Frequency);
        lock (s_runners)
        {
            foreach (var (_, runner) in s_runners)
            {
                // Once per stuck item: a thread held for good (a loop reading the console) costs the timer nothing more,
                // and the timer stops once nothing else runs.
                if (runner.StuckBatch(since) is { } batch && runner.MarkStuck())
                {
                    batch.TryShare();
                    runner.WakeDeferred();
                    if (runner.TryTakeOver())
                    {
                        // A read thread held by user code: its connection reads on a new thread from here on.
                        runner.Connection!.TakeOverReading();
                    }
                    Volatile.Write(ref s_active, 1);
                }
            }
        }
    }
}
