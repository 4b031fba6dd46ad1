using System.Diagnostics;
namespace Noex.Lite;

/// <summary>
/// One running process: the mailbox that delivers its messages, the behaviour instance that handles them,
/// and its links, monitors and names.
/// </summary>
/// <remarks>
/// <para>
/// Handlers run only in the mailbox's turns, one at a time. Links, monitors and names can be changed from
/// any thread, so they live under <c>_lock</c>, together with <c>_exited</c>: whoever adds a link, a
/// monitor or a name checks <c>_exited</c> under the same lock that the teardown sets it under, so an
/// addition either lands before the teardown's snapshot (and is notified) or sees the process gone.
/// </para>
/// <para>
/// Teardown runs once. <c>_stopping</c> records that an orderly stop has begun (terminate is running);
/// <c>_finished</c> guards the final teardown, which a kill may also reach, so a stuck terminate cannot
/// keep a kill from ending the process.
/// </para>
/// </remarks>
internal sealed class ProcessCell : Mailbox
{
    private readonly Lock _lock = new();
    private readonly TaskCompletionSource<ExitReason> _terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private List<ProcessCell>? _links;
    private Dictionary<long, ProcessCell>? _watchers;
    private Dictionary<long, ProcessCell>? _ownMonitors;
    private List<string>? _names;
    private List<CallFrom>? _deferred;
    private bool _exited;
    private ExitReason _exitReason;
    private int _stopping;
    private int _finished;
    private volatile bool _trapExit;
    private InitSignal? _init;
    private long _handled;  // written by the process's own turn only

    public ProcessCell(ProcessRuntime runtime, long id, GenServer server, StartOptions options)
        : base(runtime.Scheduler, runtime.Options.Throughput, CapacityOf(runtime, options), OverflowOf(runtime, options))
    {
        Runtime = runtime;
        Ref = new ProcessRef(runtime.Name, id);
        Server = server;
        _trapExit = options.TrapExit;
        MailboxCapacity = CapacityOf(runtime, options);
    }

    /// <summary>The bound a process gets: its own when positive, none for <see cref="StartOptions.UnboundedMailbox"/> (or any
    /// negative), the runtime's default for 0.</summary>
    private static int CapacityOf(ProcessRuntime runtime, StartOptions options) => options.MailboxCapacity switch
    {
        > 0 => options.MailboxCapacity,
        0 => runtime.Options.MailboxCapacity,
        _ => 0,
    };

    /// <summary>The policy goes with the bound: the start's own with its own bound, the runtime's with the runtime's.</summary>
    private static MailboxOverflow OverflowOf(ProcessRuntime runtime, StartOptions options) =>
        options.MailboxCapacity == 0 ? runtime.Options.MailboxOverflow : options.MailboxOverflow;

    public ProcessRuntime Runtime { get; }

    public ProcessRef Ref { get; }

    public GenServer Server { get; }

    public int MailboxCapacity { get; }

    public bool TrapExit
    {
        get => _trapExit;
        set => _trapExit = value;
    }

    /// <summary>Completes with the exit reason once the process is gone (its mailbox closed, links and monitors told).</summary>
    public Task<ExitReason> Terminated => _terminated.Task;

    public bool IsAlive => Volatile.Read(ref _finished) == 0;

    /// <summary>User messages (calls, casts, infos) delivered to the process so far.</summary>
    public long MessagesHandled => Volatile.Read(ref _handled);

    // ---- links, monitors, names (any thread) -------------------------------------------------

    /// <summary>Links two processes both ways, or tells the survivor <c>noproc</c> if the other is gone.</summary>
    public static void Link(ProcessCell a, ProcessCell b) => Link(a, b, tellSurvivor: true);

    /// <summary>
    /// Links two processes both ways if both are still running (ProcessRuntime.LinkAsync): false, with nothing linked and
    /// no <c>noproc</c> posted, when either is gone, so that the caller can throw instead.
    /// </summary>
    public static bool TryLink(ProcessCell a, ProcessCell b) => Link(a, b, tellSurvivor: false);

