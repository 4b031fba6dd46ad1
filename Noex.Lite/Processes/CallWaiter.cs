using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Tasks.Sources;

namespace Noex.Lite;

/// <summary>
/// Where a call's reply goes: the caller's <see cref="CallWaiter"/> for a call made on this node, or, for a call from
/// another node, the connection it came in on (which encodes the reply, or the failure, onto it).
/// </summary>
internal interface IReplySink
{
    /// <summary>Completes the call identified by <paramref name="token"/> with a reply; false if it is no longer waiting.</summary>
    bool TryComplete(long token, Value reply);

    /// <summary>Fails the call identified by <paramref name="token"/>; false if it is no longer waiting.</summary>
    bool TryFail(long token, Exception error);

    /// <summary>Whether the call identified by <paramref name="token"/> still waits for its reply.</summary>
    bool IsPending(long token);
}

/// <summary>
/// The pooled waiter behind a call's <see cref="ValueTask{Value}"/>, local or remote: an
/// <see cref="IValueTaskSource{Value}"/> with its own reusable timer, so a warm call allocates nothing.
/// </summary>
/// <remarks>
/// <para>
/// <c>_state</c> packs a generation and a completed bit: <c>generation * 2 + done</c>. A call's token is
/// the even value it was armed with. The reply, the timeout and the cancellation each try one CAS from
/// <c>token</c> to <c>token + 1</c>, so exactly one of them wins, and a late one (the server answering
/// after a timeout, or after the waiter went back to the pool and was armed again) finds another value and
/// does nothing. The value task's own version (ManualResetValueTaskSourceCore) protects the consumer side.
/// </para>
/// <para>
/// Continuations run asynchronously, so a server replying from its turn never runs the caller's code on
/// its own thread. For an async-method awaiter the thread pool queues the state machine box directly,
/// which allocates nothing. The exception is a reply from another node: the read thread that read it runs the caller's
/// code after the read (or during it under <see cref="NodeOptions.UnsafePreferInlineScheduling"/>), on purpose, to save
/// a thread handoff.
/// </para>
/// </remarks>
internal class CallWaiter : IValueTaskSource<Value>, IReplySink
{
    private static readonly TimerCallback s_onTimeout = static state => ((CallWaiter)state!).OnTimeout();
    private static readonly Action<object?> s_onCanceled = static state =>
    {
        var (waiter, token) = ((CallWaiter, long))state!;
        waiter.TryFail(token, new OperationCanceledException("The call was canceled by its CancellationToken."));
    };

    private ManualResetValueTaskSourceCore<Value> _core;
    private long _state;
    private long _deadline = long.MaxValue;
    private ITimer? _timer;
    private CancellationTokenRegistration _cancellation;
    private ProcessRef _target;
    private TimeSpan _timeout;
    private bool _remote;
    private ValueContract? _replyContract;
    private int _arms;

    public CallWaiter(CallWaiterPool pool)
    {
        Pool = pool;
        _core.RunContinuationsAsynchronously = true;
    }

    public CallWaiterPool Pool { get; }

    /// <summary>Prepares the waiter for one call and returns the token its reply must carry.</summary>
    /// <param name="target">The process called.</param>
    /// <param name="timeout">How long to wait.</param>
    /// <param name="cancellationToken">Abandons the wait.</param>
    /// <param name="remote">Whether the call goes over the cluster (its timeout is then a remote one).</param>
    /// <param name="replyContract">For a typed call, the reply type's contract: a remote reply is read straight into
    /// that type. Null for a value-level call, whose caller gets a typed reply as a plain value.</param>
    public long Arm(ProcessRef target, TimeSpan timeout, CancellationToken cancellationToken, bool remote = false, ValueContract? replyContract = null)
    {
        long token = Volatile.Read(ref _state);
        Debug.Assert((token & 1) == 0, "armed a waiter that is not reset");
        _target = target;
        _timeout = timeout;
        _remote = remote;
        _replyContract = replyContract;
        _arms++;
        if (timeout != Timeout.InfiniteTimeSpan)
        {
            TimeProvider time = Pool.TimeProvider;
            // The deadline is written before the timer is armed; OnTimeout compares against it, which is
            // how a stale firing left over from this waiter's previous call is told apart from a real one.
            Volatile.Write(ref _deadline, time.GetTimestamp() + (long)(timeout.TotalSeconds * time.TimestampFrequency));
            _timer ??= CreateTimer(time);
            _timer.Change(timeout, Timeout.InfiniteTimeSpan);
        }

        if (cancellationToken.CanBeCanceled)
        {
            // Boxing the (waiter, token) pair is the price of a cancelable call; the token in it keeps a
            // late cancellation from failing a later call on this reused waiter.
            _cancellation = cancellationToken.UnsafeRegister(s_onCanceled, (this, token));
        }

        return token;
    }

