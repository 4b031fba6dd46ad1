using BenchmarkDotNet.Attributes;
using Proto;

namespace Noex.Lite.Bench;

/// <summary>The mailbox alone: post a batch of casts, then one turn drains them. Goal: 0 B per message.</summary>
public class MailboxBenchmarks
{
    private const int Batch = 1000;
    private NullMailbox _mailbox = null!;
    private Value _message;

    [GlobalSetup]
    public void Setup()
    {
        _mailbox = new NullMailbox();
        _message = "inc";
    }

    [Benchmark(OperationsPerInvoke = Batch, Description = "Mailbox: post + drain (per message)")]
    public void PostAndDrain()
    {
        var envelope = new Envelope(EnvelopeKind.Cast, _message, null, 0);
        for (int i = 0; i < Batch; i++)
        {
            _mailbox.Post(envelope);
        }

        _mailbox.RunTurn();
    }

    /// <summary>Counts messages and drops them; the scheduler does nothing because the benchmark runs the turn.</summary>
    private sealed class NullMailbox() : Mailbox(NullScheduler.Instance, int.MaxValue, 0, MailboxOverflow.Reject)
    {
        public long Handled;

        protected override ValueTask InvokeUserAsync(in Envelope envelope)
        {
            Handled++;
            return default;
        }

        protected override ValueTask InvokeSystemAsync(SystemMessage message) => default;

        protected override void OnRejected(in Envelope envelope)
        {
        }

        protected override void OnRejectedSystem(SystemMessage message)
        {
        }
    }

    private sealed class NullScheduler : IMailboxScheduler
    {
        public static readonly NullScheduler Instance = new();

        public void Schedule(Mailbox mailbox)
        {
        }
    }
}

/// <summary>
/// A local call round trip: Noex.Lite's CallAsync against Proto.Actor's RequestAsync to a local actor, in
/// the same run. Each invocation makes 100 sequential calls; the figures are per call.
/// </summary>
public class LocalCallBenchmarks
{
    private const int Calls = 100;
    private ProcessRuntime _runtime = null!;
    private ProcessRef _server;
    private Value _request;
    private ActorSystem _system = null!;
    private PID _actor = null!;
    private static readonly object s_ping = new();

    [GlobalSetup]
    public async Task Setup()
    {
        _runtime = new ProcessRuntime();
        _server = await _runtime.StartAsync(new Echo());
        _request = "ping";
        _system = new ActorSystem();
        _actor = _system.Root.Spawn(Props.FromProducer(() => new EchoActor()));
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _runtime.DisposeAsync();
        await _system.ShutdownAsync();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Calls, Description = "Proto.Actor RequestAsync (local)")]
    public async Task ProtoActorRequest()
    {
        for (int i = 0; i < Calls; i++)
        {
            await _system.Root.RequestAsync<object>(_actor, s_ping);
        }
    }

    [Benchmark(OperationsPerInvoke = Calls, Description = "Noex.Lite CallAsync (local)")]
    public async Task NoexCall()
    {
        for (int i = 0; i < Calls; i++)
        {
            await _runtime.CallAsync(_server, _request);
        }
    }

    private sealed class EchoActor : IActor
    {
        public Task ReceiveAsync(IContext context)
        {
            if (ReferenceEquals(context.Message, s_ping))
            {
                context.Respond(s_ping);
            }

            return Task.CompletedTask;
        }
    }
}

/// <summary>Cast throughput: N casts (from 1 or 4 producers), then one call as a barrier. Figures are per cast.</summary>
public class CastBenchmarks
{
    private const int Casts = 100_000;
    private ProcessRuntime _runtime = null!;
    private ProcessRef _server;
    private Value _message;
    private Value _barrier;

    [GlobalSetup]
    public async Task Setup()
    {
        _runtime = new ProcessRuntime();
        _server = await _runtime.StartAsync(new Counter());
        _message = "inc";
        _barrier = "get";
    }

    [GlobalCleanup]
    public ValueTask Cleanup() => _runtime.DisposeAsync();

    [Benchmark(Baseline = true, OperationsPerInvoke = Casts, Description = "Cast, 1 producer")]
    public async Task CastOneProducer()
    {
        for (int i = 0; i < Casts; i++)
        {
            _runtime.Cast(_server, _message);
        }

        await _runtime.CallAsync(_server, _barrier);
    }

    [Benchmark(OperationsPerInvoke = Casts, Description = "Cast, 4 producers")]
    public async Task CastFourProducers()
    {
        Task[] producers = new Task[4];
        for (int p = 0; p < producers.Length; p++)
        {
            producers[p] = Task.Run(() =>
            {
                for (int i = 0; i < Casts / 4; i++)
                {
                    _runtime.Cast(_server, _message);
                }
            });
        }

        await Task.WhenAll(producers);
        await _runtime.CallAsync(_server, _barrier);
    }
}

/// <summary>Starting a process (init included) and stopping it (terminate included).</summary>
public class ProcessStartStopBenchmarks
{
    private ProcessRuntime _runtime = null!;

    [GlobalSetup]
    public void Setup() => _runtime = new ProcessRuntime();

    [GlobalCleanup]
    public ValueTask Cleanup() => _runtime.DisposeAsync();

    [Benchmark(Description = "Start + stop a process")]
    public async Task StartStop()
    {
        ProcessRef server = await _runtime.StartAsync(new Counter());
        await _runtime.StopAsync(server);
    }
}

/// <summary>Replies to every call with its request.</summary>
internal sealed class Echo : GenServer<int>
{
    protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

    protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
        new(CallResult<int>.WithReply(request, state));
}

/// <summary>Counts casts; a call returns the count.</summary>
internal sealed class Counter : GenServer<long>
{
    protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) => new(0L);

    protected override ValueTask<long> HandleCastAsync(Value message, long state) => new(state + 1);

    protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long state) =>
        new(CallResult<long>.WithReply(state, state));
}

/// <summary>
/// Why the call waiter is pooled: one full waiter cycle (arm with a timeout, complete, consume) on a pooled
/// <see cref="CallWaiter"/> against what an unpooled waiter costs (a TaskCompletionSource and a timer per call).
/// </summary>
public class CallWaiterBenchmarks
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(5);
    private static readonly ProcessRef s_target = new("local", 1);
    private CallWaiterPool _pool = null!;
    private Value _reply;

    [GlobalSetup]
    public void Setup()
    {
        _pool = new CallWaiterPool(TimeProvider.System);
        _reply = "pong";
    }

    [Benchmark(Baseline = true, Description = "Unpooled: TaskCompletionSource + timer per call")]
    public Value Unpooled()
    {
        var completion = new TaskCompletionSource<Value>(TaskCreationOptions.RunContinuationsAsynchronously);
        using ITimer timer = TimeProvider.System.CreateTimer(static s => ((TaskCompletionSource<Value>)s!).TrySetException(new TimeoutException()), completion, s_timeout, Timeout.InfiniteTimeSpan);
        completion.TrySetResult(_reply);
        return completion.Task.Result;
    }

    [Benchmark(Description = "Pooled CallWaiter (Noex.Lite)")]
    public Value Pooled()
    {
        CallWaiter waiter = _pool.Rent();
        long token = waiter.Arm(s_target, s_timeout, CancellationToken.None);
        ValueTask<Value> task = waiter.Task;
        waiter.TryComplete(token, _reply);
        return task.Result;
    }
}