    private static bool Link(ProcessCell a, ProcessCell b, bool tellSurvivor)
    {
        if (ReferenceEquals(a, b))
        {
            return a.IsAlive;
        }

        // Lock in id order so two Link calls on the same pair cannot deadlock.
        ProcessCell first = a.Ref.Id < b.Ref.Id ? a : b;
        ProcessCell second = ReferenceEquals(first, a) ? b : a;
        bool aGone;
        bool bGone;
        using (first._lock.EnterScope())
        using (second._lock.EnterScope())
        {
            aGone = a._exited;
            bGone = b._exited;
            if (!aGone && !bGone)
            {
                a._links ??= [];
                b._links ??= [];
                if (!a._links.Contains(b))
                {
                    a._links.Add(b);
                    b._links.Add(a);
                }

                return true;
            }
        }

        if (!tellSurvivor)
        {
            return false;
        }

        // Linking to a process that is already gone: the other end gets an exit signal noproc, as in OTP.
        if (aGone && !bGone)
        {
            b.PostSystem(new ExitSignal(a.Ref, ExitReason.NoProc));
        }
        else if (bGone && !aGone)
        {
            a.PostSystem(new ExitSignal(b.Ref, ExitReason.NoProc));
        }

        return false;
    }

    /// <summary>Removes a link both ways; no exit signal will be posted for it afterwards.</summary>
    public static void Unlink(ProcessCell a, ProcessCell b)
    {
        ProcessCell first = a.Ref.Id < b.Ref.Id ? a : b;
        ProcessCell second = ReferenceEquals(first, a) ? b : a;
        using (first._lock.EnterScope())
        using (second._lock.EnterScope())
        {
            a._links?.Remove(b);
            b._links?.Remove(a);
        }
    }

    /// <summary>Adds a monitor whose watcher is this process. Returns false if this process is gone.</summary>
    public bool AddOwnMonitor(long id, ProcessCell target)
    {
        using (_lock.EnterScope())
        {
            if (_exited)
            {
                return false;
            }

            (_ownMonitors ??= []).Add(id, target);
            return true;
        }
    }

    /// <summary>Adds a watcher to this process. Returns false (the caller sends noproc) if this process is gone.</summary>
    public bool AddWatcher(long id, ProcessCell watcher)
    {
        using (_lock.EnterScope())
        {
            if (_exited)
            {
                return false;
            }

            (_watchers ??= []).Add(id, watcher);
            return true;
        }
    }

    public bool RemoveOwnMonitor(long id, out ProcessCell? target)
    {
        using (_lock.EnterScope())
        {
            target = null;
            return _ownMonitors is not null && _ownMonitors.Remove(id, out target);
        }
    }

    public void RemoveWatcher(long id)
    {
        using (_lock.EnterScope())
        {
            _watchers?.Remove(id);
        }
    }

    /// <summary>Records a name under the lock that teardown takes, so it is removed when the process ends.</summary>
    /// <returns>False if the process is gone.</returns>
    public bool TryAddName(string name, Func<bool> claim)
    {
        using (_lock.EnterScope())
        {
            if (_exited)
            {
                return false;
            }

            if (claim())
            {
                (_names ??= []).Add(name);
            }

            return true;
        }
    }

    public void RemoveName(string name)
    {
        using (_lock.EnterScope())
        {
            _names?.Remove(name);
        }
    }

    /// <summary>Remembers a call answered later (no-reply), so the teardown can fail it if it is still waiting.</summary>
    public void TrackDeferred(CallFrom from)
    {
        using (_lock.EnterScope())
        {
            if (_exited)
            {
                from.Fail(new ServerNotRunningException(Ref, _exitReason));
                return;
            }

            _deferred ??= [];
            if (_deferred.Count >= 32)
            {
                // Forget the ones already answered (or timed out), so a server that defers many calls over
                // its life keeps this list as short as its calls in flight.
                _deferred.RemoveAll(static f => !f.IsPending);
            }

            _deferred.Add(from);
        }
    }

    // ---- termination ---------------------------------------------------------------------------

    /// <summary>Kills the process now, from any thread: no terminate callback, reason <c>killed</c>.</summary>
    /// <remarks>A handler still running is not interrupted, but the mailbox is closed and nothing more is delivered.</remarks>
    public void Kill(ExitReason reason) => Finish(reason);