    /// <summary>The process the current call addresses.</summary>
    public ProcessRef Target => _target;

    /// <summary>The reply type's contract, for a typed call.</summary>
    public ValueContract? ReplyContract => _replyContract;

    /// <summary>How many calls this waiter has been armed for: tells a typed caller whether the call it started used the
    /// waiter it passed in.</summary>
    public int Arms => _arms;

    /// <summary>The value task for the call just armed.</summary>
    public ValueTask<Value> Task => new(this, _core.Version);

    /// <summary>The version of the value task for the call just armed.</summary>
    public short Version => _core.Version;

    public bool TryComplete(long token, Value reply) => TryComplete(token, reply, inline: false);

    /// <summary>Completes the call identified by <paramref name="token"/> with a reply; false if it is no longer waiting.</summary>
    /// <param name="token">The token the call was armed with.</param>
    /// <param name="reply">The reply.</param>
    /// <param name="inline">Run the caller's continuation on this thread (a connection's read thread, after the read or,
    /// under <see cref="NodeOptions.UnsafePreferInlineScheduling"/>, during it) instead of queuing it. A continuation
    /// bound to a synchronization context or scheduler is still posted there.</param>
    public bool TryComplete(long token, Value reply, bool inline)
    {
        // Exactly one completer wins this CAS (see remarks); a stale or second reply fails it.
        if (Interlocked.CompareExchange(ref _state, token + 1, token) != token)
        {
            return false;
        }

        Disarm();
        // GetResult sets it back before the waiter can be armed again.
        _core.RunContinuationsAsynchronously = !inline;
        if (reply.IsTyped && _replyContract is null)
        {
            // A typed server's reply reaches a value-level caller as the plain value a peer would have decoded.
            try
            {
                reply = TypedValues.Materialize(reply);
            }
            catch (NoexException e)
            {
                _core.SetException(e);
                return true;
            }
        }
        _core.SetResult(reply);
        return true;
    }

    public bool TryFail(long token, Exception error)
    {
        // Same single-winner CAS as TryComplete.
        if (Interlocked.CompareExchange(ref _state, token + 1, token) != token)
        {
            return false;
        }

        Disarm();
        _core.SetException(error);
        return true;
    }

    public bool IsPending(long token) => Volatile.Read(ref _state) == token;

