using System.Globalization;

namespace Noex.Lite;

/// <summary>The address of a process: the node that hosts it and its id there. Cheap to copy and compare.</summary>
/// <remarks>
/// <see cref="Node"/> is the name of the <see cref="ProcessRuntime"/> that started the process. A node's runtime
/// bears the node's id (<c>name@host:port</c>), so a ref says which node hosts its process, and a runtime that
/// belongs to a node sends calls, casts, stops, monitors, links and exit signals for another node's refs over the
/// cluster. Ids are a per-runtime counter, formatted only when printed.
/// </remarks>
/// <param name="Node">The name of the node (runtime) hosting the process.</param>
/// <param name="Id">The process id, unique within that node.</param>
public readonly record struct ProcessRef(string Node, long Id)
{
    /// <summary>True for <c>default(ProcessRef)</c>, which addresses nothing.</summary>
    public bool IsEmpty => Node is null;

    /// <summary>Reads <c>&lt;node&gt;.&lt;id&gt;</c>, e.g. <c>local.42</c>.</summary>
    public override string ToString() =>
        IsEmpty ? "<none>" : string.Create(CultureInfo.InvariantCulture, $"{Node}.{Id}");
}

/// <summary>Where to send the reply to a call. Keep it to reply later, after returning <see cref="CallResult{TState}.NoReply"/>.</summary>
/// <remarks>
/// Replying twice, or after the caller timed out, does nothing: the reply address carries a version
/// token that a stale reply cannot match.
/// </remarks>
public readonly struct CallFrom
{
    private readonly IReplySink? _sink;
    private readonly long _token;

    internal CallFrom(IReplySink sink, long token)
    {
        _sink = sink;
        _token = token;
    }

    /// <summary>Sends the reply.</summary>
    /// <param name="reply">The reply value.</param>
    /// <returns>True if the caller was still waiting; false if it had timed out, was canceled or was already answered.</returns>
    public bool Reply(Value reply) => _sink is not null && _sink.TryComplete(_token, reply);

    internal bool Fail(Exception error) => _sink is not null && _sink.TryFail(_token, error);

    internal bool IsPending => _sink is not null && _sink.IsPending(_token);
}

/// <summary>What a call handler returns: a reply and the new state, or no reply yet and the new state.</summary>
/// <typeparam name="TState">The server's state type.</typeparam>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1000:Do not declare static members on generic types",
    Justification = "A handler of GenServer<TState> names its result type once: CallResult<TState>.WithReply(reply, state).")]
public readonly struct CallResult<TState>
{
    private CallResult(bool hasReply, Value reply, TState state)
    {
        HasReply = hasReply;
        Reply = reply;
        State = state;
    }

    /// <summary>True when <see cref="Reply"/> is sent now; false when the handler will answer later through its <see cref="CallFrom"/>.</summary>
    public bool HasReply { get; }

    /// <summary>The reply, when <see cref="HasReply"/>.</summary>
    public Value Reply { get; }

    /// <summary>The server's new state.</summary>
    public TState State { get; }

    /// <summary>Answers now.</summary>
    /// <param name="reply">The reply value.</param>
    /// <param name="state">The new state.</param>
    public static CallResult<TState> WithReply(Value reply, TState state) => new(true, reply, state);

    /// <summary>Defers the answer: reply later with <see cref="CallFrom.Reply"/>; the caller's timeout still applies.</summary>
    /// <param name="state">The new state.</param>
    public static CallResult<TState> NoReply(TState state) => new(false, default, state);
}

/// <summary>What kind of message <see cref="GenServer{TState}.HandleInfoAsync"/> received.</summary>
public enum InfoKind : byte
{
    /// <summary>A plain message: a timer from <see cref="ProcessRuntime.SendAfter"/> or <see cref="ProcessRuntime.Send"/>.</summary>
    Message = 0,
    /// <summary>An exit signal from a linked process (delivered only while trapping exits).</summary>
    Exit,
    /// <summary>A monitored process ended (or did not exist: <c>noproc</c>).</summary>
    Down,
}