    private async ValueTask StopAsync(ExitReason reason, bool callTerminate)
    {
        // One orderly stop: a second stop signal (or an exit signal) arriving while terminate runs is ignored.
        if (Interlocked.Exchange(ref _stopping, 1) != 0)
        {
            return;
        }

        if (callTerminate)
        {
            try
            {
                await Server.InvokeTerminateAsync(reason).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // OTP would replace the reason with terminate's failure; we keep the reason the process was
                // stopped for, which is what supervisors and monitors need to act on.
            }
        }

        Finish(reason);
    }

    private void Finish(ExitReason reason, Exception? initFailure = null)
    {
        // The one teardown: a kill racing with an orderly stop, or two kills, reach here once.
        if (Interlocked.Exchange(ref _finished, 1) != 0)
        {
            return;
        }

        // A kill that wins here also blocks a later stop signal from running terminate after the fact.
        Volatile.Write(ref _stopping, 1);
        List<ProcessCell>? links;
        Dictionary<long, ProcessCell>? watchers;
        Dictionary<long, ProcessCell>? ownMonitors;
        List<string>? names;
        List<CallFrom>? deferred;
        using (_lock.EnterScope())
        {
            // Under the lock that Link/AddWatcher/TryAddName take: after this, they all see _exited.
            _exited = true;
            _exitReason = reason;
            links = _links;
            watchers = _watchers;
            ownMonitors = _ownMonitors;
            names = _names;
            deferred = _deferred;
            _deferred = null;
            _links = null;
            _watchers = null;
            _ownMonitors = null;
            _names = null;
        }

        // Close after _exitReason is set: rejected calls report it.
        Close();
        if (deferred is not null)
        {
            foreach (CallFrom from in deferred)
            {
                // A no-op for calls already answered: the token no longer matches.
                from.Fail(new ServerNotRunningException(Ref, reason));
            }
        }

        // Names go before the table entry: once the ref no longer resolves, no name points at it either.
        if (names is not null)
        {
            foreach (string name in names)
            {
                Runtime.Registry.RemoveIfOwner(name, Ref);
            }
        }

        Runtime.Remove(this);
        // Remote watchers, links and this process's own monitors on other nodes (after _finished is set: see RemoteMonitor.OnExit).
        Runtime.Signals?.OnExit(this, reason);

        if (ownMonitors is not null)
        {
            foreach ((long id, ProcessCell target) in ownMonitors)
            {
                target.RemoveWatcher(id);
            }
        }

        if (links is not null)
        {
            foreach (ProcessCell linked in links)
            {
                // Remove ourselves from the other side first: only if we were still there (not unlinked
                // meanwhile) does it get the signal.
                bool wasLinked;
                using (linked._lock.EnterScope())
                {
                    wasLinked = linked._links is not null && linked._links.Remove(this);
                }

                if (wasLinked)
                {
                    linked.PostSystem(new ExitSignal(Ref, reason));
                }
            }
        }

        if (watchers is not null)
        {
            foreach ((long id, ProcessCell watcher) in watchers)
            {
                watcher.PostSystem(new DownSignal(new MonitorRef(watcher.Ref, Ref, id), reason));
            }
        }

        // Published before the exit completes: what observers clean up on it (global names) is gone by the time anyone
        // awaiting the exit resumes, as local names are.
        Runtime.Events.Publish(new LifecycleEvent(LifecycleEventKind.Terminated, Ref, reason));

        // Completed outside every lock: continuations run asynchronously anyway. A start still waiting
        // for init (killed mid-init, or init failed) learns why now, after the process is out of the table.
        _terminated.TrySetResult(reason);
        if (Interlocked.Exchange(ref _init, null) is { } init)
        {
            init.Completion.TrySetException(initFailure ?? new ServerNotRunningException(Ref, reason));
        }
    }

    // ---- the mailbox's invoker -------------------------------------------------------------------

