namespace Noex.Lite;

/// <summary>
/// A GenServer whose calls, replies and casts are C# types: its handlers receive a <typeparamref name="TCall"/> or a
/// <typeparamref name="TCast"/> and answer with a <typeparamref name="TReply"/>, and the compiler checks them.
/// </summary>
/// <typeparam name="TState">The state.</typeparam>
/// <typeparam name="TCall">What a call carries: usually a <see cref="NoexMessageAttribute"/> record or a family of them.</typeparam>
/// <typeparam name="TReply">What a call answers.</typeparam>
/// <typeparam name="TCast">What a cast carries.</typeparam>
/// <remarks>
/// <para>
/// Each type needs a <see cref="ValueContract{T}"/> (generated for <see cref="NoexMessageAttribute"/> types; built in for
/// <see cref="long"/>, <see cref="int"/>, <see cref="double"/>, <see cref="bool"/>, <see cref="string"/>, byte arrays and
/// <see cref="Value"/>, which takes anything). A typed caller on this node hands its message over by reference: no copy, no
/// encoding, so send immutable messages (records). A message from another node is read straight into
/// <typeparamref name="TCall"/> when it arrives; one from a value-level caller, here or there, is read from its value. A
/// request that does not fit <typeparamref name="TCall"/> fails its call with <see cref="BadRequestException"/> naming
/// the field; a cast that does not fit is dropped and counted as a dead letter. Neither reaches a handler, and the process
/// goes on.
/// </para>
/// <para>Value-level peers and callers see the same shapes as JSON: a typed server and a value-level one interoperate.</para>
/// </remarks>
public abstract class GenServer<TState, TCall, TReply, TCast> : GenServer<TState>
{
    private static readonly ValueContract<TCall> s_call = ValueContracts.Get<TCall>();
    private static readonly ValueContract<TReply> s_reply = ValueContracts.Get<TReply>();
    private static readonly ValueContract<TCast> s_cast = ValueContracts.Get<TCast>();

    internal sealed override ValueContract CallContract => s_call;

    internal sealed override ValueContract CastContract => s_cast;

    /// <summary>Handles a call. The default fails the call: override it if the server accepts calls.</summary>
    /// <param name="request">The request.</param>
    /// <param name="from">The reply address, for a deferred reply.</param>
    /// <param name="state">The current state.</param>
    /// <returns>The reply and the new state, from <see cref="Reply"/> or <see cref="NoReply"/>.</returns>
    protected virtual ValueTask<CallResult<TState, TReply>> HandleCallAsync(TCall request, CallFrom<TReply> from, TState state) =>
        throw new NotSupportedException($"{GetType().Name} does not handle calls (request {request}).");

    /// <summary>Handles a cast. The default ignores it.</summary>
    /// <param name="message">The message.</param>
    /// <param name="state">The current state.</param>
    /// <returns>The new state.</returns>
    protected virtual ValueTask<TState> HandleCastAsync(TCast message, TState state) => new(state);

    /// <summary>Answers now.</summary>
    /// <param name="reply">The reply.</param>
    /// <param name="state">The new state.</param>
    /// <returns>What the call handler returns.</returns>
    protected static CallResult<TState, TReply> Reply(TReply reply, TState state) => new(true, reply, state);

    /// <summary>Defers the answer: reply later with <see cref="CallFrom{TReply}.Reply"/>; the caller's timeout still applies.</summary>
    /// <param name="state">The new state.</param>
    /// <returns>What the call handler returns.</returns>
    protected static CallResult<TState, TReply> NoReply(TState state) => new(false, default!, state);

    /// <summary>Reads the request as <typeparamref name="TCall"/> and hands it to the typed handler.</summary>
    protected sealed override ValueTask<CallResult<TState>> HandleCallAsync(Value request, CallFrom from, TState state)
    {
        TCall call;
        try
        {
            call = TypedValues.As(request, s_call);
        }
        catch (NoexException e) when (e is MessageContractException or ValueCodecException)
        {
            // The caller's error, not this process's: fail the call and go on (a deferred no-reply whose caller is answered).
            from.Fail(new BadRequestException(Self, e.Message, e));
            return new(CallResult<TState>.NoReply(state));
        }

        var pending = HandleCallAsync(call, new CallFrom<TReply>(from), state);
        return pending.IsCompletedSuccessfully ? new(ToUntyped(pending.Result)) : AwaitCall(pending);

        static async ValueTask<CallResult<TState>> AwaitCall(ValueTask<CallResult<TState, TReply>> task) => ToUntyped(await task.ConfigureAwait(false));
    }

    /// <summary>Reads the message as <typeparamref name="TCast"/> and hands it to the typed handler.</summary>
    protected sealed override ValueTask<TState> HandleCastAsync(Value message, TState state)
    {
        TCast cast;
        try
        {
            cast = TypedValues.As(message, s_cast);
        }
        catch (NoexException e) when (e is MessageContractException or ValueCodecException)
        {
            Cell?.Runtime.CountDeadLetter();
            return new(state);
        }
        return HandleCastAsync(cast, state);
    }

    private static CallResult<TState> ToUntyped(CallResult<TState, TReply> result) =>
        result.HasReply ? CallResult<TState>.WithReply(s_reply.Wrap(result.Reply), result.State) : CallResult<TState>.NoReply(result.State);
}

/// <summary>What a typed call handler returns: a reply and the new state, or no reply yet and the new state.</summary>
/// <typeparam name="TState">The server's state type.</typeparam>
/// <typeparam name="TReply">The reply type.</typeparam>
public readonly struct CallResult<TState, TReply>
{
    internal CallResult(bool hasReply, TReply reply, TState state)
    {
        HasReply = hasReply;
        Reply = reply;
        State = state;
    }

    /// <summary>True when <see cref="Reply"/> is sent now; false when the handler answers later through its <see cref="CallFrom{TReply}"/>.</summary>
    public bool HasReply { get; }

    /// <summary>The reply, when <see cref="HasReply"/>.</summary>
    public TReply Reply { get; }

    /// <summary>The server's new state.</summary>
    public TState State { get; }
}

/// <summary>Where to send a typed call's reply: keep it to reply later, after returning no reply.</summary>
/// <typeparam name="TReply">The reply type.</typeparam>
public readonly struct CallFrom<TReply>
{
    internal CallFrom(CallFrom from) => Untyped = from;

    /// <summary>The same reply address, for code that replies with a <see cref="Value"/>.</summary>
    public CallFrom Untyped { get; }

    /// <summary>Sends the reply.</summary>
    /// <param name="reply">The reply.</param>
    /// <returns>True if the caller was still waiting; false if it had timed out, was canceled or was already answered.</returns>
    public bool Reply(TReply reply) => Untyped.Reply(ValueContracts.Get<TReply>().Wrap(reply));
}
