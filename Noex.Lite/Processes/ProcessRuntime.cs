using System.Diagnostics;
using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Noex.Lite;

/// <summary>Settings of a <see cref="ProcessRuntime"/>.</summary>
public sealed record ProcessRuntimeOptions
{
    /// <summary>The default options.</summary>
    public static ProcessRuntimeOptions Default { get; } = new();

    /// <summary>The node name that local <see cref="ProcessRef"/>s carry. Default <c>"local"</c>.</summary>
    public string Name { get; init; } = "local";

    /// <summary>The clock for call timeouts, init timeouts, timers and restart windows. Default <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider? TimeProvider { get; init; }

    /// <summary>
    /// Messages a process handles per turn before it yields its thread to other processes. Default 100,
    /// between akka's 30 and Proto.Actor's 300: large enough to amortise scheduling, small enough to be fair.
    /// </summary>
    public int Throughput { get; init; } = Mailbox.DefaultThroughput;

    /// <summary>How long disposing the runtime waits for each process to stop before killing it. Default 5000 ms.</summary>
    public TimeSpan ShutdownTimeout { get; init; } = TimeSpan.FromMilliseconds(5000);

    /// <summary>
    /// The mailbox bound of every process started without one of its own (<see cref="StartOptions.MailboxCapacity"/>
    /// 0): the most user messages (calls, casts, infos) its mailbox holds; 0 for unbounded. Default 0, unbounded, as in
    /// OTP.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Unbounded, a mailbox grows as long as its senders outrun it: local senders never wait, so a flood of local casts
    /// to a slow process can take gigabytes. Senders on other nodes are held back by the connection's bounded outbound
    /// queue (<see cref="NodeOptions.MaxOutboundQueueBytes"/>, <see cref="NodeOptions.OverloadPolicy"/>) only while the
    /// reading node cannot keep up with the socket, not when one process cannot keep up with its mailbox.
    /// </para>
    /// <para>
    /// Bounded, a message that finds the mailbox full is never queued, and <see cref="MailboxOverflow"/> says who is
    /// told: with <see cref="Lite.MailboxOverflow.Reject"/> a local call or cast throws <see cref="MailboxFullException"/> and a
    /// call from another node fails with the same exception at its caller (the wire's <c>mailbox_full</c> error); with
    /// <see cref="Lite.MailboxOverflow.DropNewest"/> a cast is dropped and counted as a dead letter (<see cref="ProcessRuntime.DeadLetters"/>)
    /// and a call still fails with <see cref="MailboxFullException"/>, so that no caller waits for its timeout. A cast
    /// from another node that finds the mailbox full is a dead letter on the target's node either way
    /// (<c>DeadLetterReason.MailboxFull</c>); its sender is not told. System messages (stop, exit and down signals) are
    /// never refused.
    /// </para>
    /// </remarks>
    public int MailboxCapacity { get; init; }

    /// <summary>What a full mailbox bounded by <see cref="MailboxCapacity"/> does with one more message. Default
    /// <see cref="Lite.MailboxOverflow.Reject"/>.</summary>
    public MailboxOverflow MailboxOverflow { get; init; }

    internal void Validate()
    {
        if (string.IsNullOrEmpty(Name))
        {
            throw new ArgumentException("ProcessRuntimeOptions.Name must not be empty.", nameof(Name));
        }

        if (Throughput < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Throughput), Throughput, "ProcessRuntimeOptions.Throughput must be at least 1.");
        }

        if (MailboxCapacity < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MailboxCapacity), MailboxCapacity, "ProcessRuntimeOptions.MailboxCapacity must be 0 (unbounded) or more.");
        }
    }
}

/// <summary>How a process is started.</summary>
public sealed record StartOptions
{
    /// <summary>The defaults: no name, 5000 ms init timeout, the runtime's mailbox bound (unbounded unless set there).</summary>
    public static StartOptions Default { get; } = new();

    /// <summary>The <see cref="MailboxCapacity"/> of a process whose mailbox is unbounded whatever the runtime's default.</summary>
    public const int UnboundedMailbox = -1;

    /// <summary>A local name to register the process under (unique in the runtime); null for none. Default null.</summary>
    public string? Name { get; init; }

    /// <summary>How long the start waits for init; after that the process is killed and the start fails. Default 5000 ms.</summary>
    public TimeSpan InitTimeout { get; init; } = TimeSpan.FromMilliseconds(5000);

    /// <summary>
    /// The most user messages (calls, casts, infos) the mailbox holds. Default 0: the runtime's
    /// <see cref="ProcessRuntimeOptions.MailboxCapacity"/> and <see cref="ProcessRuntimeOptions.MailboxOverflow"/> (for a
    /// node's runtime, <see cref="NodeOptions.MailboxCapacity"/>), which are unbounded unless set;
    /// <see cref="UnboundedMailbox"/> for unbounded whatever the runtime's default. What a full mailbox does:
    /// <see cref="ProcessRuntimeOptions.MailboxCapacity"/>.
    /// </summary>
    public int MailboxCapacity { get; init; }

