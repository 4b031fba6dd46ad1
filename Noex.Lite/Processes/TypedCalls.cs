using System.Runtime.CompilerServices;

namespace Noex.Lite;

/// <summary>
/// Calls and casts with C# types instead of <see cref="Value"/>s, to any process: a typed server
/// (<see cref="GenServer{TState, TCall, TReply, TCast}"/>) or a value-level one, on this node or another.
/// </summary>
/// <remarks>
/// <para>
/// Each type needs a <see cref="ValueContract{T}"/>: generated for <see cref="NoexMessageAttribute"/> types, built in for
/// the scalars, <see cref="string"/>, byte arrays and <see cref="Value"/>. A message to a process on this node is handed
/// over by reference; one to another node is written through its contract straight into the outbound frame, and the
/// reply is read straight into the reply type as it arrives. Once warm, a call allocates only the request
/// and the reply objects themselves.
/// </para>
/// <para>
/// Errors are those of <see cref="ProcessRuntime.CallAsync(ProcessRef, Value, TimeSpan?, CancellationToken)"/>, plus:
/// <see cref="BadRequestException"/> when the server cannot read the request as its type, and
/// <see cref="MessageContractException"/> (type and field named) when the reply does not fit the reply type.
/// </para>
/// </remarks>
// RS0026: the two CallAsync overloads mirror ProcessRuntime's own (by ref and by name), optional parameters included.
#pragma warning disable RS0026
public static class TypedCalls
{
    /// <summary>Calls a process with a typed request and reads its reply as <typeparamref name="TReply"/>.</summary>
    /// <typeparam name="TRequest">The request type.</typeparam>
    /// <typeparam name="TReply">The reply type.</typeparam>
    /// <param name="runtime">The runtime to call from (a node's <see cref="Node.Runtime"/> reaches other nodes).</param>
    /// <param name="target">The process.</param>
    /// <param name="request">The request.</param>
    /// <param name="timeout">How long to wait; null for 5000 ms.</param>
    /// <param name="cancellationToken">Abandons the wait.</param>
    /// <returns>The reply.</returns>
    public static ValueTask<TReply> CallAsync<TRequest, TReply>(this ProcessRuntime runtime, ProcessRef target, TRequest request,
        TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        var replyContract = ValueContracts.Get<TReply>();
        var waiter = TypedCallWaiter<TReply>.Rent(runtime.Waiters);
        var arms = waiter.Arms;
        var pending = runtime.CallCoreAsync(target, ValueContracts.Get<TRequest>().Wrap(request), timeout, cancellationToken, replyContract, waiter);
        if (waiter.Arms == arms)
        {
            // The call failed before it needed a waiter (not running, not connected, canceled).
            waiter.ReturnUnused();
        }
        else if (pending.Equals(waiter.Task))
        {
            // The usual case: the value task is the waiter's own, so the caller awaits the waiter as typed.
            return waiter.TypedTask;
        }
        // Otherwise an async step (tracing, waiting for room in a full queue) awaits the waiter and returns its own task.
        return pending.IsCompletedSuccessfully ? new(TypedValues.As(pending.Result, replyContract)) : AwaitReply(pending, replyContract);
    }

    /// <summary>Calls the process registered (locally) as <paramref name="name"/>.</summary>
    /// <typeparam name="TRequest">The request type.</typeparam>
    /// <typeparam name="TReply">The reply type.</typeparam>
    /// <param name="runtime">The runtime.</param>
    /// <param name="name">The local name.</param>
    /// <param name="request">The request.</param>
    /// <param name="timeout">How long to wait; null for 5000 ms.</param>
    /// <param name="cancellationToken">Abandons the wait.</param>
    /// <returns>The reply.</returns>
    /// <exception cref="NotRegisteredException">No process has the name.</exception>
    public static ValueTask<TReply> CallAsync<TRequest, TReply>(this ProcessRuntime runtime, string name, TRequest request,
        TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        return runtime.CallAsync<TRequest, TReply>(runtime.Registry.Lookup(name), request, timeout, cancellationToken);
    }

    /// <summary>Sends a typed message without waiting (fire and forget), as <see cref="ProcessRuntime.Cast(ProcessRef, Value)"/>.</summary>
    /// <typeparam name="T">The message type.</typeparam>
    /// <param name="runtime">The runtime.</param>
    /// <param name="target">The process.</param>
    /// <param name="message">The message.</param>
    /// <returns>True if queued (see <see cref="ProcessRuntime.Cast(ProcessRef, Value)"/>).</returns>
    public static bool Cast<T>(this ProcessRuntime runtime, ProcessRef target, T message)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        return runtime.Cast(target, ValueContracts.Get<T>().Wrap(message));
    }

    /// <summary>Sends a typed message with backpressure, as <see cref="ProcessRuntime.CastAsync(ProcessRef, Value, CancellationToken)"/>.</summary>
    /// <typeparam name="T">The message type.</typeparam>
    /// <param name="runtime">The runtime.</param>
    /// <param name="target">The process.</param>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Abandons the wait for room.</param>
    /// <returns>True if queued.</returns>
    public static ValueTask<bool> CastAsync<T>(this ProcessRuntime runtime, ProcessRef target, T message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(runtime);
        return runtime.CastAsync(target, ValueContracts.Get<T>().Wrap(message), cancellationToken);
    }

    // Pooled: the rare typed call that an async step answers reuses its state machine instead of allocating one per call.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<TReply> AwaitReply<TReply>(ValueTask<Value> pending, ValueContract<TReply> contract) =>
        TypedValues.As(await pending.ConfigureAwait(false), contract);
}
#pragma warning restore RS0026
