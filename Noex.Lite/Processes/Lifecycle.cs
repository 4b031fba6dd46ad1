namespace Noex.Lite;

/// <summary>A monitor: <see cref="Watcher"/> is told (a down message and a <c>process_down</c> event) when <see cref="Target"/> ends.</summary>
/// <param name="Watcher">The process that is told.</param>
/// <param name="Target">The process watched.</param>
/// <param name="Id">The monitor id, unique within the watcher's runtime.</param>
public readonly record struct MonitorRef(ProcessRef Watcher, ProcessRef Target, long Id)
{
    /// <summary>Reads <c>#monitor&lt;id&gt;(watcher→target)</c>.</summary>
    public override string ToString() => $"#monitor{Id}({Watcher}->{Target})";
}

/// <summary>The kinds of lifecycle event.</summary>
public enum LifecycleEventKind : byte
{
    /// <summary><c>started</c>: a process finished init (and its name is registered).</summary>
    Started = 0,
    /// <summary><c>terminated</c>: a process ended; <see cref="LifecycleEvent.Reason"/> says why.</summary>
    Terminated,
    /// <summary><c>restarted</c>: a supervisor restarted a child; <see cref="LifecycleEvent.Process"/> is the new process.</summary>
    Restarted,
    /// <summary><c>process_down</c>: a monitor fired; <see cref="LifecycleEvent.Process"/> is the watcher.</summary>
    ProcessDown,
}

/// <summary>Something that happened to a process.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Process">The process it happened to (for <c>process_down</c>, the watcher).</param>
/// <param name="Reason">For terminated and process_down: the exit reason; otherwise normal.</param>
/// <param name="Other">For process_down: the monitored process; for restarted: the process that was replaced; otherwise empty.</param>
/// <param name="Monitor">For process_down: the monitor that fired.</param>
/// <param name="Attempt">For restarted: how many restarts the supervisor has counted in its window, this one included.</param>
public readonly record struct LifecycleEvent(
    LifecycleEventKind Kind,
    ProcessRef Process,
    ExitReason Reason = default,
    ProcessRef Other = default,
    MonitorRef Monitor = default,
    int Attempt = 0);

/// <summary>The lifecycle event handlers of one runtime.</summary>
/// <remarks>
/// Handlers run synchronously on the thread where the event happens (often a process's turn), so keep
/// them short. An exception from a handler is swallowed: one bad subscriber must not break a process's teardown.
/// Subscribing and publishing are lock-free; the handler list is copy-on-write.
/// </remarks>
public sealed class LifecycleEvents
{
    private Action<LifecycleEvent>[] _handlers = [];

    internal LifecycleEvents()
    {
    }

    /// <summary>Adds a handler.</summary>
    /// <param name="handler">Called for every event.</param>
    /// <returns>Dispose it to unsubscribe.</returns>
    public IDisposable Subscribe(Action<LifecycleEvent> handler)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Update(handler, add: true);
        return new Subscription(this, handler);
    }

    internal void Publish(in LifecycleEvent e)
    {
        Action<LifecycleEvent>[] handlers = Volatile.Read(ref _handlers);
        foreach (Action<LifecycleEvent> handler in handlers)
        {
            try
            {
                handler(e);
            }
            catch (Exception)
            {
                // Swallowed by design (see remarks): a subscriber's bug must not stop the runtime.
            }
        }
    }

    private void Update(Action<LifecycleEvent> handler, bool add)
    {
        while (true)
        {
            Action<LifecycleEvent>[] current = Volatile.Read(ref _handlers);
            Action<LifecycleEvent>[] next;
            if (add)
            {
                next = [.. current, handler];
            }
            else
            {
                int index = Array.IndexOf(current, handler);
                if (index < 0)
                {
                    return;
                }

                next = [.. current.AsSpan(0, index), .. current.AsSpan(index + 1)];
            }

            // Copy-on-write: if another subscriber changed the array since we read it, retry on theirs
            // so neither change is lost.
            if (Interlocked.CompareExchange(ref _handlers, next, current) == current)
            {
                return;
            }
        }
    }

    private sealed class Subscription(LifecycleEvents owner, Action<LifecycleEvent> handler) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            // Unsubscribe once even if Dispose races with itself.
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Update(handler, add: false);
            }
        }
    }
}