    /// <summary>What a full mailbox does with one more message, when <see cref="MailboxCapacity"/> is positive (otherwise
    /// the runtime's policy applies). Default <see cref="MailboxOverflow.Reject"/>.</summary>
    public MailboxOverflow MailboxOverflow { get; init; }

    /// <summary>Whether exit signals arrive as messages from the start (the server can also change it). Default false.</summary>
    public bool TrapExit { get; init; }

    /// <summary>A process to link the new one to before init runs (OTP start_link); default none.</summary>
    public ProcessRef LinkTo { get; init; }
}

/// <summary>A timer set by <see cref="ProcessRuntime.SendAfter"/>.</summary>
public sealed class TimerRef
{
    private readonly ProcessRuntime _runtime;
    private readonly ProcessRef _target;
    private readonly Value _message;
    private ITimer? _timer;
    private int _done;

    internal TimerRef(ProcessRuntime runtime, ProcessRef target, Value message)
    {
        _runtime = runtime;
        _target = target;
        _message = message;
    }

    /// <summary>Cancels the timer.</summary>
    /// <returns>True if it had not fired yet (the message will not be sent).</returns>
    public bool Cancel()
    {
        // Fire and Cancel race for _done; exactly one wins, so a message is either sent or canceled.
        if (Interlocked.Exchange(ref _done, 1) != 0)
        {
            return false;
        }

        _timer?.Dispose();
        _runtime.ForgetTimer(this);
        return true;
    }