/// <summary>A message for <see cref="GenServer{TState}.HandleInfoAsync"/>: a plain value, an exit signal or a down notification.</summary>
public readonly struct InfoMessage
{
    internal InfoMessage(InfoKind kind, Value message, ProcessRef from, ExitReason reason, MonitorRef monitor)
    {
        Kind = kind;
        Message = message;
        From = from;
        Reason = reason;
        Monitor = monitor;
    }

    /// <summary>Which kind of message this is.</summary>
    public InfoKind Kind { get; }

    /// <summary>For <see cref="InfoKind.Message"/>: the value sent.</summary>
    public Value Message { get; }

    /// <summary>For exit and down: the process that ended.</summary>
    public ProcessRef From { get; }

    /// <summary>For exit and down: why it ended.</summary>
    public ExitReason Reason { get; }

    /// <summary>For down: the monitor that fired.</summary>
    public MonitorRef Monitor { get; }

    /// <summary>A readable form, e.g. <c>EXIT from local.3: shutdown</c>.</summary>
    public override string ToString() => Kind switch
    {
        InfoKind.Exit => $"EXIT from {From}: {Reason}",
        InfoKind.Down => $"DOWN {From}: {Reason}",
        _ => Message.ToString(),
    };
}

/// <summary>The untyped base of every behaviour; derive from <see cref="GenServer{TState}"/> instead.</summary>
/// <remarks>
/// One instance is one process: the runtime binds it at start, and a supervisor creates a fresh
/// instance for each restart. Its handlers are called one at a time, never concurrently.
/// </remarks>
public abstract class GenServer
{
    private ProcessCell? _cell;

    private protected GenServer()
    {
    }

    /// <summary>This process's reference; empty until the process is started.</summary>
    public ProcessRef Self => _cell?.Ref ?? default;

    /// <summary>The runtime this process runs in.</summary>
    /// <exception cref="InvalidOperationException">The server was not started.</exception>
    protected ProcessRuntime Runtime => _cell?.Runtime ?? throw new InvalidOperationException("The server has not been started.");

    /// <summary>
    /// Whether exit signals from linked processes arrive as <see cref="InfoKind.Exit"/> messages instead of
    /// ending this process. Set it in init or any handler; it takes effect for the next signal.
    /// </summary>
    protected bool TrapExit
    {
        get => _cell?.TrapExit ?? false;
        set => (_cell ?? throw new InvalidOperationException("The server has not been started.")).TrapExit = value;
    }

    /// <summary>Ends this process with <paramref name="reason"/> once the current handler returns (before any other message).</summary>
    /// <param name="reason">The exit reason passed to terminate, links and monitors.</param>
    protected void StopSelf(ExitReason reason)
    {
        if (_cell is null)
        {
            throw new InvalidOperationException("The server has not been started.");
        }

        _cell.PostSystem(new StopSignal(reason));
    }

    internal ProcessCell? Cell => _cell;

    internal void Bind(ProcessCell cell)
    {
        // CAS so that two concurrent starts of one instance cannot both bind it: the loser throws.
        if (Interlocked.CompareExchange(ref _cell, cell, null) is not null)
        {
            throw new InvalidOperationException($"This {GetType().Name} instance is already a process ({_cell.Ref}); create a new instance for each start.");
        }
    }

    internal abstract ValueTask InvokeInitAsync(Value args, CancellationToken cancellationToken);

    internal abstract ValueTask InvokeCallAsync(Value request, CallFrom from);

    internal abstract ValueTask InvokeCastAsync(Value message);

    internal abstract ValueTask InvokeInfoAsync(InfoMessage info);

    internal abstract ValueTask InvokeTerminateAsync(ExitReason reason);

    /// <summary>For a typed server, the contract its calls are read with: a remote request is read straight into that type
    /// on arrival. Null for a value-level server.</summary>
    internal virtual ValueContract? CallContract => null;

    /// <summary>For a typed server, the contract its casts are read with; null for a value-level server.</summary>
    internal virtual ValueContract? CastContract => null;

    /// <summary>Runtime-internal requests (supervisor commands) that carry objects rather than values; the request completes itself.</summary>
    internal virtual ValueTask InvokeInternalAsync(InternalRequest request) =>
        throw new NotSupportedException($"{GetType().Name} accepts no internal requests.");
}

/// <summary>A behaviour with a typed state: override the handlers you need.</summary>
/// <typeparam name="TState">The state; handlers receive the current state and return the next.</typeparam>
/// <remarks>
/// <para>
/// Handlers return <see cref="ValueTask"/>s: a synchronous handler allocates nothing; an asynchronous
/// one keeps the process busy until it completes, so no two handlers of one process ever run at once.
/// </para>
/// <para>
/// An exception from a handler crashes the process: it terminates with <see cref="ExitReason.Error(Exception)"/>
/// (terminate runs), a pending call fails with <see cref="CallFailedException"/>, and links and monitors
/// are told.
/// </para>
/// </remarks>
public abstract class GenServer<TState> : GenServer
{
    private TState _state = default!;

    /// <summary>The current state (for terminate-time inspection and tests); handlers receive it as a parameter.</summary>
    protected TState State => _state;

