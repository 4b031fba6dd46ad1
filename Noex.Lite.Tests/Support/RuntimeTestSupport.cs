using System.Collections.Concurrent;
using System.Threading.Channels;

namespace Noex.Lite.Tests;

/// <summary>A clock the test moves by hand. Timers fire synchronously inside <see cref="Advance"/>.</summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    private readonly Lock _lock = new();
    private readonly List<ManualTimer> _timers = [];
    private long _now;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp()
    {
        using (_lock.EnterScope())
        {
            return _now;
        }
    }

    public override DateTimeOffset GetUtcNow() => new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(GetTimestamp());

    /// <summary>How many timers are armed now.</summary>
    public int ArmedTimers
    {
        get
        {
            using (_lock.EnterScope())
            {
                return _timers.Count(t => t.DueAt != long.MaxValue);
            }
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        using (_lock.EnterScope())
        {
            _timers.Add(timer);
        }

        timer.Change(dueTime, period);
        return timer;
    }

    /// <summary>Moves the clock and fires every timer that comes due, in due order.</summary>
    public void Advance(TimeSpan by)
    {
        long target;
        using (_lock.EnterScope())
        {
            target = _now + by.Ticks;
        }

        while (true)
        {
            ManualTimer? due;
            using (_lock.EnterScope())
            {
                due = _timers.Where(t => t.DueAt <= target).MinBy(t => t.DueAt);
                if (due is null)
                {
                    _now = target;
                    return;
                }

                _now = Math.Max(_now, due.DueAt);
                due.DueAt = due.Period > 0 ? _now + due.Period : long.MaxValue;
            }

            due.Fire();
        }
    }

    /// <summary>Waits (bounded) until at least <paramref name="count"/> timers are armed: a timeout has been set.</summary>
    public void WaitForArmedTimers(int count)
    {
        Assert.True(SpinWait.SpinUntil(() => ArmedTimers >= count, TimeSpan.FromSeconds(30)), $"expected {count} armed timers, found {ArmedTimers}");
    }

    private void Remove(ManualTimer timer)
    {
        using (_lock.EnterScope())
        {
            _timers.Remove(timer);
        }
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        public long DueAt = long.MaxValue;
        public long Period;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            using (owner._lock.EnterScope())
            {
                DueAt = dueTime == Timeout.InfiniteTimeSpan ? long.MaxValue : owner._now + dueTime.Ticks;
                Period = period == Timeout.InfiniteTimeSpan ? 0 : period.Ticks;
            }

            return true;
        }

        public void Fire() => callback(state);

        public void Dispose() => owner.Remove(this);

        public ValueTask DisposeAsync()
        {
            Dispose();
            return default;
        }
    }
}

/// <summary>A scheduler that runs mailbox turns only when the test says so.</summary>
internal sealed class ManualScheduler : IMailboxScheduler
{
    private readonly ConcurrentQueue<Mailbox> _queue = new();

    public int Pending => _queue.Count;

    public void Schedule(Mailbox mailbox) => _queue.Enqueue(mailbox);

    /// <summary>Runs one scheduled turn; false if none was scheduled.</summary>
    public bool RunOne()
    {
        if (!_queue.TryDequeue(out Mailbox? mailbox))
        {
            return false;
        }

        mailbox.RunTurn();
        return true;
    }

    /// <summary>Runs turns until none is scheduled.</summary>
    public int RunAll()
    {
        int turns = 0;
        while (RunOne())
        {
            turns++;
        }

        return turns;
    }
}

/// <summary>A behaviour for tests: a counter with hooks, whose info messages and end can be awaited.</summary>
internal sealed class Probe : GenServer<long>
{
    private CallFrom _deferred;

    public Channel<InfoMessage> Infos { get; } = Channel.CreateUnbounded<InfoMessage>();

    public TaskCompletionSource<ExitReason> Terminated { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Opens the "block" call and any blocking init.</summary>
    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Set when a "block" call has started.</summary>
    public TaskCompletionSource Blocked { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Trap { get; init; }

    public bool BlockInit { get; init; }

    public bool ThrowInInit { get; init; }

    public bool BlockTerminate { get; init; }

    public List<string>? Log { get; init; }

    public string Label { get; init; } = "";

    public int Concurrent;

    public int MaxConcurrent;

    public new ProcessRef Self => base.Self;

    protected override async ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken)
    {
        TrapExit = Trap;
        if (ThrowInInit)
        {
            throw new InvalidOperationException("init failed on purpose");
        }

        if (BlockInit)
        {
            await Gate.Task.WaitAsync(cancellationToken);
        }

        Append($"start {Label}");
        return args.IsNull ? 0 : args.AsInt64();
    }

    protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long state)
    {
        Enter();
        if (request == "block")
        {
            // Leaves the handler "inside" until the gate opens; BlockAsync exits.
            return BlockAsync(state);
        }

        try
        {
            switch (request.AsString())
            {
                case "get":
                    return new(CallResult<long>.WithReply(state, state));
                case "crash":
                    throw new InvalidOperationException("boom");
                case "defer":
                    _deferred = from;
                    return new(CallResult<long>.NoReply(state));
                case "release":
                    return new(CallResult<long>.WithReply(_deferred.Reply(state), state));
                case "stop":
                    StopSelf(ExitReason.Normal);
                    return new(CallResult<long>.WithReply("ok", state));
                case "async":
                    return YieldAsync(state);
                default:
                    throw new ArgumentException($"unknown request {request}");
            }
        }
        finally
        {
            Exit();
        }
    }

    protected override ValueTask<long> HandleCastAsync(Value message, long state)
    {
        Enter();
        try
        {
            if (message.Kind == ValueKind.Integer)
            {
                return new(state + message.AsInt64());
            }

            return message.AsString() switch
            {
                "inc" => new(state + 1),
                "crash" => throw new InvalidOperationException("cast boom"),
                _ => new(state),
            };
        }
        finally
        {
            Exit();
        }
    }

    protected override ValueTask<long> HandleInfoAsync(InfoMessage info, long state)
    {
        if (info.Kind == InfoKind.Message && info.Message == "crash")
        {
            throw new InvalidOperationException("info boom");
        }

        Infos.Writer.TryWrite(info);
        return new(state);
    }

    protected override async ValueTask TerminateAsync(ExitReason reason, long state)
    {
        Append($"stop {Label}");
        if (BlockTerminate)
        {
            await Gate.Task;
        }

        Terminated.TrySetResult(reason);
    }

    public async Task<InfoMessage> NextInfoAsync() =>
        await Infos.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

    private async ValueTask<CallResult<long>> BlockAsync(long state)
    {
        Blocked.TrySetResult();
        await Gate.Task;
        Exit();
        return CallResult<long>.WithReply(state, state);
    }

    private static async ValueTask<CallResult<long>> YieldAsync(long state)
    {
        await Task.Yield();
        return CallResult<long>.WithReply(state, state);
    }

    private void Append(string entry)
    {
        if (Log is not null)
        {
            lock (Log)
            {
                Log.Add(entry);
            }
        }
    }

    private void Enter()
    {
        int now = Interlocked.Increment(ref Concurrent);
        int max;
        while (now > (max = Volatile.Read(ref MaxConcurrent)) && Interlocked.CompareExchange(ref MaxConcurrent, now, max) != max)
        {
        }
    }

    private void Exit() => Interlocked.Decrement(ref Concurrent);
}