    internal void Start(TimeProvider time, TimeSpan delay)
    {
        ITimer timer = time.CreateTimer(static s => ((TimerRef)s!).Fire(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _timer = timer;
        // Armed only after _timer is assigned, so Fire always finds the timer to dispose.
        timer.Change(delay, Timeout.InfiniteTimeSpan);
    }

    private void Fire()
    {
        // The other side of the race with Cancel (see there).
        if (Interlocked.Exchange(ref _done, 1) != 0)
        {
            return;
        }

        _timer?.Dispose();
        _runtime.ForgetTimer(this);
        _runtime.Send(_target, _message);
    }
}

/// <summary>
/// The local process runtime of one node: the process table, the names, the lifecycle events, the clock
/// and the scheduler. Start several in one process (tests do); dispose one to stop all its processes.
/// </summary>
/// <remarks>
/// Every method is thread-safe. Calls and casts to local processes pass values by reference; nothing is
/// encoded.
/// </remarks>
public sealed class ProcessRuntime : IAsyncDisposable
{
    private static readonly Lazy<ProcessRuntime> s_default = new(() => new ProcessRuntime());

    private readonly ConcurrentDictionary<long, ProcessCell> _processes = new();
    private readonly ConcurrentDictionary<TimerRef, byte> _timers = new();
    private readonly CallWaiterPool _waiters;
    private long _statsWalks;
    private long _nextId;
    private long _nextMonitorId;
    private long _deadLetters;
    private long _retiredMessages;
    private int _disposed;

    /// <summary>Creates a runtime.</summary>
    /// <param name="options">Its settings; null for <see cref="ProcessRuntimeOptions.Default"/>.</param>
    public ProcessRuntime(ProcessRuntimeOptions? options = null)
        : this(options, ThreadPoolMailboxScheduler.Instance)
    {
    }

    internal ProcessRuntime(ProcessRuntimeOptions? options, IMailboxScheduler scheduler)
    {
        Options = options ?? ProcessRuntimeOptions.Default;
        Options.Validate();
        Name = Options.Name;
        TimeProvider = Options.TimeProvider ?? TimeProvider.System;
        Scheduler = scheduler;
        _waiters = new CallWaiterPool(TimeProvider);
        Registry = new Registry(this);
        Events = new LifecycleEvents();
    }

    /// <summary>
    /// The runtime behind the static <see cref="GenServers"/> facade: one named <c>"local"</c>, or the default node's while
    /// the static <c>Cluster</c> facade runs one.
    /// </summary>
    public static ProcessRuntime Default => Volatile.Read(ref s_override) ?? s_default.Value;

    /// <summary>
    /// While set, <see cref="Default"/> is this runtime: the static <c>Cluster</c> facade installs its node's runtime, so
    /// that calls and casts through the <see cref="GenServers"/> facade reach other nodes, without this layer knowing
    /// of nodes.
    /// </summary>
    internal static ProcessRuntime? DefaultOverride
    {
        get => Volatile.Read(ref s_override);
        set => Volatile.Write(ref s_override, value);
    }

    private static ProcessRuntime? s_override;

    /// <summary>The node name in this runtime's refs.</summary>
    public string Name { get; }

    /// <summary>The settings.</summary>
    public ProcessRuntimeOptions Options { get; }

    /// <summary>The clock used for every timeout and timer.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>The local names.</summary>
    public Registry Registry { get; }

    /// <summary>Lifecycle events: started, terminated, restarted, process_down.</summary>
    public LifecycleEvents Events { get; }

    /// <summary>How many running processes there are.</summary>
    public int ProcessCount => _processes.Count;

    /// <summary>Casts and info messages that reached no process (target gone, or dropped by a full mailbox's policy).</summary>
    public long DeadLetters => Interlocked.Read(ref _deadLetters);

    internal IMailboxScheduler Scheduler { get; }

    // ---- start and stop ----------------------------------------------------------------------------

    /// <summary>Starts a process: registers its name, links it if asked, runs init in the process and waits for it.</summary>
    /// <param name="server">A fresh behaviour instance (one instance is one process).</param>
    /// <param name="args">Arguments for init.</param>
    /// <param name="options">Name, init timeout, mailbox bounds, trap-exit, link; null for the defaults.</param>
    /// <param name="cancellationToken">Abandons the start: the process is killed.</param>
    /// <returns>The new process's reference, once init has succeeded.</returns>
    /// <exception cref="AlreadyRegisteredException">The name is taken; init did not run.</exception>
    /// <exception cref="InitTimeoutException">Init took longer than <see cref="StartOptions.InitTimeout"/>.</exception>
    /// <exception cref="InitFailedException">Init threw.</exception>
    public async Task<ProcessRef> StartAsync(GenServer server, Value args = default, StartOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(server);
        options ??= StartOptions.Default;
        ThrowIfDisposed();
        // Ids come from one atomic counter: concurrent starts never share one, and the order of ids is the
        // order of starts, which DisposeAsync relies on.
        var cell = new ProcessCell(this, Interlocked.Increment(ref _nextId), server, options);
        server.Bind(cell);
        // In the table before its name: whoever finds the name can find the process.
        _processes[cell.Ref.Id] = cell;
        try
        {
            if (options.Name is not null)
            {
                Registry.Register(options.Name, cell.Ref);
            }

            if (!options.LinkTo.IsEmpty)
            {
                ProcessCell parent = GetCell(options.LinkTo);
                ProcessCell.Link(cell, parent);
            }
        }
        catch
        {
            cell.Kill(ExitReason.NoProc);
            throw;
        }

        using var initCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var init = new InitSignal(args, initCancellation.Token);
        cell.PostSystem(init);
        try
        {
            await init.Completion.Task.WaitAsync(options.InitTimeout, TimeProvider, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            initCancellation.Cancel();
            cell.Kill(ExitReason.Killed);
            throw new InitTimeoutException(cell.Ref, options.InitTimeout);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            initCancellation.Cancel();
            cell.Kill(ExitReason.Killed);
            throw;
        }

        Events.Publish(new LifecycleEvent(LifecycleEventKind.Started, cell.Ref));
        return cell.Ref;
    }

    /// <summary>Stops a process in order: it finishes the message in hand, runs terminate with <paramref name="reason"/>, then ends.</summary>
    /// <param name="target">The process.</param>
    /// <param name="reason">The exit reason; null for <c>normal</c>.</param>
    /// <param name="cancellationToken">Abandons the wait (the stop still happens).</param>
    /// <exception cref="ServerNotRunningException">The process is not running (<see cref="RemoteServerNotRunningException"/> for a remote one).</exception>
    /// <exception cref="NodeNotReachableException">A remote process's node is not connected, or went down before the process ended.</exception>
    /// <exception cref="RemoteStopTimeoutException">A remote process did not end within 10 s (the stop was still delivered).</exception>
    /// <remarks>A ref of another node is stopped over the cluster when this runtime belongs to a node; the task completes when it has ended.</remarks>
    public async Task StopAsync(ProcessRef target, ExitReason? reason = null, CancellationToken cancellationToken = default)
    {
        if (RemoteStops is { } stops && !IsLocal(target) && !target.IsEmpty)
        {
            await stops.StopAsync(target, reason ?? ExitReason.Normal, cancellationToken).ConfigureAwait(false);
            return;
        }

        ProcessCell cell = GetCell(target);
        if (!cell.PostSystem(new StopSignal(reason ?? ExitReason.Normal)))
        {
            ThrowNotRunning(target, cell);
        }

        await cell.Terminated.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stops a process, killing it if it has not ended within <paramref name="timeout"/> (a supervisor's shutdown).</summary>
    /// <returns>The reason it ended with.</returns>
    internal async Task<ExitReason> ShutdownAsync(ProcessCell cell, ExitReason reason, TimeSpan timeout)
    {
        cell.PostSystem(new StopSignal(reason));
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return await cell.Terminated.ConfigureAwait(false);
        }

        try
        {
            return await cell.Terminated.WaitAsync(timeout, TimeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            cell.Kill(ExitReason.Killed);
            return await cell.Terminated.ConfigureAwait(false);
        }
    }

    /// <summary>Kills a process at once: no terminate, reason <c>killed</c>. A handler in progress is not interrupted but nothing more is delivered.</summary>
    /// <param name="target">The process.</param>
    /// <returns>False if it was not running.</returns>
    public bool Kill(ProcessRef target)
    {
        if (!TryGetCell(target, out ProcessCell? cell))
        {
            return false;
        }

        cell.Kill(ExitReason.Killed);
        return true;
    }

    /// <summary>Sends an exit signal (OTP <c>exit/2</c>): a trapping process gets it as a message; otherwise any reason but normal ends it.</summary>
    /// <param name="target">The process.</param>
    /// <param name="reason">The reason carried by the signal.</param>
    /// <param name="from">The sender to report; empty for none.</param>
    /// <returns>False if the target was not running.</returns>
    public bool Exit(ProcessRef target, ExitReason reason, ProcessRef from = default) =>
        Signals is { } signals && IsRemote(target)
            ? signals.Exit(target, reason, from)
            : TryGetCell(target, out ProcessCell? cell) && cell.PostSystem(new ExitSignal(from, reason));

    /// <summary>Waits until a process has ended and returns its reason.</summary>
    /// <param name="target">The process.</param>
    /// <param name="cancellationToken">Abandons the wait.</param>
    /// <returns>Its exit reason; <c>noproc</c> if it was not running.</returns>
    public Task<ExitReason> WaitForExitAsync(ProcessRef target, CancellationToken cancellationToken = default) =>
        TryGetCell(target, out ProcessCell? cell)
            ? cell.Terminated.WaitAsync(cancellationToken)
            : Task.FromResult(ExitReason.NoProc);

    /// <summary>Whether a process is running in this runtime.</summary>
    /// <param name="target">The process.</param>
    public bool IsAlive(ProcessRef target) => TryGetCell(target, out ProcessCell? cell) && cell.IsAlive;

    // ---- messages ------------------------------------------------------------------------------

    /// <summary>Sends a request and waits for the reply.</summary>
    /// <param name="target">The process.</param>
    /// <param name="request">The request, passed by reference.</param>
    /// <param name="timeout">How long to wait; null for 5000 ms; <see cref="Timeout.InfiniteTimeSpan"/> to wait forever.</param>
    /// <param name="cancellationToken">Abandons the wait (the server may still handle the request).</param>
    /// <returns>The reply.</returns>
    /// <exception cref="ServerNotRunningException">The process is not running, or ended before handling the request.</exception>
    /// <exception cref="CallTimeoutException">No reply within the timeout.</exception>
    /// <exception cref="CallFailedException">The handler threw; the server crashed.</exception>
    /// <exception cref="MailboxFullException">A bounded mailbox with <see cref="MailboxOverflow.Reject"/> is full.</exception>
    /// <exception cref="NodeNotReachableException">A remote process's node is not connected, or went down before it replied.</exception>
    /// <exception cref="NodeOverloadedException">The outbound queue to a remote process's node is full and the node's
    /// <see cref="NodeOptions.OverloadPolicy"/> is <see cref="OverloadPolicy.Reject"/>.</exception>
    /// <exception cref="ValueCodecException">The request to a remote process cannot be encoded.</exception>
    /// <remarks>A ref of another node is called over the cluster when this runtime belongs to a node; a remote call
    /// times out with <see cref="RemoteCallTimeoutException"/> and finds no process with
    /// <see cref="RemoteServerNotRunningException"/>, subclasses of the local ones.</remarks>
    public ValueTask<Value> CallAsync(ProcessRef target, Value request, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        CallCoreAsync(target, request, timeout, cancellationToken, null);

    /// <summary>A call; for a typed one, <paramref name="replyContract"/> is the reply type's contract, which reads a remote
    /// reply straight into that type, and <paramref name="waiter"/> the caller's own waiter, used instead of one of the
    /// pool's (see <see cref="TypedCalls"/> and <see cref="TypedCallWaiter{TReply}"/>).</summary>
    internal ValueTask<Value> CallCoreAsync(ProcessRef target, Value request, TimeSpan? timeout, CancellationToken cancellationToken,
        ValueContract? replyContract = null, CallWaiter? waiter = null)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<Value>(cancellationToken);
        }

        if (!TryGetCell(target, out ProcessCell? cell))
        {
            // Transparent routing: a ref of another node goes over the cluster when this runtime belongs to a node.
            return Router is { } router && !IsLocal(target)
                ? router.CallAsync(target, request, timeout ?? s_defaultCallTimeout, cancellationToken, replyContract, waiter)
                : ValueTask.FromException<Value>(new ServerNotRunningException(target));
        }

        waiter ??= _waiters.Rent();
        long token = waiter.Arm(target, timeout ?? s_defaultCallTimeout, cancellationToken, replyContract: replyContract);
        ValueTask<Value> reply = waiter.Task;
        // A local call keeps the caller's trace: its handler runs in a span under the caller's (only while traced).
        object replyTo = Tracing.Active && Activity.Current is { } caller ? new TraceParent(waiter, caller.Context, remote: false, 0) : waiter;
        PostResult posted = cell.Post(new Envelope(EnvelopeKind.Call, request, replyTo, token));
        if (posted is not (PostResult.Accepted or PostResult.Rejected))
        {
            // Dropped (drop-newest policy) also fails the call: a caller must not wait for its timeout.
            // Not queued: fail the waiter ourselves (the caller still consumes the task, which returns it to the pool).
            waiter.Abandon(token, posted is PostResult.Full or PostResult.Dropped
                ? new MailboxFullException(target, cell.MailboxCapacity)
                : NotRunning(target, cell));
        }

        return reply;
    }

    /// <summary>Calls the process registered as <paramref name="name"/>.</summary>
    /// <param name="name">The local name.</param>
    /// <param name="request">The request.</param>
    /// <param name="timeout">How long to wait; null for 5000 ms.</param>
    /// <param name="cancellationToken">Abandons the wait.</param>
    /// <exception cref="NotRegisteredException">No process has the name.</exception>
    public ValueTask<Value> CallAsync(string name, Value request, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        CallAsync(Registry.Lookup(name), request, timeout, cancellationToken);

    /// <summary>Sends a message without waiting (fire and forget).</summary>
    /// <param name="target">The process.</param>
    /// <param name="message">The message, passed by reference.</param>
    /// <returns>True if queued; false if the process is not running (counted as a dead letter) or a drop-newest
    /// mailbox is full. For a process on another node: true once the message is queued to its node; false when that
    /// node is not connected or the queue to it is full, under either <see cref="NodeOptions.OverloadPolicy"/> (counted
    /// and raised as a dead letter).</returns>
    /// <exception cref="MailboxFullException">A bounded mailbox with <see cref="MailboxOverflow.Reject"/> is full.</exception>
    public bool Cast(ProcessRef target, Value message) =>
        Router is { } router && !IsLocal(target) ? router.Cast(target, message) : Post(target, new Envelope(EnvelopeKind.Cast, message, LocalTrace(), 0));

    /// <summary>What a local cast carries so that its handler keeps the caller's trace: null unless traced.</summary>
    private static TraceParent? LocalTrace() =>
        Tracing.Active && Activity.Current is { } caller ? new TraceParent(null, caller.Context, remote: false, 0) : null;

    /// <summary>
    /// Sends a message without waiting for it to be handled, but with backpressure: where the target's node has a full
    /// outbound queue, the node's <see cref="NodeOptions.OverloadPolicy"/> applies, as for a call. <see cref="Cast(ProcessRef, Value)"/>
    /// never waits and refuses instead. Completes at once (without allocating) while the queue has room.
    /// </summary>
    /// <param name="target">The process.</param>
    /// <param name="message">The message, passed by reference.</param>
    /// <param name="cancellationToken">Abandons the wait for room; the message is then not sent.</param>
    /// <returns>True if queued; false if it cannot be delivered (a local process that is not running, a node that is
    /// not connected or whose connection closed while waiting), which is counted as a dead letter, as for Cast. A local
    /// target behaves as with Cast: its mailbox's own bound applies.</returns>
    /// <exception cref="NodeOverloadedException">The queue is full and the policy is <see cref="OverloadPolicy.Reject"/>
    /// (also counted as a dead letter).</exception>
    /// <exception cref="MailboxFullException">A bounded local mailbox with <see cref="MailboxOverflow.Reject"/> is full.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> ended the wait.</exception>
    public ValueTask<bool> CastAsync(ProcessRef target, Value message, CancellationToken cancellationToken = default) =>
        Router is { } router && !IsLocal(target) ? router.CastAsync(target, message, cancellationToken) : new(Cast(target, message));

    /// <summary>Casts to the process registered as <paramref name="name"/>.</summary>
    /// <param name="name">The local name.</param>
    /// <param name="message">The message.</param>
    /// <returns>True if queued.</returns>
    /// <exception cref="NotRegisteredException">No process has the name.</exception>
    public bool Cast(string name, Value message) => Cast(Registry.Lookup(name), message);

    /// <summary>Sends a plain message to a process's info handler (OTP <c>!</c>).</summary>
    /// <param name="target">The process.</param>
    /// <param name="message">The message.</param>
    /// <returns>True if queued; false if the process is not running.</returns>
    public bool Send(ProcessRef target, Value message) => Post(target, new Envelope(EnvelopeKind.Info, message, null, 0));

    /// <summary>Sends <paramref name="message"/> to the info handler of <paramref name="target"/> after <paramref name="delay"/>.</summary>
    /// <param name="target">The process.</param>
    /// <param name="message">The message.</param>
    /// <param name="delay">The delay, on <see cref="TimeProvider"/>.</param>
    /// <returns>A handle to cancel the timer.</returns>
    public TimerRef SendAfter(ProcessRef target, Value message, TimeSpan delay)
    {
        ThrowIfDisposed();
        var timer = new TimerRef(this, target, message);
        _timers[timer] = 0;
        timer.Start(TimeProvider, delay);
        return timer;
    }

    internal void ForgetTimer(TimerRef timer) => _timers.TryRemove(timer, out _);

    // Atomic because any thread may drop a message; the count is statistics, nothing orders on it.
    internal void CountDeadLetter() => Interlocked.Increment(ref _deadLetters);

    /// <summary>Sends a runtime-internal request (supervisor commands) and waits for its result.</summary>
    internal async Task<object?> RequestAsync(ProcessRef target, InternalRequest request, CancellationToken cancellationToken)
    {
        ProcessCell cell = GetCell(target);
        PostResult posted = cell.Post(new Envelope(EnvelopeKind.Internal, default, request, 0));
        if (posted is not (PostResult.Accepted or PostResult.Rejected))
        {
            // Rejected requests are failed by the mailbox's rejection; the others were never queued.
            ThrowNotRunning(target, cell);
        }

        return await request.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    // ---- monitors and links ----------------------------------------------------------------------

    /// <summary>Makes <paramref name="watcher"/> receive a down message (and raise <c>process_down</c>) when <paramref name="target"/> ends.</summary>
    /// <param name="watcher">The process to tell; must be running.</param>
    /// <param name="target">The process to watch. If it is already gone, the down message (<c>noproc</c>) is sent at once.</param>
    /// <returns>The monitor, for <see cref="Demonitor"/>.</returns>
    /// <exception cref="ServerNotRunningException">The watcher is not running.</exception>
    public MonitorRef Monitor(ProcessRef watcher, ProcessRef target)
    {
        ProcessCell watcherCell = GetCell(watcher);
        // Atomic counter: monitor ids stay unique across concurrent Monitor calls, so Demonitor removes only its own.
        var monitor = new MonitorRef(watcher, target, NextMonitorId());
        if (Signals is { } signals && IsRemote(target))
        {
            // A remote target: the watcher keeps its own record (itself as the target, so teardown and Demonitor find
            // nothing local to undo), which is what lets the down message through exactly once.
            if (!watcherCell.AddOwnMonitor(monitor.Id, watcherCell))
            {
                ThrowNotRunning(watcher, watcherCell);
            }

            signals.Monitor(watcherCell, monitor);
            return monitor;
        }

        if (!TryGetCell(target, out ProcessCell? targetCell))
        {
            if (watcherCell.AddOwnMonitor(monitor.Id, watcherCell))
            {
                watcherCell.PostSystem(new DownSignal(monitor, ExitReason.NoProc));
            }

            return monitor;
        }

        // Recorded at the watcher first, so the down message, whenever it comes, finds the monitor active.
        if (!watcherCell.AddOwnMonitor(monitor.Id, targetCell))
        {
            ThrowNotRunning(watcher, watcherCell);
        }

        if (!targetCell.AddWatcher(monitor.Id, watcherCell))
        {
            // The target ended between the lookup and now: it will not tell us, so we say noproc ourselves.
            watcherCell.PostSystem(new DownSignal(monitor, ExitReason.NoProc));
        }

        return monitor;
    }

    /// <summary>Removes a monitor. After this returns, no down message for it is delivered (idempotent).</summary>
    /// <param name="monitor">The monitor.</param>
    /// <returns>True if it was active.</returns>
    public bool Demonitor(MonitorRef monitor)
    {
        if (!TryGetCell(monitor.Watcher, out ProcessCell? watcher) || !watcher.RemoveOwnMonitor(monitor.Id, out ProcessCell? target))
        {
            return false;
        }

        target?.RemoveWatcher(monitor.Id);
        if (Signals is { } signals && IsRemote(monitor.Target))
        {
            signals.Demonitor(monitor);
        }

        return true;
    }

    /// <summary>Links two processes: when one ends abnormally, the other gets an exit signal. Linking to a dead process sends <c>noproc</c>.</summary>
    /// <param name="a">One process; must be running.</param>
    /// <param name="b">The other.</param>
    /// <exception cref="ServerNotRunningException"><paramref name="a"/> is not running.</exception>
    public void Link(ProcessRef a, ProcessRef b)
    {
        if (Signals is { } signals && (IsRemote(a) || IsRemote(b)))
        {
            // One end on another node (either argument): the local end must be running.
            bool aRemote = IsRemote(a);
            signals.Link(GetCell(aRemote ? b : a), aRemote ? a : b);
            return;
        }

        ProcessCell first = GetCell(a);
        if (!TryGetCell(b, out ProcessCell? second))
        {
            first.PostSystem(new ExitSignal(b, ExitReason.NoProc));
            return;
        }

        ProcessCell.Link(first, second);
    }

    /// <summary>
    /// Links two processes and completes once the link stands on both sides; unlike <see cref="Link"/>, a process that is
    /// gone or a node that cannot be reached is an exception, and then no link is left on either side and no exit signal
    /// follows.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Two local processes are linked at once. When one end is on another node, the call waits for that node's
    /// <c>link_ack</c> (protocol.md §5.5), which says whether the process there was running when the link arrived. It
    /// needs a connection that uses the <c>link_ack</c> capability (protocol.md §4.6); a peer that does not offer it (a
    /// version 1 node, or a build from before the capability) gets nothing sent and the call throws
    /// <see cref="RemoteLinkNotSupportedException"/>: use <see cref="Link"/> there, whose <c>noproc</c> arrives as an exit
    /// signal. Linking a pair that is already linked completes at once (when the link is still waiting for its
    /// acknowledgement, with that acknowledgement). After the call completes the link behaves as one made by
    /// <see cref="Link"/>: exit signals flow both ways, and a connection that closes ends it with <c>noconnection</c>.
    /// </para>
    /// <para>
    /// When the wait ends by timeout or cancellation the link is withdrawn (an <c>unlink</c> follows it), unless a
    /// <see cref="Link"/> of the same pair was made meanwhile, which keeps it. An <see cref="Unlink"/> of the pair while
    /// the call waits completes it: the link was made and then removed, in that order.
    /// </para>
    /// </remarks>
    /// <param name="a">One process; the local end must be running.</param>
    /// <param name="b">The other; either may be on another node, not both.</param>
    /// <param name="timeout">How long to wait for a remote node's acknowledgement; null for 10 s (the seeds' default).</param>
    /// <param name="cancellationToken">Abandons the wait; the link is then withdrawn.</param>
    /// <returns>A task that completes when the link is established on both sides.</returns>
    /// <exception cref="ServerNotRunningException">The local end is not running, or (both local) the other end is not.</exception>
    /// <exception cref="RemoteServerNotRunningException">The remote process does not exist or has ended (<c>noproc</c>).</exception>
    /// <exception cref="NodeNotReachableException">The remote node is not connected, or its connection closed before it acknowledged.</exception>
    /// <exception cref="RemoteLinkTimeoutException">No acknowledgement within <paramref name="timeout"/>; the link was withdrawn.</exception>
    /// <exception cref="RemoteLinkNotSupportedException">The connection to the remote node does not use the <c>link_ack</c> capability.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was canceled; the link was withdrawn.</exception>
    public async Task LinkAsync(ProcessRef a, ProcessRef b, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (Signals is { } signals && (IsRemote(a) || IsRemote(b)))
        {
            bool aRemote = IsRemote(a);
            await signals.LinkAsync(GetCell(aRemote ? b : a), aRemote ? a : b, timeout, cancellationToken).ConfigureAwait(false);
            return;
        }

        ProcessCell first = GetCell(a);
        if (!TryGetCell(b, out ProcessCell? second) || !ProcessCell.TryLink(first, second))
        {
            // Whichever end is gone (a may have ended since GetCell) is the one named.
            throw new ServerNotRunningException(first.IsAlive ? b : a);
        }
    }

    /// <summary>Removes the link between two processes, if any.</summary>
    /// <param name="a">One process.</param>
    /// <param name="b">The other.</param>
    public void Unlink(ProcessRef a, ProcessRef b)
    {
        if (Signals is { } signals && IsRemote(a) != IsRemote(b))
        {
            signals.Unlink(IsRemote(a) ? b : a, IsRemote(a) ? a : b);
            return;
        }

        if (TryGetCell(a, out ProcessCell? first) && TryGetCell(b, out ProcessCell? second))
        {
            ProcessCell.Unlink(first, second);
        }
    }

    // ---- disposal ----------------------------------------------------------------------------

    /// <summary>Stops every process in reverse start order (shutdown, killing after <see cref="ProcessRuntimeOptions.ShutdownTimeout"/>) and cancels all timers.</summary>
    public async ValueTask DisposeAsync()
    {
        // Teardown once, even if DisposeAsync races with itself.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (TimerRef timer in _timers.Keys)
        {
            timer.Cancel();
        }

        // Newest first, so that a supervisor (started before its children) stops after them as in OTP,
        // and its own shutdown finds them gone or stops them itself.
        foreach (ProcessCell cell in _processes.Values.OrderByDescending(c => c.Ref.Id))
        {
            if (cell.IsAlive)
            {
                await ShutdownAsync(cell, ExitReason.Shutdown, Options.ShutdownTimeout).ConfigureAwait(false);
            }
        }

        _waiters.Clear();
    }

    // ---- the process table -----------------------------------------------------------------------

    private static readonly TimeSpan s_defaultCallTimeout = TimeSpan.FromMilliseconds(5000);

    internal bool TryGetCell(ProcessRef target, [NotNullWhen(true)] out ProcessCell? cell)
    {
        if (!ReferenceEquals(target.Node, Name) && !string.Equals(target.Node, Name, StringComparison.Ordinal))
        {
            cell = null;
            return false;
        }

        return _processes.TryGetValue(target.Id, out cell);
    }

    internal ProcessCell GetCell(ProcessRef target)
    {
        if (!TryGetCell(target, out ProcessCell? cell))
        {
            ThrowNotRunning(target, null);
        }

        return cell;
    }

    /// <summary>Routes calls and casts to refs of other nodes; set by the node that owns this runtime.</summary>
    internal IRemoteRouter? Router { get; set; }

    /// <summary>Stops processes of other nodes; set by the node that owns this runtime.</summary>
    internal IRemoteStops? RemoteStops { get; set; }

    /// <summary>Monitors, links and exit signals with an end on another node; set by the node that owns this runtime.</summary>
    internal IRemoteSignals? Signals { get; set; }

    /// <summary>A fresh monitor id, unique in this runtime (the remote monitor layer files monitors under it).</summary>
    internal long NextMonitorId() => Interlocked.Increment(ref _nextMonitorId);

    /// <summary>The pool of call waiters, shared with the remote router so remote calls allocate no waiter either.</summary>
    internal CallWaiterPool Waiters => _waiters;

    /// <summary>Whether <paramref name="target"/> names a process of another node (an empty ref names none).</summary>
    internal bool IsRemote(ProcessRef target) => !target.IsEmpty && !IsLocal(target);

    /// <summary>Whether <paramref name="target"/> names this runtime's node.</summary>
    internal bool IsLocal(ProcessRef target) => ReferenceEquals(target.Node, Name) || string.Equals(target.Node, Name, StringComparison.Ordinal);

    /// <summary>Posts a call whose reply goes to <paramref name="sink"/> (a peer connection) with <paramref name="token"/>.</summary>
    internal PostResult PostCall(long id, Value request, IReplySink sink, long token) =>
        PostCall(_processes.TryGetValue(id, out ProcessCell? cell) ? cell : null, request, sink, token);

    /// <summary>Posts a call from a peer to a cell already looked up (<see cref="FindLocal"/>), or to none.</summary>
    internal static PostResult PostCall(ProcessCell? cell, Value request, IReplySink sink, long token) =>
        cell is not null ? cell.Post(new Envelope(EnvelopeKind.Call, request, sink, token)) : PostResult.Closed;

    /// <summary>The cell of local process <paramref name="id"/>, or null: what a message from a peer is read for (a typed
    /// server's message is read straight into its type) before it is posted.</summary>
    internal ProcessCell? FindLocal(long id) => _processes.TryGetValue(id, out ProcessCell? cell) ? cell : null;

    /// <summary>Posts a cast from a peer, with its trace when it came traced; anything but accepted is a dead letter
    /// (counted here): the process is gone or its mailbox refused it.</summary>
    internal PostResult PostCast(long id, Value message, TraceParent? trace = null) =>
        PostCast(_processes.TryGetValue(id, out ProcessCell? cell) ? cell : null, message, trace);

    /// <summary>Posts a cast from a peer to a cell already looked up (<see cref="FindLocal"/>), or to none.</summary>
    internal PostResult PostCast(ProcessCell? cell, Value message, TraceParent? trace = null)
    {
        PostResult posted = cell is not null ? cell.Post(new Envelope(EnvelopeKind.Cast, message, trace, 0)) : PostResult.Closed;
        if (posted != PostResult.Accepted)
        {
            CountDeadLetter();
        }
        return posted;
    }

    internal void Remove(ProcessCell cell)
    {
        if (_processes.TryRemove(new KeyValuePair<long, ProcessCell>(cell.Ref.Id, cell)))
        {
            // Kept so that the node's message total does not drop when a process ends (the observer's rates).
            Interlocked.Add(ref _retiredMessages, cell.MessagesHandled);
        }
    }

    /// <summary>Messages handled by every process so far, the total of the queued ones now, and the deepest mailbox.</summary>
    /// <summary>How many times <see cref="GetMessageStats"/> has walked the process table (for tests).</summary>
    internal long StatsWalks => Interlocked.Read(ref _statsWalks);

    internal (long Handled, long Queued, int Deepest) GetMessageStats()
    {
        long handled = Interlocked.Read(ref _retiredMessages), queued = 0;
        int deepest = 0;
        Interlocked.Increment(ref _statsWalks);
        // The dictionary's own enumerator: its Values property would take every lock and copy the table (see GetQueueStats).
        foreach (var (_, cell) in _processes)
        {
            handled += cell.MessagesHandled;
            int count = cell.Count;
            queued += count;
            deepest = Math.Max(deepest, count);
        }
        return (handled, queued, deepest);
    }

    /// <summary>
    /// The messages waiting in every mailbox now, and the deepest mailbox, for the node's gauges: one walk of the process
    /// table (about 85 ns a process: each mailbox is a cache miss or two), reading the count each mailbox keeps anyway, so
    /// that no message pays for it.
    /// </summary>
    internal (long Queued, int Deepest) GetQueueStats()
    {
        long queued = 0;
        int deepest = 0;
        // The dictionary's own enumerator takes no lock and copies nothing; its Values property would take every lock
        // and copy the table, stalling process starts for as long.
        foreach (KeyValuePair<long, ProcessCell> entry in _processes)
        {
            int count = entry.Value.Count;
            queued += count;
            deepest = Math.Max(deepest, count);
        }
        return (queued, deepest);
    }

    private bool Post(ProcessRef target, in Envelope envelope)
    {
        if (!TryGetCell(target, out ProcessCell? cell))
        {
            CountDeadLetter();
            return false;
        }

        switch (cell.Post(envelope))
        {
            case PostResult.Accepted:
                return true;
            case PostResult.Full:
                ThrowFull(target, cell.MailboxCapacity);
                return false;
            case PostResult.Dropped:
                CountDeadLetter();
                return false;
            case PostResult.Rejected:
                // Already counted by the mailbox's rejection.
                return false;
            default:
                CountDeadLetter();
                return false;
        }
    }

    private static ServerNotRunningException NotRunning(ProcessRef target, ProcessCell? cell) =>
        cell is not null && cell.Terminated.IsCompletedSuccessfully
            ? new ServerNotRunningException(target, cell.Terminated.Result)
            : new ServerNotRunningException(target);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNotRunning(ProcessRef target, ProcessCell? cell) => throw NotRunning(target, cell);

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowFull(ProcessRef target, int capacity) => throw new MailboxFullException(target, capacity);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