    public Value GetResult(short token)
    {
        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            // The caller has its result: make the waiter reusable. The deadline goes to "never" before
            // the generation moves on, so a stale timer firing in between sees a pending state with no
            // deadline passed and ignores it.
            Volatile.Write(ref _deadline, long.MaxValue);
            _core.RunContinuationsAsynchronously = true;
            _core.Reset();
            // Done bit set → next even generation; published after the reset so Arm sees a clean core.
            Volatile.Write(ref _state, Volatile.Read(ref _state) + 1);
            ReturnToPool();
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    /// <summary>Gives the waiter back once its caller has its result.</summary>
    protected virtual void ReturnToPool() => CallWaiterPool.Return(this);

    /// <summary>Fails a call that was armed but never posted (target gone or mailbox full).</summary>
    public void Abandon(long token, Exception error) => TryFail(token, error);

    internal void DisposeTimer() => _timer?.Dispose();

    private ITimer CreateTimer(TimeProvider time)
    {
        // The timer outlives this call (the waiter is pooled), so it must not capture the first caller's
        // ExecutionContext and keep its AsyncLocals alive.
        if (ExecutionContext.IsFlowSuppressed())
        {
            return time.CreateTimer(s_onTimeout, this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }

        using (ExecutionContext.SuppressFlow())
        {
            return time.CreateTimer(s_onTimeout, this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
    }

    private void Disarm()
    {
        // The timer is left armed on purpose: the next Arm re-arms it (one timer-queue operation per call
        // instead of two; CallWaiterBenchmarks, figures: Noex.Lite.Bench/README.md), and a firing meant for a
        // finished call is ignored by OnTimeout's deadline check.
        // Unregister, not Dispose: Dispose would wait for a running cancellation callback, and that
        // callback may be the very caller of this method.
        _cancellation.Unregister();
        _cancellation = default;
    }

    private void OnTimeout()
    {
        long state = Volatile.Read(ref _state);
        if ((state & 1) != 0)
        {
            return;
        }

        // A timer firing that was meant for an earlier call on this waiter: the current call's deadline
        // (or "never", between calls) has not passed, so it is not ours to time out. The same check sees a
        // timer that fired a little early for this call (timers tick on a millisecond clock, the deadline on
        // the timestamp clock): re-arm for what remains, or the call would never time out.
        TimeProvider time = Pool.TimeProvider;
        long deadline = Volatile.Read(ref _deadline);
        long now = time.GetTimestamp();
        if (now < deadline)
        {
            if (deadline != long.MaxValue)
            {
                _timer?.Change(TimeSpan.FromSeconds((double)(deadline - now) / time.TimestampFrequency) + TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
            }
            return;
        }

        TryFail(state, _remote ? new RemoteCallTimeoutException(_target, _timeout) : new CallTimeoutException(_target, _timeout));
    }
}

/// <summary>A bounded pool of <see cref="CallWaiter"/>s for one runtime (their timers come from its <see cref="System.TimeProvider"/>).</summary>
internal sealed class CallWaiterPool
{
    /// <summary>Enough for the calls one runtime has in flight at once in practice; beyond that waiters are dropped.</summary>
    private const int MaxPooled = 1024;

    /// <summary>
    /// One waiter per thread, taken and given back without any atomic: a caller that awaits its reply
    /// usually rents again on the thread its continuation ran on, so most calls never touch the shared queue.
    /// </summary>
    [ThreadStatic]
    private static CallWaiter? t_cached;

    private readonly ConcurrentQueue<CallWaiter> _pool = new();
    private int _count;

    public CallWaiterPool(TimeProvider timeProvider) => TimeProvider = timeProvider;

    public TimeProvider TimeProvider { get; }

    public CallWaiter Rent()
    {
        CallWaiter? cached = t_cached;
        if (cached is not null && ReferenceEquals(cached.Pool, this))
        {
            t_cached = null;
            return cached;
        }

        if (_pool.TryDequeue(out CallWaiter? waiter))
        {
            // Pairs with the Increment in Enqueue; the count only bounds the pool, it need not be exact.
            Interlocked.Decrement(ref _count);
            return waiter;
        }

        return new CallWaiter(this);
    }

    public static void Return(CallWaiter waiter)
    {
        // The thread's slot takes the newest (whichever pool it came from); whatever it held goes back to its own pool's
        // shared queue.
        CallWaiter? previous = t_cached;
        t_cached = waiter;
        previous?.Pool.Enqueue(previous);
    }

    private void Enqueue(CallWaiter waiter)
    {
        // Reserve a place first so concurrent returns cannot overfill the pool.
        if (Interlocked.Increment(ref _count) <= MaxPooled)
        {
            _pool.Enqueue(waiter);
            return;
        }

        Interlocked.Decrement(ref _count);
        waiter.DisposeTimer();
    }

    public void Clear()
    {
        while (_pool.TryDequeue(out CallWaiter? waiter))
        {
            waiter.DisposeTimer();
        }
    }
}
