using System.Diagnostics;

using static Noex.Lite.Tests.DistributedSupervisorTesting;

namespace Noex.Lite.Tests;

/// <summary>
/// Distributed supervision across OS processes (reliability.md T23, the kill half): children run in NodeHost processes,
/// spawned through the real behaviour registry, watched by real remote monitors, and the process hosting them is killed
/// with kill -9.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class DistributedSupervisorProcessTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Secret = "dsup-process-tests";

    private static Task<Node> StartNodeAsync() => Node.StartAsync(TestNodes.Options("a", Secret) with
    {
        HeartbeatInterval = TimeSpan.FromMilliseconds(500),
        ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
    });

    private static Task<NodeProcess> StartHostAsync(string name, Node seed) =>
        NodeHostProcess.StartAsync("--name", name, "--secret", Secret, "--seed", seed.Id.ToString(), "--heartbeat", "500");

    private static DistributedChildSpec Spec(string id, RestartType restart = RestartType.Permanent) =>
        new(id, "dsup-worker") { Args = Value.Object(("id", id)), Restart = restart };

    [Fact]
    public async Task KillMinus9_OfTheNodeHostingChildren_EachIsRestartedOnceOnASurvivor()
    {
        await using var a = await StartNodeAsync();
        a.Behaviors.Register("dsup-worker", () => new Worker());
        await using var b = await StartHostAsync("b", a);
        await using var c = await StartHostAsync("c", a);
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && a.IsConnected(c.Id));
        var ids = new[] { "w1", "w2", "w3", "w4" };
        await using var supervisor = await DistributedSupervisor.StartAsync(a, new DistributedSupervisorOptions
        {
            NodeSelector = Prefer(c.Id, b.Id),
            Children = [.. ids.Select(id => Spec(id)), Spec("temp", RestartType.Temporary)],
        });
        var log = new EventLog();
        supervisor.LifecycleEvent += log.Add;
        Assert.All(supervisor.GetChildren(), child => Assert.Equal(c.Id, child.Node));
        // The args crossed the wire with the spawn (the original dropped them).
        Assert.Equal("w1", (await a.Runtime.CallAsync(supervisor.GetChild("w1")!.Ref, "args?"))["id"].AsString());

        var killed = Stopwatch.GetTimestamp();
        c.Kill();
        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.ChildMigrated) == ids.Length
            && log.Count(DistributedSupervisorEventKind.ChildStopped) == 1);
        var elapsed = Stopwatch.GetElapsedTime(killed);

        Assert.All(ids, id => Assert.Equal(1, log.Count(DistributedSupervisorEventKind.ChildMigrated, id)));
        Assert.Equal(1, log.Count(DistributedSupervisorEventKind.NodeFailureDetected));
        Assert.Contains(log.Events, e => e.Kind == DistributedSupervisorEventKind.ChildStopped && e.ChildId == "temp" && e.Reason == "node_down");
        foreach (var id in ids)
        {
            var child = supervisor.GetChild(id)!;
            Assert.Equal(b.Id, child.Node);
            Assert.Equal(id, (await a.Runtime.CallAsync(child.Ref, "args?"))["id"].AsString());
        }
        // b runs exactly the migrated children: one instance of each, as b itself reports.
        Assert.Equal(ids.Length, (await a.Observer.GetNodeStatsAsync(b.Id)).ProcessCount);
        // Well inside the detection bound (kill -9 closes the socket: immediate) plus the spawns.
        Assert.True(elapsed < TimeSpan.FromSeconds(20), $"migrated {elapsed.TotalMilliseconds:0} ms after the kill");
        output.WriteLine($"T23 kill -9: {ids.Length} children migrated {elapsed.TotalMilliseconds:0} ms after the kill");
    }

    [Fact]
    public async Task RemoteChildren_StrategiesRestartTypesAndIntensity_WorkAcrossProcesses()
    {
        await using var a = await StartNodeAsync();
        a.Behaviors.Register("dsup-worker", () => new Worker());
        await using var b = await StartHostAsync("b", a);
        await Wait.UntilAsync(() => a.IsConnected(b.Id));
        await using var supervisor = await DistributedSupervisor.StartAsync(a, new DistributedSupervisorOptions
        {
            Strategy = SupervisorStrategy.RestForOne,
            NodeSelector = NodeSelector.OnNode(b.Id),
            MaxRestarts = 2,
            Within = TimeSpan.FromMinutes(1),
            Children = [Spec("first"), Spec("second"), Spec("third", RestartType.Transient)],
        });
        var log = new EventLog();
        supervisor.LifecycleEvent += log.Add;
        var before = supervisor.GetChildren().ToDictionary(child => child.Id, child => child.Ref);

        // A crash (an exit signal across the wire) of the second: rest_for_one restarts the second and the third.
        a.Runtime.Exit(before["second"], ExitReason.Error("boom"));
        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.ChildRestarted) == 2);
        var after = supervisor.GetChildren().ToDictionary(child => child.Id, child => child.Ref);
        Assert.Equal(before["first"], after["first"]);
        Assert.NotEqual(before["second"], after["second"]);
        Assert.NotEqual(before["third"], after["third"]);
        Assert.Equal(3, (await a.Observer.GetNodeStatsAsync(b.Id)).ProcessCount);

        // A transient child ending normally (a remote stop) stays down.
        await a.Runtime.StopAsync(after["third"], ExitReason.Normal);
        await Wait.UntilAsync(() => supervisor.CountChildren() == 2);

        // Two more crashes: the second is one too many within the window.
        a.Runtime.Exit(after["first"], ExitReason.Error("boom"));
        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.ChildRestarted) == 4);
        a.Runtime.Exit(supervisor.GetChild("first")!.Ref, ExitReason.Error("boom"));
        Assert.Equal("max_restarts_exceeded", await supervisor.Completion.WaitAsync(TimeSpan.FromSeconds(30)));
        // It stopped its children on b too.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while ((await a.Observer.GetNodeStatsAsync(b.Id)).ProcessCount != 0)
        {
            await Task.Delay(20, bound.Token);
        }
    }
}
