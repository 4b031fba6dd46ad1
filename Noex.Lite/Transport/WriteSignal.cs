using System.Threading.Tasks.Sources;

namespace Noex.Lite;

/// <summary>
/// Wakes the single write loop without allocating: an auto-reset signal over ManualResetValueTaskSourceCore.
/// </summary>
/// <remarks>
/// The wake-up goes through the thread pool's global queue (the signal is its own work item), not the waking thread's
/// local queue, where ManualResetValueTaskSourceCore's asynchronous continuations go. A local queue is LIFO for its
/// owner: the write loop would run right after the first sender, ahead of the callers' continuations queued just
/// before it, and send one or two messages per syscall. Queued globally, it runs after the work already queued, so
/// the messages those continuations enqueue ride in the same write: with 100 calls in flight, all of them go out in
/// one write rather than one or two per write (`remote --stats` counts writes per call; figures:
/// Noex.Lite.Bench/README.md).
/// </remarks>
internal sealed class WriteSignal : IValueTaskSource, IThreadPoolWorkItem
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
