namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class GenServerTests
{
    private static ProcessRuntime NewRuntime(ManualTimeProvider? time = null, string name = "local") =>
        new(new ProcessRuntimeOptions { Name = name, TimeProvider = time });

    [Fact]
    public async Task StartAsync_InitWithArgs_CallSeesInitialState()
    {
        await using var runtime = NewRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe(), 41).Within();

        Assert.Equal(41, (await runtime.CallAsync(server, "get")).AsInt64());
        Assert.True(runtime.IsAlive(server));
        Assert.Equal("local", server.Node);
        Assert.Equal($"local.{server.Id}", server.ToString());
    }

    [Fact]
    public async Task StartAsync_TwoRuntimes_HaveSeparateProcessTables()
    {
        await using var a = NewRuntime(name: "a");
        await using var b = NewRuntime(name: "b");
        ProcessRef inA = await a.StartAsync(new Probe()).Within();

        Assert.False(b.IsAlive(inA));
        await Assert.ThrowsAsync<ServerNotRunningException>(() => b.CallAsync(inA, "get").AsTask()).Within();
        Assert.Equal(1, a.ProcessCount);
        Assert.Equal(0, b.ProcessCount);
    }

    [Fact]
    public async Task StartAsync_SameInstanceTwice_Throws()
    {
        await using var runtime = NewRuntime();
        var probe = new Probe();
        await runtime.StartAsync(probe).Within();

        await Assert.ThrowsAsync<InvalidOperationException>(() => runtime.StartAsync(probe)).Within();
    }

    [Fact]
    public async Task StartAsync_InitThrows_ThrowsInitFailedAndLeavesNothingRunning()
    {
        await using var runtime = NewRuntime();

        var error = await Assert.ThrowsAsync<InitFailedException>(() => runtime.StartAsync(new Probe { ThrowInInit = true })).Within();

        Assert.Equal(ExitReasonKind.Error, error.Reason.Kind);
        Assert.IsType<InvalidOperationException>(error.InnerException);
        Assert.Equal(0, runtime.ProcessCount);
    }

    [Fact]
    public async Task StartAsync_InitSlowerThanTimeout_ThrowsInitTimeoutAndKills()
    {
        var time = new ManualTimeProvider();
        await using var runtime = NewRuntime(time);
        var probe = new Probe { BlockInit = true };
        Task<ProcessRef> start = runtime.StartAsync(probe);
        time.WaitForArmedTimers(1);

        time.Advance(TimeSpan.FromMilliseconds(4999));
        Assert.False(start.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));

        var error = await Assert.ThrowsAsync<InitTimeoutException>(() => start).Within();
        Assert.Equal(TimeSpan.FromMilliseconds(5000), error.Timeout);
        Assert.Equal(0, runtime.ProcessCount);
    }

    [Fact]
    public async Task StartAsync_KilledDuringInit_FailsAtOnceWithServerNotRunning()
    {
        await using var runtime = NewRuntime();
        var probe = new Probe { BlockInit = true };
        Task<ProcessRef> start = runtime.StartAsync(probe, default, new StartOptions { InitTimeout = Timeout.InfiniteTimeSpan });

        Assert.True(runtime.Kill(probe.Self));

        var error = await Assert.ThrowsAsync<ServerNotRunningException>(() => start).Within();
        Assert.Equal(ExitReason.Killed, error.Reason);
        Assert.Equal(0, runtime.ProcessCount);
    }

    [Fact]
    public async Task CallAsync_AfterCasts_SeesAllOfThemInOrder()
    {
        await using var runtime = NewRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe()).Within();

        for (int i = 0; i < 100; i++)
        {
            Assert.True(runtime.Cast(server, "inc"));
        }

        runtime.Cast(server, 1000);
        Assert.Equal(1100, (await runtime.CallAsync(server, "get").Within()).AsInt64());
    }

    [Fact]
    public async Task CallAsync_AsyncHandler_NothingElseRunsUntilItCompletes()
    {
        await using var runtime = NewRuntime();
        var probe = new Probe();
        ProcessRef server = await runtime.StartAsync(probe).Within();

        Task<Value> blocked = runtime.CallAsync(server, "block").AsTask();
        await probe.Blocked.Task.Within();
        for (int i = 0; i < 10; i++)
        {
            runtime.Cast(server, "inc");
        }

        Task<Value> after = runtime.CallAsync(server, "get").AsTask();
        Assert.False(after.IsCompleted);
        Assert.Equal(1, Volatile.Read(ref probe.Concurrent));

        probe.Gate.SetResult();
        Assert.Equal(0, (await blocked.Within()).AsInt64());
        Assert.Equal(10, (await after.Within()).AsInt64());
        Assert.Equal(1, probe.MaxConcurrent);
        Assert.Equal(0, (await runtime.CallAsync(server, "async").Within()).AsInt64() - 10);
    }

    [Fact]
    public async Task CallAsync_NoReplyThenDeferredReply_CompletesTheCaller()
    {
        await using var runtime = NewRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe(), 7).Within();

        Task<Value> deferred = runtime.CallAsync(server, "defer").AsTask();
        Value released = await runtime.CallAsync(server, "release").Within();

        Assert.True(released.AsBoolean());
        Assert.Equal(7, (await deferred.Within()).AsInt64());
    }

    [Fact]
    public async Task CallAsync_DeferredAndTheServerStops_FailsWithServerNotRunning()
    {
        await using var runtime = NewRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe()).Within();
        Task<Value> deferred = runtime.CallAsync(server, "defer", Timeout.InfiniteTimeSpan).AsTask();
        Assert.Equal(0, (await runtime.CallAsync(server, "get").Within()).AsInt64());

        await runtime.StopAsync(server, ExitReason.Shutdown).Within();

        var error = await Assert.ThrowsAsync<ServerNotRunningException>(() => deferred).Within();
        Assert.Equal(ExitReason.Shutdown, error.Reason);
    }

    [Fact]
    public async Task CallAsync_NoReplyWithin5000ms_ThrowsCallTimeoutAndDropsTheLateReply()
    {
        var time = new ManualTimeProvider();
        await using var runtime = NewRuntime(time);
        ProcessRef server = await runtime.StartAsync(new Probe()).Within();

        Task<Value> call = runtime.CallAsync(server, "defer").AsTask();
        time.WaitForArmedTimers(1);
        time.Advance(TimeSpan.FromMilliseconds(4999));
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));

        var error = await Assert.ThrowsAsync<CallTimeoutException>(() => call).Within();
        Assert.Equal(server, error.Target);
        Assert.Equal(TimeSpan.FromMilliseconds(5000), error.Timeout);
        Assert.Contains("5000 ms", error.Message);
        // The server answers late: the reply finds nobody waiting.
        Assert.False((await runtime.CallAsync(server, "release").Within()).AsBoolean());
    }

    [Fact]
    public async Task CallAsync_ReusedWaiterAfterTimeout_IsNotFailedByTheOldTimer()
    {
        var time = new ManualTimeProvider();
        await using var runtime = NewRuntime(time);
        ProcessRef server = await runtime.StartAsync(new Probe()).Within();

        Task<Value> first = runtime.CallAsync(server, "defer", TimeSpan.FromSeconds(1)).AsTask();
        time.WaitForArmedTimers(1);
        time.Advance(TimeSpan.FromSeconds(1));
        await Assert.ThrowsAsync<CallTimeoutException>(() => first).Within();

        // Many calls on pooled waiters, no time passing: none may time out.
        for (int i = 0; i < 1000; i++)
        {
            Assert.Equal(0, (await runtime.CallAsync(server, "get", TimeSpan.FromSeconds(1)).Within()).AsInt64());
        }
    }

    [Fact]
    public async Task CallAsync_TimerKeptFromEarlierCall_TimesOutAtTheNewDeadline()
    {
        var time = new ManualTimeProvider();
        await using var runtime = NewRuntime(time);
        ProcessRef server = await runtime.StartAsync(new Probe()).Within();

        // The first call's timer (due at 1 s) stays armed after its reply; the second call's deadline is 1.5 s.
        Assert.Equal(0, (await runtime.CallAsync(server, "get", TimeSpan.FromSeconds(1)).Within()).AsInt64());
        time.Advance(TimeSpan.FromMilliseconds(500));
        Task<Value> call = runtime.CallAsync(server, "defer", TimeSpan.FromSeconds(1)).AsTask();
        time.WaitForArmedTimers(1);
        time.Advance(TimeSpan.FromMilliseconds(500));
        time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(2));

        await Assert.ThrowsAsync<CallTimeoutException>(() => call).Within();
    }

    [Fact]
    public async Task CallAsync_ShorterTimeoutAfterLongerCall_TimesOutAtItsOwnDeadline()
    {
        var time = new ManualTimeProvider();
        await using var runtime = NewRuntime(time);
        ProcessRef server = await runtime.StartAsync(new Probe()).Within();

        Assert.Equal(0, (await runtime.CallAsync(server, "get", TimeSpan.FromSeconds(30)).Within()).AsInt64());
        Task<Value> call = runtime.CallAsync(server, "defer", TimeSpan.FromSeconds(1)).AsTask();
        time.WaitForArmedTimers(1);
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(call.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));

        await Assert.ThrowsAsync<CallTimeoutException>(() => call).Within();
    }

    [Fact]
    public async Task CallAsync_Canceled_ThrowsOperationCanceled()
    {
        await using var runtime = NewRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe()).Within();
        using var cts = new CancellationTokenSource();

        Task<Value> call = runtime.CallAsync(server, "defer", Timeout.InfiniteTimeSpan, cts.Token).AsTask();
        cts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call).Within();
    }

    [Fact]
    public async Task CallAsync_HandlerThrows_FailsCallAndProcessExitsWithTheError()
    {
        await using var runtime = NewRuntime();
        var probe = new Probe();
        ProcessRef server = await runtime.StartAsync(probe).Within();

        var error = await Assert.ThrowsAsync<CallFailedException>(() => runtime.CallAsync(server, "crash").AsTask()).Within();

        Assert.Equal(server, error.Target);
        Assert.Equal(ExitReasonKind.Error, error.Reason.Kind);
        Assert.Equal("InvalidOperationException", error.Reason.ErrorType);
        Assert.Equal("boom", error.Reason.Message);
        Assert.IsType<InvalidOperationException>(error.InnerException);
        ExitReason terminated = await probe.Terminated.Task.Within();
        Assert.Equal(error.Reason, terminated);
        Assert.False(runtime.IsAlive(server));
    }

    [Fact]
    public async Task CallAsync_QueuedBehindACrash_FailsWithServerNotRunningNamingTheReason()
    {
        await using var runtime = NewRuntime();
        var probe = new Probe();
        ProcessRef server = await runtime.StartAsync(probe).Within();
        Task<Value> blocked = runtime.CallAsync(server, "block").AsTask();
        await probe.Blocked.Task.Within();
        Task<Value> crash = runtime.CallAsync(server, "crash").AsTask();
        Task<Value> queued = runtime.CallAsync(server, "get", Timeout.InfiniteTimeSpan).AsTask();

        probe.Gate.SetResult();

        await blocked.Within();
        await Assert.ThrowsAsync<CallFailedException>(() => crash).Within();
        var error = await Assert.ThrowsAsync<ServerNotRunningException>(() => queued).Within();
        Assert.Equal(ExitReasonKind.Error, error.Reason?.Kind);
    }

    [Fact]
    public async Task CallAsync_StoppedProcess_FailsAtOnceWithServerNotRunning()
    {
        await using var runtime = NewRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe()).Within();
        await runtime.StopAsync(server).Within();

        ValueTask<Value> call = runtime.CallAsync(server, "get", Timeout.InfiniteTimeSpan);

        Assert.True(call.IsCompleted);
        var error = await Assert.ThrowsAsync<ServerNotRunningException>(() => call.AsTask());
        Assert.Contains(server.ToString(), error.Message);
    }

    [Fact]
    public async Task CastAsync_HandlerThrows_ProcessExitsWithError()
    {
        await using var runtime = NewRuntime();
        var probe = new Probe();
        ProcessRef server = await runtime.StartAsync(probe).Within();

        runtime.Cast(server, "crash");

        ExitReason reason = await probe.Terminated.Task.Within();
        Assert.Equal("cast boom", reason.Message);
        Assert.False(runtime.IsAlive(server));
    }

    [Fact]
    public async Task Cast_StoppedProcess_ReturnsFalseAndCountsDeadLetter()
    {
        await using var runtime = NewRuntime();
        ProcessRef server = await runtime.StartAsync(new Probe()).Within();
        await runtime.StopAsync(server).Within();

        Assert.False(runtime.Cast(server, "inc"));
        Assert.Equal(1, runtime.DeadLetters);
    }

    [Fact]
    public async Task Cast_BoundedMailboxFull_ThrowsMailboxFullOrDrops()
    {
        await using var runtime = NewRuntime();
        var rejecting = new Probe();
        ProcessRef server = await runtime.StartAsync(rejecting, default, new StartOptions { MailboxCapacity = 3 }).Within();
        Task<Value> blocked = runtime.CallAsync(server, "block").AsTask();
        await rejecting.Blocked.Task.Within();

        Assert.True(runtime.Cast(server, "inc"));
        Assert.True(runtime.Cast(server, "inc"));
        Task<Value> queued = runtime.CallAsync(server, "get").AsTask();
        var error = Assert.Throws<MailboxFullException>(() => runtime.Cast(server, "inc"));
        Assert.Equal(3, error.Capacity);
        await Assert.ThrowsAsync<MailboxFullException>(() => runtime.CallAsync(server, "get").AsTask()).Within();

        rejecting.Gate.SetResult();
        await blocked.Within();
        Assert.Equal(2, (await queued.Within()).AsInt64());

        var dropping = new Probe();
        ProcessRef lossy = await runtime.StartAsync(dropping, default, new StartOptions { MailboxCapacity = 2, MailboxOverflow = MailboxOverflow.DropNewest }).Within();
        Task<Value> blocked2 = runtime.CallAsync(lossy, "block").AsTask();
        await dropping.Blocked.Task.Within();
        Assert.True(runtime.Cast(lossy, "inc"));
        Task<Value> queued2 = runtime.CallAsync(lossy, "get").AsTask();
        Assert.False(runtime.Cast(lossy, "inc"));
        Assert.Equal(1, runtime.DeadLetters);
        dropping.Gate.SetResult();
        await blocked2.Within();
        Assert.Equal(1, (await queued2.Within()).AsInt64());
    }

    [Fact]
    public async Task StartAsync_RuntimeMailboxCapacity_BoundsProcessesWithoutTheirOwnAndTheirsWins()
    {
        await using var runtime = new ProcessRuntime(new ProcessRuntimeOptions { MailboxCapacity = 1, MailboxOverflow = MailboxOverflow.DropNewest });
        var byDefault = new Probe();
        ProcessRef server = await runtime.StartAsync(byDefault).Within();
        Task<Value> blocked = runtime.CallAsync(server, "block").AsTask();
        await byDefault.Blocked.Task.Within();

        // The runtime's bound and policy: one queued, the next cast dropped and counted, a call failed rather than dropped.
        Assert.True(runtime.Cast(server, "inc"));
        Assert.False(runtime.Cast(server, "inc"));
        Assert.Equal(1, runtime.DeadLetters);
        var full = await Assert.ThrowsAsync<MailboxFullException>(() => runtime.CallAsync(server, "get").AsTask()).Within();
        Assert.Equal(1, full.Capacity);

        // Its own bound comes with its own policy (Reject by default).
        var own = new Probe();
        ProcessRef bounded = await runtime.StartAsync(own, default, new StartOptions { MailboxCapacity = 2 }).Within();
        Task<Value> blockedOwn = runtime.CallAsync(bounded, "block").AsTask();
        await own.Blocked.Task.Within();
        Assert.True(runtime.Cast(bounded, "inc"));
        Assert.True(runtime.Cast(bounded, "inc"));
        Assert.Equal(2, Assert.Throws<MailboxFullException>(() => runtime.Cast(bounded, "inc")).Capacity);

        // Unbounded on request, whatever the runtime's default.
        var free = new Probe();
        ProcessRef unbounded = await runtime.StartAsync(free, default, new StartOptions { MailboxCapacity = StartOptions.UnboundedMailbox }).Within();
        Task<Value> blockedFree = runtime.CallAsync(unbounded, "block").AsTask();
        await free.Blocked.Task.Within();
        for (int i = 0; i < 1000; i++)
        {
            Assert.True(runtime.Cast(unbounded, "inc"));
        }

        Assert.Equal(1, runtime.DeadLetters);
        byDefault.Gate.SetResult();
        own.Gate.SetResult();
        free.Gate.SetResult();
        await Task.WhenAll(blocked, blockedOwn, blockedFree).Within();
        // The one-slot mailbox takes the call only once the queued cast has left it.
        Assert.True(runtime.TryGetCell(server, out ProcessCell? cell));
        Assert.True(SpinWait.SpinUntil(() => cell.Count == 0, Bounded.Wait));
        Assert.Equal(1, (await runtime.CallAsync(server, "get").Within()).AsInt64());
        Assert.Equal(2, (await runtime.CallAsync(bounded, "get").Within()).AsInt64());
        Assert.Equal(1000, (await runtime.CallAsync(unbounded, "get").Within()).AsInt64());
    }

    [Fact]
    public void New_NegativeMailboxCapacity_ThrowsNamingIt()
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new ProcessRuntime(new ProcessRuntimeOptions { MailboxCapacity = -1 }));

        Assert.Equal(nameof(ProcessRuntimeOptions.MailboxCapacity), e.ParamName);
    }

    [Fact]
    public async Task StopAsync_WithReason_RunsTerminateWithItAndRemovesTheProcess()
    {
        await using var runtime = NewRuntime();
        var probe = new Probe();
        ProcessRef server = await runtime.StartAsync(probe).Within();

        await runtime.StopAsync(server, ExitReason.Shutdown).Within();

        Assert.Equal(ExitReason.Shutdown, await probe.Terminated.Task.Within());
        Assert.False(runtime.IsAlive(server));
        Assert.Equal(0, runtime.ProcessCount);
        await Assert.ThrowsAsync<ServerNotRunningException>(() => runtime.StopAsync(server)).Within();
    }

    [Fact]
    public async Task StopSelf_FromAHandler_EndsTheProcessNormally()
    {
        await using var runtime = NewRuntime();
        var probe = new Probe();
        ProcessRef server = await runtime.StartAsync(probe).Within();

        Assert.Equal("ok", (await runtime.CallAsync(server, "stop").Within()).AsString());

        Assert.Equal(ExitReason.Normal, await probe.Terminated.Task.Within());
    }

    [Fact]
    public async Task Kill_BlockedProcess_EndsItWithKilledAtOnceWithoutTerminate()
    {
        await using var runtime = NewRuntime();
        var probe = new Probe();
        ProcessRef server = await runtime.StartAsync(probe).Within();
        Task<Value> blocked = runtime.CallAsync(server, "block").AsTask();
        await probe.Blocked.Task.Within();
        Task<Value> queued = runtime.CallAsync(server, "get", Timeout.InfiniteTimeSpan).AsTask();
        Task<ExitReason> exit = runtime.WaitForExitAsync(server);

        Assert.True(runtime.Kill(server));

        Assert.Equal(ExitReason.Killed, await exit.Within());
        var error = await Assert.ThrowsAsync<ServerNotRunningException>(() => queued).Within();
        Assert.Equal(ExitReason.Killed, error.Reason);
        Assert.False(probe.Terminated.Task.IsCompleted);
        probe.Gate.SetResult();
        Assert.False(runtime.Kill(server));
    }

    [Fact]
    public async Task SendAfter_DelayPasses_DeliversToHandleInfo()
    {
        var time = new ManualTimeProvider();
        await using var runtime = NewRuntime(time);
        var probe = new Probe();
        ProcessRef server = await runtime.StartAsync(probe).Within();

        TimerRef timer = runtime.SendAfter(server, "tick", TimeSpan.FromSeconds(10));
        time.Advance(TimeSpan.FromSeconds(9));
        Assert.False(probe.Infos.Reader.TryPeek(out _));
        time.Advance(TimeSpan.FromSeconds(1));

        InfoMessage info = await probe.NextInfoAsync();
        Assert.Equal(InfoKind.Message, info.Kind);
        Assert.Equal("tick", info.Message.AsString());
        Assert.False(timer.Cancel());
    }

    [Fact]
    public async Task SendAfter_CanceledBeforeDue_DeliversNothing()
    {
        var time = new ManualTimeProvider();
        await using var runtime = NewRuntime(time);
        var probe = new Probe();
        ProcessRef server = await runtime.StartAsync(probe).Within();

        TimerRef timer = runtime.SendAfter(server, "tick", TimeSpan.FromSeconds(10));
        Assert.True(timer.Cancel());
        time.Advance(TimeSpan.FromSeconds(20));
        runtime.Send(server, "marker");

        Assert.Equal("marker", (await probe.NextInfoAsync()).Message.AsString());
    }

    [Fact]
    public async Task HandleInfoAsync_Throws_ProcessExitsWithError()
    {
        await using var runtime = NewRuntime();
        var probe = new Probe();
        ProcessRef server = await runtime.StartAsync(probe).Within();

        Assert.True(runtime.Send(server, "crash"));

        Assert.Equal("info boom", (await probe.Terminated.Task.Within()).Message);
    }

    [Fact]
    public async Task DisposeAsync_RunningProcesses_StopsThemNewestFirstWithShutdown()
    {
        var log = new List<string>();
        var runtime = NewRuntime();
        var first = new Probe { Log = log, Label = "a" };
        var second = new Probe { Log = log, Label = "b" };
        await runtime.StartAsync(first).Within();
        await runtime.StartAsync(second).Within();

        await runtime.DisposeAsync();

        Assert.Equal(["start a", "start b", "stop b", "stop a"], log);
        Assert.Equal(ExitReason.Shutdown, await first.Terminated.Task.Within());
        await Assert.ThrowsAsync<ObjectDisposedException>(() => runtime.StartAsync(new Probe())).Within();
    }

    [Fact]
    public void ExitReason_Kinds_PrintAsTheSeedsNameThem()
    {
        Assert.Equal("normal", ExitReason.Normal.ToString());
        Assert.Equal("shutdown", ExitReason.Shutdown.ToString());
        Assert.Equal("killed", ExitReason.Killed.ToString());
        Assert.Equal("noproc", ExitReason.NoProc.ToString());
        Assert.Equal("noconnection", ExitReason.NoConnection.ToString());
        Assert.Equal("error(InvalidOperationException: x)", ExitReason.Error(new InvalidOperationException("x")).ToString());
        Assert.Equal(ExitReason.Error("x", "InvalidOperationException"), ExitReason.Error(new InvalidOperationException("x")));
        Assert.Equal("""{"type":"error","message":"x","errorType":null}""", ExitReason.Error("x").ToValue().ToString());
        Assert.False(ExitReason.Shutdown.IsAbnormal);
        Assert.True(ExitReason.Killed.IsAbnormal);
    }
}
