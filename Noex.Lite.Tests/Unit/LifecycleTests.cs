using System.Collections.Concurrent;

namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class LifecycleTests
{
    [Theory]
    [InlineData("normal")]
    [InlineData("shutdown")]
    [InlineData("killed")]
    [InlineData("error")]
    public async Task Monitor_TargetEnds_WatcherGetsDownWithTheReasonAndAnEvent(string ending)
    {
        await using var runtime = new ProcessRuntime();
        var events = new ConcurrentQueue<LifecycleEvent>();
        using IDisposable subscription = runtime.Events.Subscribe(events.Enqueue);
        var watcher = new Probe();
        ProcessRef watcherRef = await runtime.StartAsync(watcher).Within();
        ProcessRef target = await runtime.StartAsync(new Probe()).Within();
        ExitReason reason = ending switch
        {
            "normal" => ExitReason.Normal,
            "shutdown" => ExitReason.Shutdown,
            "killed" => ExitReason.Killed,
            _ => ExitReason.Error("bad", "X"),
        };

        MonitorRef monitor = runtime.Monitor(watcherRef, target);
        if (ending == "killed")
        {
            Assert.True(runtime.Kill(target));
        }
        else
        {
            await runtime.StopAsync(target, reason).Within();
        }

        InfoMessage down = await watcher.NextInfoAsync();
        Assert.Equal(InfoKind.Down, down.Kind);
        Assert.Equal(target, down.From);
        Assert.Equal(reason, down.Reason);
        Assert.Equal(monitor, down.Monitor);
        Assert.Contains(events, e => e.Kind == LifecycleEventKind.ProcessDown && e.Process == watcherRef && e.Other == target && e.Reason == reason && e.Monitor == monitor);
    }

    [Fact]
    public async Task Monitor_TargetAlreadyGone_DeliversNoProcAtOnce()
    {
        await using var runtime = new ProcessRuntime();
        var watcher = new Probe();
        ProcessRef watcherRef = await runtime.StartAsync(watcher).Within();
        ProcessRef target = await runtime.StartAsync(new Probe()).Within();
        await runtime.StopAsync(target).Within();

        runtime.Monitor(watcherRef, target);

        InfoMessage down = await watcher.NextInfoAsync();
        Assert.Equal(InfoKind.Down, down.Kind);
        Assert.Equal(ExitReason.NoProc, down.Reason);
    }

    [Fact]
    public async Task Demonitor_BeforeTheTargetEnds_NoDownIsDelivered()
    {
        await using var runtime = new ProcessRuntime();
        var watcher = new Probe();
        ProcessRef watcherRef = await runtime.StartAsync(watcher).Within();
        ProcessRef target = await runtime.StartAsync(new Probe()).Within();
        MonitorRef monitor = runtime.Monitor(watcherRef, target);

        Assert.True(runtime.Demonitor(monitor));
        Assert.False(runtime.Demonitor(monitor));
        await runtime.StopAsync(target).Within();
        runtime.Send(watcherRef, "marker");

        Assert.Equal("marker", (await watcher.NextInfoAsync()).Message.AsString());
    }

    [Fact]
    public async Task Monitor_SeveralOnOneTarget_EachFiresOnce()
    {
        await using var runtime = new ProcessRuntime();
        var watcher = new Probe();
        ProcessRef watcherRef = await runtime.StartAsync(watcher).Within();
        ProcessRef target = await runtime.StartAsync(new Probe()).Within();
        MonitorRef first = runtime.Monitor(watcherRef, target);
        MonitorRef second = runtime.Monitor(watcherRef, target);

        await runtime.StopAsync(target).Within();

        var fired = new HashSet<MonitorRef> { (await watcher.NextInfoAsync()).Monitor, (await watcher.NextInfoAsync()).Monitor };
        Assert.Equal([first, second], fired.OrderBy(m => m.Id));
    }

    [Fact]
    public async Task Link_PartnerCrashes_NonTrappingProcessDiesWithTheSameReasonWithoutTerminate()
    {
        await using var runtime = new ProcessRuntime();
        var survivor = new Probe();
        ProcessRef a = await runtime.StartAsync(survivor).Within();
        ProcessRef b = await runtime.StartAsync(new Probe()).Within();
        runtime.Link(a, b);
        Task<ExitReason> aExit = runtime.WaitForExitAsync(a);

        runtime.Cast(b, "crash");

        ExitReason reason = await aExit.Within();
        Assert.Equal("cast boom", reason.Message);
        Assert.False(survivor.Terminated.Task.IsCompleted);
    }

    [Fact]
    public async Task Link_PartnerStopsNormally_ProcessSurvives()
    {
        await using var runtime = new ProcessRuntime();
        ProcessRef a = await runtime.StartAsync(new Probe()).Within();
        ProcessRef b = await runtime.StartAsync(new Probe()).Within();
        runtime.Link(a, b);

        await runtime.StopAsync(b).Within();

        Assert.Equal(0, (await runtime.CallAsync(a, "get").Within()).AsInt64());
    }

    [Fact]
    public async Task Link_TrappingExits_ExitSignalArrivesAsAMessage()
    {
        await using var runtime = new ProcessRuntime();
        var trapper = new Probe { Trap = true };
        ProcessRef a = await runtime.StartAsync(trapper).Within();
        ProcessRef b = await runtime.StartAsync(new Probe()).Within();
        runtime.Link(a, b);

        await runtime.StopAsync(b, ExitReason.Shutdown).Within();

        InfoMessage exit = await trapper.NextInfoAsync();
        Assert.Equal(InfoKind.Exit, exit.Kind);
        Assert.Equal(b, exit.From);
        Assert.Equal(ExitReason.Shutdown, exit.Reason);
        Assert.True(runtime.IsAlive(a));
    }

    [Fact]
    public async Task Link_ToAProcessAlreadyGone_SendsExitNoProc()
    {
        await using var runtime = new ProcessRuntime();
        var trapper = new Probe { Trap = true };
        ProcessRef a = await runtime.StartAsync(trapper).Within();
        ProcessRef b = await runtime.StartAsync(new Probe()).Within();
        await runtime.StopAsync(b).Within();

        runtime.Link(a, b);

        InfoMessage exit = await trapper.NextInfoAsync();
        Assert.Equal(ExitReason.NoProc, exit.Reason);
        Assert.Equal(b, exit.From);
    }

    [Fact]
    public async Task Unlink_ThenPartnerCrashes_ProcessSurvives()
    {
        await using var runtime = new ProcessRuntime();
        ProcessRef a = await runtime.StartAsync(new Probe()).Within();
        var partner = new Probe();
        ProcessRef b = await runtime.StartAsync(partner).Within();
        runtime.Link(a, b);

        runtime.Unlink(a, b);
        runtime.Cast(b, "crash");
        await partner.Terminated.Task.Within();

        Assert.Equal(0, (await runtime.CallAsync(a, "get").Within()).AsInt64());
    }

    [Fact]
    public async Task Exit_NonTrappingTarget_NormalIsIgnoredOtherReasonsEndIt()
    {
        await using var runtime = new ProcessRuntime();
        ProcessRef target = await runtime.StartAsync(new Probe()).Within();
        Task<ExitReason> exit = runtime.WaitForExitAsync(target);

        Assert.True(runtime.Exit(target, ExitReason.Normal));
        Assert.Equal(0, (await runtime.CallAsync(target, "get").Within()).AsInt64());
        Assert.True(runtime.Exit(target, ExitReason.Shutdown));

        Assert.Equal(ExitReason.Shutdown, await exit.Within());
    }

    [Fact]
    public async Task StartOptionsLinkTo_ChildCrashes_TrappingParentIsTold()
    {
        await using var runtime = new ProcessRuntime();
        var parent = new Probe { Trap = true };
        ProcessRef parentRef = await runtime.StartAsync(parent).Within();
        ProcessRef child = await runtime.StartAsync(new Probe(), default, new StartOptions { LinkTo = parentRef }).Within();

        runtime.Cast(child, "crash");

        InfoMessage exit = await parent.NextInfoAsync();
        Assert.Equal(child, exit.From);
        Assert.Equal(ExitReasonKind.Error, exit.Reason.Kind);
    }

    [Fact]
    public async Task Events_StartAndStop_PublishStartedThenTerminatedWithReason()
    {
        await using var runtime = new ProcessRuntime();
        var events = new ConcurrentQueue<LifecycleEvent>();
        IDisposable subscription = runtime.Events.Subscribe(events.Enqueue);
        using IDisposable throwing = runtime.Events.Subscribe(_ => throw new InvalidOperationException("a bad subscriber"));

        ProcessRef server = await runtime.StartAsync(new Probe()).Within();
        await runtime.StopAsync(server, ExitReason.Shutdown).Within();
        subscription.Dispose();
        ProcessRef other = await runtime.StartAsync(new Probe()).Within();

        Assert.Equal(
            [new LifecycleEvent(LifecycleEventKind.Started, server), new LifecycleEvent(LifecycleEventKind.Terminated, server, ExitReason.Shutdown)],
            events.ToArray());
        Assert.True(runtime.IsAlive(other));
    }
}
