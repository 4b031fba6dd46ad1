using System.Collections.Concurrent;

namespace Noex.Lite.Tests;

/// <summary>
/// Races that must hold on a loaded 2-core machine. Sizes are chosen to finish in seconds there; every wait
/// is bounded, so a lost message or a hung call fails the test instead of hanging the run.
/// </summary>
[Trait("Category", "Stress")]
[Trait("Category", Category.Stress)]
public class RuntimeStressTests
{
    [Fact]
    public async Task Cast_ManyProducers_LoseNothingAndKeepEachProducersOrder()
    {
        const int Producers = 8;
        const int PerProducer = 25_000;
        await using var runtime = new ProcessRuntime();
        var checker = new OrderChecker(Producers);
        ProcessRef server = await runtime.StartAsync(checker).Within();
        using var barrier = new Barrier(Producers);

        Task[] producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() =>
        {
            barrier.SignalAndWait(Bounded.Wait);
            for (int i = 0; i < PerProducer; i++)
            {
                Assert.True(runtime.Cast(server, Value.Array(p, i)));
            }
        })).ToArray();
        await Task.WhenAll(producers).Within();

        Value result = await runtime.CallAsync(server, "result").Within();
        Assert.Equal(Producers * PerProducer, result["received"].AsInt64());
        Assert.Equal(0, result["violations"].AsInt64());
    }

    [Fact]
    public async Task Cast_AMillionThenACall_TheCallSeesAllOfThem()
    {
        const int Casts = 1_000_000;
        await using var runtime = new ProcessRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe()).Within();
        Value inc = "inc";

        for (int i = 0; i < Casts; i++)
        {
            runtime.Cast(server, inc);
        }

        Assert.Equal(Casts, (await runtime.CallAsync(server, "get", Bounded.Wait).Within()).AsInt64());
    }

    [Fact]
    public async Task CallAsync_RacingWithStop_EveryCallEndsWithAReplyOrServerNotRunning()
    {
        await using var runtime = new ProcessRuntime();
        for (int round = 0; round < 100; round++)
        {
            ProcessRef server = await runtime.StartAsync(new Probe()).Within();
            using var barrier = new Barrier(5);
            Task<int>[] callers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                barrier.SignalAndWait(Bounded.Wait);
                int replies = 0;
                for (int i = 0; i < 50; i++)
                {
                    try
                    {
                        // No timeout: if a call could be lost by the stop, this would hang (and the bound below fail).
                        await runtime.CallAsync(server, "get", Timeout.InfiniteTimeSpan);
                        replies++;
                    }
                    catch (ServerNotRunningException)
                    {
                    }
                }

                return replies;
            })).ToArray();
            Task stopper = Task.Run(async () =>
            {
                barrier.SignalAndWait(Bounded.Wait);
                await runtime.StopAsync(server);
            });

            await Task.WhenAll(callers).Within();
            await stopper.Within();
            Assert.False(runtime.IsAlive(server));
        }
    }

    [Fact]
    public async Task Monitor_RacingWithTheTargetEnding_AlwaysExactlyOneDown()
    {
        await using var runtime = new ProcessRuntime();
        var watcher = new Probe();
        ProcessRef watcherRef = await runtime.StartAsync(watcher).Within();
        for (int round = 0; round < 300; round++)
        {
            ProcessRef target = await runtime.StartAsync(new Probe()).Within();
            Task kill = Task.Run(() => runtime.Kill(target));
            MonitorRef monitor = runtime.Monitor(watcherRef, target);
            await kill.Within();

            InfoMessage down = await watcher.NextInfoAsync();
            Assert.Equal(monitor, down.Monitor);
            Assert.True(down.Reason == ExitReason.Killed || down.Reason == ExitReason.NoProc, down.Reason.ToString());
        }

        runtime.Send(watcherRef, "end");
        Assert.Equal("end", (await watcher.NextInfoAsync()).Message.AsString());
    }

    [Fact]
    public async Task Supervisor_RepeatedCrashesFromManyThreads_ObeysIntensityExactly()
    {
        var time = new ManualTimeProvider();
        await using var runtime = new ProcessRuntime(new ProcessRuntimeOptions { TimeProvider = time });
        var restarts = new ConcurrentQueue<LifecycleEvent>();
        runtime.Events.Subscribe(e =>
        {
            if (e.Kind == LifecycleEventKind.Restarted)
            {
                restarts.Enqueue(e);
            }
        });
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions
        {
            MaxRestarts = 5,
            Within = TimeSpan.FromHours(1),
            Children = [new ChildSpec("a", () => new Probe()), new ChildSpec("b", () => new Probe())],
        }).Within();
        Task<ExitReason> exit = runtime.WaitForExitAsync(supervisor);

        // Crash whatever children exist, from four threads, until the supervisor gives up.
        Task[] crashers = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!exit.IsCompleted)
            {
                try
                {
                    foreach (ChildInfo child in await runtime.GetChildrenAsync(supervisor))
                    {
                        if (!child.Process.IsEmpty)
                        {
                            runtime.Cast(child.Process, "crash");
                        }
                    }
                }
                catch (ServerNotRunningException)
                {
                }
            }
        })).ToArray();

        ExitReason reason = await exit.Within();
        await Task.WhenAll(crashers).Within();

        Assert.Equal(nameof(MaxRestartsExceededException), reason.ErrorType);
        Assert.Equal(5, restarts.Count);
        Assert.Equal([1, 2, 3, 4, 5], restarts.Select(e => e.Attempt));
        Assert.Equal(0, runtime.ProcessCount);
    }

    /// <summary>Counts casts of [producer, seq] and the ones that arrive out of their producer's order.</summary>
    private sealed class OrderChecker(int producers) : GenServer<long[]>
    {
        private long _received;
        private long _violations;

        protected override ValueTask<long[]> InitAsync(Value args, CancellationToken cancellationToken) => new(new long[producers]);

        protected override ValueTask<long[]> HandleCastAsync(Value message, long[] next)
        {
            int producer = (int)message[0].AsInt64();
            long seq = message[1].AsInt64();
            if (seq != next[producer])
            {
                _violations++;
            }

            next[producer] = seq + 1;
            _received++;
            return new(next);
        }

        protected override ValueTask<CallResult<long[]>> HandleCallAsync(Value request, CallFrom from, long[] state) =>
            new(CallResult<long[]>.WithReply(Value.Object(("received", _received), ("violations", _violations)), state));
    }
}
