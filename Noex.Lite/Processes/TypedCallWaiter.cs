using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;

namespace Noex.Lite;

/// <summary>
/// A <see cref="CallWaiter"/> that is also the source of a typed call's <see cref="ValueTask{TReply}"/>: its result is read
/// as <typeparamref name="TReply"/> when the caller takes it, so a typed call awaits the waiter itself, with no async
/// method in between (which would cost a state machine step per call). Pooled per reply type, apart from the runtime's
/// value-level waiters.
/// </summary>
internal sealed class TypedCallWaiter<TReply> : CallWaiter, IValueTaskSource<TReply>
{
    private const int MaxPooled = 256;

    [ThreadStatic]
    private static TypedCallWaiter<TReply>? t_cached;

    private static readonly ConcurrentQueue<TypedCallWaiter<TReply>> s_pool = new();
    private static int s_count;

    private TypedCallWaiter(CallWaiterPool pool)
        : base(pool)
    {
    }

    /// <summary>A waiter whose timers come from <paramref name="pool"/>'s clock (the calling runtime's).</summary>
    public static TypedCallWaiter<TReply> Rent(CallWaiterPool pool)
    {
        var cached = t_cached;
        if (cached is not null && ReferenceEquals(cached.Pool, pool))
        {
            t_cached = null;
            return cached;
        }
        while (s_pool.TryDequeue(out var pooled))
        {
            Interlocked.Decrement(ref s_count);
            if (ReferenceEquals(pooled.Pool, pool))
            {
                return pooled;
            }
            // Another runtime's (a process with several nodes): its clock is not ours.
            pooled.DisposeTimer();
        }
        return new TypedCallWaiter<TReply>(pool);
    }

    /// <summary>Gives back a waiter that the call did not arm (it failed before it needed one).</summary>
    public void ReturnUnused() => ReturnToPool();

    /// <summary>The typed value task of the call just armed.</summary>
    public ValueTask<TReply> TypedTask => new(this, Version);

    TReply IValueTaskSource<TReply>.GetResult(short token)
    {
        // Read before GetResult hands the waiter back to the pool.
        var contract = (ValueContract<TReply>)ReplyContract!;
        return TypedValues.As(GetResult(token), contract);
    }

    ValueTaskSourceStatus IValueTaskSource<TReply>.GetStatus(short token) => GetStatus(token);

    void IValueTaskSource<TReply>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        OnCompleted(continuation, state, token, flags);

    protected override void ReturnToPool()
    {
        var previous = t_cached;
        t_cached = this;
        if (previous is null)
        {
            return;
        }
        if (Interlocked.Increment(ref s_count) <= MaxPooled)
        {
            s_pool.Enqueue(previous);
            return;
        }
        Interlocked.Decrement(ref s_count);
        previous.DisposeTimer();
    }
}