    protected override ValueTask InvokeUserAsync(in Envelope envelope)
    {
        // One writer (this turn), so a plain increment published with a release write is enough.
        Volatile.Write(ref _handled, _handled + 1);
        if (envelope.ReplyTo is TraceParent trace && envelope.Kind is EnvelopeKind.Call or EnvelopeKind.Cast)
        {
            return InvokeTraced(envelope, trace);
        }
        ValueTask pending;
        try
        {
            pending = envelope.Kind switch
            {
                EnvelopeKind.Cast => Server.InvokeCastAsync(envelope.Message),
                EnvelopeKind.Call => Server.InvokeCallAsync(envelope.Message, new CallFrom((IReplySink)envelope.ReplyTo!, envelope.Token)),
                EnvelopeKind.Info => Server.InvokeInfoAsync(new InfoMessage(InfoKind.Message, envelope.Message, default, default, default)),
                _ => Server.InvokeInternalAsync((InternalRequest)envelope.ReplyTo!),
            };
        }
        catch (Exception e)
        {
            return CrashAsync(e, envelope.Kind, envelope.ReplyTo, envelope.Token);
        }

        return pending.IsCompletedSuccessfully ? default : AwaitHandlerAsync(pending, envelope.Kind, envelope.ReplyTo, envelope.Token);
    }

    /// <summary>
    /// A call or cast that came traced or timed: its handler runs in a span under the caller's, as the current activity,
    /// which the turn then gives back (this method is not async, so what it sets would outlive it).
    /// </summary>
    private ValueTask InvokeTraced(in Envelope envelope, TraceParent trace)
    {
        var call = envelope.Kind == EnvelopeKind.Call;
        var previous = Activity.Current;
        var activity = trace.StartHandler(Ref, call);
        ValueTask pending;
        try
        {
            pending = call ? Server.InvokeCallAsync(envelope.Message, new CallFrom(trace, envelope.Token)) : Server.InvokeCastAsync(envelope.Message);
        }
        catch (Exception e)
        {
            trace.EndHandler(activity, call, e);
            Activity.Current = previous;
            return CrashAsync(e, envelope.Kind, trace, envelope.Token);
        }
        if (pending.IsCompletedSuccessfully)
        {
            trace.EndHandler(activity, call, null);
            Activity.Current = previous;
            return default;
        }
        var awaiting = AwaitTracedAsync(pending, trace, activity, envelope.Kind, envelope.Token);
        Activity.Current = previous;
        return awaiting;
    }

    private async ValueTask AwaitTracedAsync(ValueTask pending, TraceParent trace, Activity? activity, EnvelopeKind kind, long token)
    {
        try
        {
            await pending.ConfigureAwait(false);
            trace.EndHandler(activity, kind == EnvelopeKind.Call, null);
        }
        catch (Exception e)
        {
            trace.EndHandler(activity, kind == EnvelopeKind.Call, e);
            await CrashAsync(e, kind, trace, token).ConfigureAwait(false);
        }
    }

    protected override ValueTask InvokeSystemAsync(SystemMessage message)
    {
        switch (message)
        {
            case InitSignal init:
                return RunInit(init);
            case StopSignal stop:
                return StopAsync(stop.Reason, callTerminate: true);
            case ExitSignal exit:
                if (_trapExit)
                {
                    return DeliverInfo(new InfoMessage(InfoKind.Exit, default, exit.From, exit.Reason, default));
                }

                // Not trapping: a normal exit is ignored; any other reason ends this process with the same
                // reason, without terminate (OTP semantics for an untrapped exit signal).
                if (exit.Reason.Kind == ExitReasonKind.Normal)
                {
                    return default;
                }

                Finish(exit.Reason);
                return default;
            case DownSignal down:
                // Delivered only if the monitor is still active: a demonitor before this point wins.
                if (!RemoveOwnMonitor(down.Monitor.Id, out _))
                {
                    return default;
                }

                Runtime.Events.Publish(new LifecycleEvent(LifecycleEventKind.ProcessDown, Ref, down.Reason, down.Monitor.Target, down.Monitor));
                return DeliverInfo(new InfoMessage(InfoKind.Down, default, down.Monitor.Target, down.Reason, down.Monitor));
            default:
                return default;
        }
    }

    protected override void OnRejected(in Envelope envelope)
    {
        switch (envelope.Kind)
        {
            case EnvelopeKind.Call:
                ((IReplySink)envelope.ReplyTo!).TryFail(envelope.Token, new ServerNotRunningException(Ref, _exitReason));
                break;
            case EnvelopeKind.Internal:
                ((InternalRequest)envelope.ReplyTo!).Fail(new ServerNotRunningException(Ref, _exitReason));
                break;
            default:
                Runtime.CountDeadLetter();
                break;
        }
    }