    /// <summary>Builds the initial state. Runs in the process before any message; the start waits for it.</summary>
    /// <param name="args">The start arguments.</param>
    /// <param name="cancellationToken">Canceled when the init timeout passes.</param>
    protected abstract ValueTask<TState> InitAsync(Value args, CancellationToken cancellationToken);

    /// <summary>Handles a call. The default fails the call: override it if the server accepts calls.</summary>
    /// <param name="request">The request.</param>
    /// <param name="from">The reply address, for a deferred reply.</param>
    /// <param name="state">The current state.</param>
    protected virtual ValueTask<CallResult<TState>> HandleCallAsync(Value request, CallFrom from, TState state) =>
        throw new NotSupportedException($"{GetType().Name} does not handle calls (request {request}).");

    /// <summary>Handles a cast. The default ignores it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="state">The current state.</param>
    protected virtual ValueTask<TState> HandleCastAsync(Value message, TState state) => new(state);

    /// <summary>Handles a timer message, a plain sent message, an exit signal (when trapping exits) or a down notification. The default ignores it.</summary>
    /// <param name="info">The message.</param>
    /// <param name="state">The current state.</param>
    protected virtual ValueTask<TState> HandleInfoAsync(InfoMessage info, TState state) => new(state);

    /// <summary>Runs when the process stops or crashes (not when it is killed or dies of an untrapped exit signal).</summary>
    /// <param name="reason">Why it ends.</param>
    /// <param name="state">The last state.</param>
    protected virtual ValueTask TerminateAsync(ExitReason reason, TState state) => default;

    internal sealed override ValueTask InvokeInitAsync(Value args, CancellationToken cancellationToken)
    {
        ValueTask<TState> pending = InitAsync(args, cancellationToken);
        if (pending.IsCompletedSuccessfully)
        {
            _state = pending.Result;
            return default;
        }

        return AwaitInit(pending);

        async ValueTask AwaitInit(ValueTask<TState> task) => _state = await task.ConfigureAwait(false);
    }

    internal sealed override ValueTask InvokeCallAsync(Value request, CallFrom from)
    {
        if (request.IsTyped && CallContract is null && !TryMaterialize(ref request, from))
        {
            return default;
        }
        ValueTask<CallResult<TState>> pending = HandleCallAsync(request, from, _state);
        if (pending.IsCompletedSuccessfully)
        {
            Apply(pending.Result, from);
            return default;
        }

        return AwaitCall(pending, from);

        async ValueTask AwaitCall(ValueTask<CallResult<TState>> task, CallFrom replyTo) =>
            Apply(await task.ConfigureAwait(false), replyTo);
    }

    internal sealed override ValueTask InvokeCastAsync(Value message)
    {
        if (message.IsTyped && CastContract is null && !TryMaterialize(ref message, default))
        {
            return default;
        }
        ValueTask<TState> pending = HandleCastAsync(message, _state);
        if (pending.IsCompletedSuccessfully)
        {
            _state = pending.Result;
            return default;
        }

        return AwaitState(pending);
    }

    internal sealed override ValueTask InvokeInfoAsync(InfoMessage info)
    {
        ValueTask<TState> pending = HandleInfoAsync(info, _state);
        if (pending.IsCompletedSuccessfully)
        {
            _state = pending.Result;
            return default;
        }

        return AwaitState(pending);
    }

    internal sealed override ValueTask InvokeTerminateAsync(ExitReason reason) => TerminateAsync(reason, _state);

    private async ValueTask AwaitState(ValueTask<TState> task) => _state = await task.ConfigureAwait(false);

    /// <summary>
    /// A typed sender's message, for this value-level server: the plain value a peer would have decoded. A message that
    /// cannot be encoded (too deep, an unpaired surrogate, an enum value with no name) is the sender's error: its call fails (a cast is dropped and
    /// counted as a dead letter) and this process goes on.
    /// </summary>
    private bool TryMaterialize(ref Value message, CallFrom from)
    {
        try
        {
            message = TypedValues.Materialize(message);
            return true;
        }
        catch (NoexException e) when (e is ValueCodecException or MessageContractException)
        {
            if (!from.Fail(new BadRequestException(Self, e.Message, e)))
            {
                Cell?.Runtime.CountDeadLetter();
            }
            return false;
        }
    }

    private void Apply(CallResult<TState> result, CallFrom from)
    {
        // State first: a caller resumed by the reply may call again at once, and that call must see it.
        _state = result.State;
        if (result.HasReply)
        {
            from.Reply(result.Reply);
        }
        else
        {
            // Deferred: if the process ends before it answers, the caller is failed instead of left waiting.
            Cell?.TrackDeferred(from);
        }
    }
}
