using System.Threading.Channels;

namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class SupervisorTests
{
    private static ChildSpec Spec(string id, RestartType restart = RestartType.Permanent, List<string>? log = null) =>
        new(id, () => new Probe { Log = log, Label = id }) { Restart = restart };

    private static async Task<Dictionary<string, ProcessRef>> ChildrenAsync(ProcessRuntime runtime, ProcessRef supervisor) =>
        (await runtime.GetChildrenAsync(supervisor).Within()).ToDictionary(c => c.Id, c => c.Process);

    private static Channel<LifecycleEvent> Watch(ProcessRuntime runtime, LifecycleEventKind kind)
    {
        var channel = Channel.CreateUnbounded<LifecycleEvent>();
        runtime.Events.Subscribe(e =>
        {
            if (e.Kind == kind)
            {
                channel.Writer.TryWrite(e);
            }
        });
        return channel;
    }

    [Fact]
    public async Task StartSupervisorAsync_Children_StartedInOrderAndStoppedInReverse()
    {
        var log = new List<string>();
        var runtime = new ProcessRuntime();
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions { Children = [Spec("a", log: log), Spec("b", log: log), Spec("c", log: log)] }).Within();

        Dictionary<string, ProcessRef> children = await ChildrenAsync(runtime, supervisor);
        Assert.Equal(["a", "b", "c"], children.Keys);
        await runtime.StopAsync(supervisor, ExitReason.Shutdown).Within();

        Assert.Equal(["start a", "start b", "start c", "stop c", "stop b", "stop a"], log);
        Assert.All(children.Values, c => Assert.False(runtime.IsAlive(c)));
        await runtime.DisposeAsync();
    }

    [Fact]
    public async Task OneForOne_ChildCrashes_OnlyThatChildRestarts()
    {
        await using var runtime = new ProcessRuntime();
        Channel<LifecycleEvent> restarts = Watch(runtime, LifecycleEventKind.Restarted);
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions { Children = [Spec("a"), Spec("b")] }).Within();
        Dictionary<string, ProcessRef> before = await ChildrenAsync(runtime, supervisor);

        runtime.Cast(before["a"], "crash");
        LifecycleEvent restarted = await restarts.Reader.ReadAsync().AsTask().Within();

        Dictionary<string, ProcessRef> after = await ChildrenAsync(runtime, supervisor);
        Assert.Equal(before["a"], restarted.Other);
        Assert.Equal(after["a"], restarted.Process);
        Assert.Equal(1, restarted.Attempt);
        Assert.NotEqual(before["a"], after["a"]);
        Assert.Equal(before["b"], after["b"]);
        Assert.True(runtime.IsAlive(after["a"]));
    }

    [Fact]
    public async Task OneForAll_ChildCrashes_AllChildrenRestart()
    {
        await using var runtime = new ProcessRuntime();
        Channel<LifecycleEvent> restarts = Watch(runtime, LifecycleEventKind.Restarted);
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions { Strategy = SupervisorStrategy.OneForAll, Children = [Spec("a"), Spec("b"), Spec("c")] }).Within();
        Dictionary<string, ProcessRef> before = await ChildrenAsync(runtime, supervisor);

        runtime.Cast(before["b"], "crash");
        for (int i = 0; i < 3; i++)
        {
            await restarts.Reader.ReadAsync().AsTask().Within();
        }

        Dictionary<string, ProcessRef> after = await ChildrenAsync(runtime, supervisor);
        Assert.All(before, pair => Assert.NotEqual(pair.Value, after[pair.Key]));
        Assert.All(before.Values, c => Assert.False(runtime.IsAlive(c)));
        Assert.All(after.Values, c => Assert.True(runtime.IsAlive(c)));
    }

    [Fact]
    public async Task RestForOne_ChildCrashes_ItAndLaterChildrenRestart()
    {
        await using var runtime = new ProcessRuntime();
        Channel<LifecycleEvent> restarts = Watch(runtime, LifecycleEventKind.Restarted);
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions { Strategy = SupervisorStrategy.RestForOne, Children = [Spec("a"), Spec("b"), Spec("c")] }).Within();
        Dictionary<string, ProcessRef> before = await ChildrenAsync(runtime, supervisor);

        runtime.Cast(before["b"], "crash");
        await restarts.Reader.ReadAsync().AsTask().Within();
        await restarts.Reader.ReadAsync().AsTask().Within();

        Dictionary<string, ProcessRef> after = await ChildrenAsync(runtime, supervisor);
        Assert.Equal(before["a"], after["a"]);
        Assert.NotEqual(before["b"], after["b"]);
        Assert.NotEqual(before["c"], after["c"]);
        Assert.False(runtime.IsAlive(before["c"]));
    }

    [Fact]
    public async Task Transient_NormalExitIsNotRestartedButACrashIs()
    {
        await using var runtime = new ProcessRuntime();
        Channel<LifecycleEvent> restarts = Watch(runtime, LifecycleEventKind.Restarted);
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions { Children = [Spec("t", RestartType.Transient), Spec("u", RestartType.Transient)] }).Within();
        Dictionary<string, ProcessRef> before = await ChildrenAsync(runtime, supervisor);

        await runtime.StopAsync(before["t"]).Within();
        runtime.Cast(before["u"], "crash");
        LifecycleEvent restarted = await restarts.Reader.ReadAsync().AsTask().Within();

        Dictionary<string, ProcessRef> after = await ChildrenAsync(runtime, supervisor);
        Assert.True(after["t"].IsEmpty);
        Assert.Equal(restarted.Process, after["u"]);
        Assert.False(restarts.Reader.TryRead(out _));
    }

    [Fact]
    public async Task Temporary_ChildCrashes_IsForgotten()
    {
        await using var runtime = new ProcessRuntime();
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions { Children = [Spec("tmp", RestartType.Temporary), Spec("p")] }).Within();
        ProcessRef tmp = (await ChildrenAsync(runtime, supervisor))["tmp"];
        Task<ExitReason> exit = runtime.WaitForExitAsync(tmp);

        runtime.Cast(tmp, "crash");
        await exit.Within();

        // The exit signal is handled before the next request, so the list no longer has it.
        Assert.Equal(["p"], (await ChildrenAsync(runtime, supervisor)).Keys);
    }

    [Fact]
    public async Task Intensity_MoreThanMaxRestartsInTheWindow_SupervisorStopsWithChildren()
    {
        var time = new ManualTimeProvider();
        await using var runtime = new ProcessRuntime(new ProcessRuntimeOptions { TimeProvider = time });
        Channel<LifecycleEvent> restarts = Watch(runtime, LifecycleEventKind.Restarted);
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions { Children = [Spec("a"), Spec("b")] }).Within();
        Task<ExitReason> supervisorExit = runtime.WaitForExitAsync(supervisor);
        ProcessRef b = (await ChildrenAsync(runtime, supervisor))["b"];

        for (int i = 1; i <= 3; i++)
        {
            ProcessRef a = (await ChildrenAsync(runtime, supervisor))["a"];
            runtime.Cast(a, "crash");
            Assert.Equal(i, (await restarts.Reader.ReadAsync().AsTask().Within()).Attempt);
            time.Advance(TimeSpan.FromSeconds(1));
        }

        runtime.Cast((await ChildrenAsync(runtime, supervisor))["a"], "crash");

        ExitReason reason = await supervisorExit.Within();
        Assert.Equal(nameof(MaxRestartsExceededException), reason.ErrorType);
        Assert.Contains("3 restarts within 5000 ms", reason.Message);
        Assert.False(runtime.IsAlive(b));
        Assert.Equal(0, runtime.ProcessCount);
    }

    [Fact]
    public async Task Intensity_RestartsSpreadBeyondTheWindow_SupervisorKeepsGoing()
    {
        var time = new ManualTimeProvider();
        await using var runtime = new ProcessRuntime(new ProcessRuntimeOptions { TimeProvider = time });
        Channel<LifecycleEvent> restarts = Watch(runtime, LifecycleEventKind.Restarted);
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions { MaxRestarts = 1, Within = TimeSpan.FromSeconds(5), Children = [Spec("a")] }).Within();

        for (int i = 0; i < 10; i++)
        {
            runtime.Cast((await ChildrenAsync(runtime, supervisor))["a"], "crash");
            Assert.Equal(1, (await restarts.Reader.ReadAsync().AsTask().Within()).Attempt);
            time.Advance(TimeSpan.FromSeconds(6));
        }

        Assert.True(runtime.IsAlive(supervisor));
    }

    [Fact]
    public async Task SimpleOneForOne_StartChild_UsesTheTemplateWithArgsAndRestartsAlone()
    {
        await using var runtime = new ProcessRuntime();
        Channel<LifecycleEvent> restarts = Watch(runtime, LifecycleEventKind.Restarted);
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions
        {
            Strategy = SupervisorStrategy.SimpleOneForOne,
            ChildTemplate = new ChildSpec("worker", () => new Probe()),
        }).Within();

        ProcessRef first = await runtime.StartChildAsync(supervisor, 10).Within();
        ProcessRef second = await runtime.StartChildAsync(supervisor, 20).Within();
        Assert.Equal(10, (await runtime.CallAsync(first, "get").Within()).AsInt64());
        Assert.Equal(20, (await runtime.CallAsync(second, "get").Within()).AsInt64());
        Assert.Equal(["child_1", "child_2"], (await ChildrenAsync(runtime, supervisor)).Keys);

        runtime.Cast(first, "crash");
        ProcessRef restarted = (await restarts.Reader.ReadAsync().AsTask().Within()).Process;
        Assert.Equal(10, (await runtime.CallAsync(restarted, "get").Within()).AsInt64());

        await Assert.ThrowsAsync<SupervisorChildException>(() => runtime.StartChildAsync(supervisor, Spec("static"))).Within();
        await runtime.TerminateChildAsync(supervisor, "child_2").Within();
        Assert.Equal(["child_1"], (await ChildrenAsync(runtime, supervisor)).Keys);
    }

    [Fact]
    public async Task StartSupervisorAsync_SimpleOneForOneMisconfigured_Throws()
    {
        await using var runtime = new ProcessRuntime();

        await Assert.ThrowsAsync<ArgumentException>(() => runtime.StartSupervisorAsync(new SupervisorOptions { Strategy = SupervisorStrategy.SimpleOneForOne })).Within();
        await Assert.ThrowsAsync<ArgumentException>(() => runtime.StartSupervisorAsync(new SupervisorOptions
        {
            Strategy = SupervisorStrategy.SimpleOneForOne,
            ChildTemplate = Spec("t"),
            Children = [Spec("x")],
        })).Within();
        await Assert.ThrowsAsync<ArgumentException>(() => runtime.StartSupervisorAsync(new SupervisorOptions { Children = [Spec("x"), Spec("x")] })).Within();
    }

    [Fact]
    public async Task StartChildAsync_TerminateAndRestart_ManageAStaticChild()
    {
        await using var runtime = new ProcessRuntime();
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions()).Within();

        ProcessRef child = await runtime.StartChildAsync(supervisor, Spec("x")).Within();
        await Assert.ThrowsAsync<SupervisorChildException>(() => runtime.StartChildAsync(supervisor, Spec("x"))).Within();
        await runtime.TerminateChildAsync(supervisor, "x").Within();
        Assert.False(runtime.IsAlive(child));
        Assert.True((await ChildrenAsync(runtime, supervisor))["x"].IsEmpty);

        ProcessRef again = await runtime.RestartChildAsync(supervisor, "x").Within();
        Assert.True(runtime.IsAlive(again));
        await Assert.ThrowsAsync<SupervisorChildException>(() => runtime.TerminateChildAsync(supervisor, "nope")).Within();
    }

    [Fact]
    public async Task StartSupervisorAsync_ChildInitFails_StopsStartedChildrenAndFails()
    {
        var log = new List<string>();
        await using var runtime = new ProcessRuntime();

        await Assert.ThrowsAsync<InitFailedException>(() => runtime.StartSupervisorAsync(new SupervisorOptions
        {
            Children = [Spec("a", log: log), new ChildSpec("bad", () => new Probe { ThrowInInit = true })],
        })).Within();

        Assert.Equal(["start a", "stop a"], log);
        Assert.Equal(0, runtime.ProcessCount);
    }

    [Fact]
    public async Task LinkTo_ParentEnds_SupervisorStopsItsChildrenAndEndsWithTheSameReason()
    {
        var log = new List<string>();
        await using var runtime = new ProcessRuntime();
        ProcessRef parent = await runtime.StartAsync(new Probe { Trap = true }).Within();
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions { Children = [Spec("a", log: log)] }, new StartOptions { LinkTo = parent }).Within();
        Task<ExitReason> exit = runtime.WaitForExitAsync(supervisor);

        await runtime.StopAsync(parent, ExitReason.Shutdown).Within();

        Assert.Equal(ExitReason.Shutdown, await exit.Within());
        Assert.Equal(["start a", "stop a"], log);
    }

    [Fact]
    public async Task Shutdown_ChildStuckInTerminate_IsKilledAfterItsShutdownTimeout()
    {
        var time = new ManualTimeProvider();
        await using var runtime = new ProcessRuntime(new ProcessRuntimeOptions { TimeProvider = time });
        var stuck = new Probe { BlockTerminate = true };
        ProcessRef supervisor = await runtime.StartSupervisorAsync(new SupervisorOptions
        {
            Children = [new ChildSpec("stuck", () => stuck) { ShutdownTimeout = TimeSpan.FromSeconds(2) }],
        }).Within();
        ProcessRef child = (await ChildrenAsync(runtime, supervisor))["stuck"];
        Task<ExitReason> childExit = runtime.WaitForExitAsync(child);

        Task stop = runtime.StopAsync(supervisor, ExitReason.Shutdown);
        time.WaitForArmedTimers(1);
        Assert.False(stop.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(2));

        await stop.Within();
        Assert.Equal(ExitReason.Killed, await childExit.Within());
        stuck.Gate.SetResult();
    }
}