    protected override void OnRejectedSystem(SystemMessage message)
    {
        if (message is InitSignal init)
        {
            init.Completion.TrySetException(new ServerNotRunningException(Ref, _exitReason));
        }

        // Stop: the stopper waits on Terminated, which is complete. Exit and down signals to a dead
        // process have nobody left to tell.
    }

    private ValueTask RunInit(InitSignal init)
    {
        // Kept until init succeeds, so that a teardown during init (a kill, an init failure) fails the start.
        Volatile.Write(ref _init, init);
        ValueTask pending;
        try
        {
            pending = Server.InvokeInitAsync(init.Args, init.CancellationToken);
        }
        catch (Exception e)
        {
            FailInit(init, e);
            return default;
        }

        if (pending.IsCompletedSuccessfully)
        {
            CompleteInit(init);
            return default;
        }

        return AwaitInit(pending, init);

        async ValueTask AwaitInit(ValueTask task, InitSignal signal)
        {
            try
            {
                await task.ConfigureAwait(false);
                CompleteInit(signal);
            }
            catch (Exception e)
            {
                FailInit(signal, e);
            }
        }
    }

    private void CompleteInit(InitSignal init)
    {
        // Whoever takes _init answers the start: here success, or Finish if a kill got there first.
        if (Interlocked.CompareExchange(ref _init, null, init) == init)
        {
            init.Completion.TrySetResult();
        }
    }

    private void FailInit(InitSignal init, Exception error)
    {
        // Init failed: the process ends with the error, without terminate (there is no state), as in OTP.
        // Finish answers the start, once the process is out of the table.
        ExitReason reason = ExitReason.Error(error);
        Finish(reason, new InitFailedException(Ref, reason, $"Init of {Ref} ({Server.GetType().Name}) failed: {error.Message}"));
    }

    private ValueTask DeliverInfo(InfoMessage info)
    {
        ValueTask pending;
        try
        {
            pending = Server.InvokeInfoAsync(info);
        }
        catch (Exception e)
        {
            return CrashAsync(e, EnvelopeKind.Info, null, 0);
        }

        return pending.IsCompletedSuccessfully ? default : AwaitHandlerAsync(pending, EnvelopeKind.Info, null, 0);
    }

    private async ValueTask AwaitHandlerAsync(ValueTask pending, EnvelopeKind kind, object? target, long token)
    {
        try
        {
            await pending.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await CrashAsync(e, kind, target, token).ConfigureAwait(false);
        }
    }

    private ValueTask CrashAsync(Exception error, EnvelopeKind kind, object? target, long token)
    {
        // A handler threw: the process crashes with the error (terminate runs), and the call being handled,
        // if any, fails with that error instead of waiting for its timeout.
        ExitReason reason = ExitReason.Error(error);
        if (kind == EnvelopeKind.Call)
        {
            ((IReplySink)target!).TryFail(token, new CallFailedException(Ref, reason));
        }
        else if (kind == EnvelopeKind.Internal)
        {
            ((InternalRequest)target!).Fail(new CallFailedException(Ref, reason));
        }

        return StopAsync(reason, callTerminate: true);
    }
}

/// <summary>Runs init as the first thing in the process's first turn.</summary>
internal sealed class InitSignal(Value args, CancellationToken cancellationToken) : SystemMessage
{
    public Value Args { get; } = args;

    public CancellationToken CancellationToken { get; } = cancellationToken;

    public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>An orderly stop: terminate runs, then the teardown.</summary>
internal sealed class StopSignal(ExitReason reason) : SystemMessage
{
    public ExitReason Reason { get; } = reason;
}

/// <summary>An exit signal from a linked process or from <see cref="ProcessRuntime.Exit"/>.</summary>
internal sealed class ExitSignal(ProcessRef from, ExitReason reason) : SystemMessage
{
    public ProcessRef From { get; } = from;

    public ExitReason Reason { get; } = reason;
}

/// <summary>A monitored process ended.</summary>
internal sealed class DownSignal(MonitorRef monitor, ExitReason reason) : SystemMessage
{
    public MonitorRef Monitor { get; } = monitor;

    public ExitReason Reason { get; } = reason;
}
