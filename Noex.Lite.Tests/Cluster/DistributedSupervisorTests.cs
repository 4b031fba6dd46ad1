using static Noex.Lite.Tests.DistributedSupervisorTesting;

namespace Noex.Lite.Tests;

/// <summary>
/// The distributed supervisor's logic on in-process clusters: API and errors, restart types, strategies across nodes,
/// intensity, selectors, and failover with the partition policy (a proxy in front of the lost node).
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class DistributedSupervisorTests
{
    private const string Secret = "dsup-tests";

    private static DistributedChildSpec Spec(string id, RestartType restart = RestartType.Permanent, NodeSelector? selector = null) =>
        new(id, "worker") { Restart = restart, NodeSelector = selector, Args = Value.Object(("id", id)) };

    private static Task<Node> StartNodeAsync() => Node.StartAsync(FastDetection(TestNodes.Options("a", Secret)));

    private static bool Alive(IEnumerable<Node> nodes, ProcessRef process) => nodes.Any(n => n.Id.ToString() == process.Node && n.Runtime.IsAlive(process));

    [Fact]
    public async Task StartAsync_ChildrenAndApi_PlacesTracksAndReportsTypedErrors()
    {
        await using var a = await StartNodeAsync();
        var (supervisor, host, log) = await StartInProcessAsync(a, new DistributedSupervisorOptions { Children = [Spec("one"), Spec("two")] });
        await using var _ = supervisor;

        Assert.StartsWith("dsup_", supervisor.Id);
        Assert.Equal(2, supervisor.CountChildren());
        Assert.Equal(["one", "two"], supervisor.GetChildren().Select(c => c.Id));
        var one = supervisor.GetChild("one")!;
        Assert.Equal(a.Id, one.Node);
        Assert.True(a.Runtime.IsAlive(one.Ref));
        Assert.Equal(Value.Object(("id", "one")), await a.Runtime.CallAsync(one.Ref, "args?"));
        Assert.Null(supervisor.GetChild("nope"));

        await Assert.ThrowsAsync<DistributedDuplicateChildException>(() => supervisor.StartChildAsync(Spec("one")));
        await Assert.ThrowsAsync<DistributedBehaviorNotFoundException>(() => supervisor.StartChildAsync(new DistributedChildSpec("x", "missing")));
        await Assert.ThrowsAsync<DistributedChildNotFoundException>(() => supervisor.TerminateChildAsync("nope"));
        await Assert.ThrowsAsync<DistributedChildNotFoundException>(() => supervisor.RestartChildAsync("nope"));
        await Assert.ThrowsAsync<DistributedInvalidSimpleOneForOneException>(() => supervisor.StartChildFromTemplateAsync(1));
        await Assert.ThrowsAsync<NoAvailableNodeException>(() => supervisor.StartChildAsync(Spec("far", selector: NodeSelector.OnNode(NodeId.Parse("zz@127.0.0.1:1")))));

        var three = await supervisor.StartChildAsync(Spec("three"));
        Assert.Equal(3, supervisor.CountChildren());
        var restarted = await supervisor.RestartChildAsync("three");
        Assert.NotEqual(three.Ref, restarted);
        Assert.False(a.Runtime.IsAlive(three.Ref));
        Assert.Equal(1, supervisor.GetChild("three")!.RestartCount);
        await supervisor.TerminateChildAsync("three");
        Assert.False(a.Runtime.IsAlive(restarted));
        Assert.Equal(2, supervisor.CountChildren());

        Assert.Equal(1, log.Count(DistributedSupervisorEventKind.ChildStarted, "three"));
        Assert.Equal(1, log.Count(DistributedSupervisorEventKind.ChildRestarted, "three"));
        Assert.Contains(log.Events, e => e.Kind == DistributedSupervisorEventKind.ChildStopped && e.ChildId == "three" && e.Reason == "shutdown");

        var children = supervisor.GetChildren().Select(c => c.Ref).ToArray();
        await supervisor.StopAsync();
        Assert.False(supervisor.IsRunning);
        Assert.Equal("normal", await supervisor.Completion);
        Assert.All(children, c => Assert.False(a.Runtime.IsAlive(c)));
        Assert.Contains(log.Events, e => e.Kind == DistributedSupervisorEventKind.SupervisorStopped && e.Reason == "normal");
        await Assert.ThrowsAsync<DistributedSupervisorException>(() => supervisor.StartChildAsync(Spec("late")));
    }

    [Fact]
    public async Task StartAsync_SimpleOneForOneMisuse_FailsWithTheOriginalsErrors()
    {
        await using var a = await StartNodeAsync();
        var host = new InProcessChildHost(a, ChildBehaviors);

        await Assert.ThrowsAsync<DistributedMissingChildTemplateException>(() =>
            DistributedSupervisor.StartAsync(a, new DistributedSupervisorOptions { Strategy = SupervisorStrategy.SimpleOneForOne }, host, true, default));
        await Assert.ThrowsAsync<DistributedInvalidSimpleOneForOneException>(() => DistributedSupervisor.StartAsync(a, new DistributedSupervisorOptions
        {
            Strategy = SupervisorStrategy.SimpleOneForOne,
            ChildTemplate = new DistributedChildTemplate("worker"),
            Children = [Spec("static")],
        }, host, true, default));

        var (supervisor, _, _) = await StartInProcessAsync(a, new DistributedSupervisorOptions
        {
            Strategy = SupervisorStrategy.SimpleOneForOne,
            ChildTemplate = new DistributedChildTemplate("worker") { Restart = RestartType.Transient },
        });
        await using var __ = supervisor;
        var first = await supervisor.StartChildFromTemplateAsync(Value.FromInt64(7));
        var second = await supervisor.StartChildFromTemplateAsync(Value.FromInt64(8));
        Assert.Equal(["child_1", "child_2"], [first.Id, second.Id]);
        Assert.Equal(8, (await a.Runtime.CallAsync(second.Ref, "args?")).AsInt64());
        await Assert.ThrowsAsync<DistributedInvalidSimpleOneForOneException>(() => supervisor.StartChildAsync(Spec("x")));

        // A template child restarts alone.
        a.Runtime.Kill(first.Ref);
        await Wait.UntilAsync(() => supervisor.GetChild("child_1")?.Ref is { } r && r != first.Ref);
        Assert.Equal(second.Ref, supervisor.GetChild("child_2")!.Ref);
    }

    [Fact]
    public async Task ChildExit_RestartTypes_DecideWhetherItComesBack()
    {
        await using var a = await StartNodeAsync();
        var (supervisor, _, log) = await StartInProcessAsync(a, new DistributedSupervisorOptions
        {
            MaxRestarts = 100,
            Children =
            [
                Spec("perm"),
                Spec("trans-normal", RestartType.Transient),
                Spec("trans-crash", RestartType.Transient),
                Spec("temp", RestartType.Temporary),
            ],
        });
        await using var _ = supervisor;
        var before = supervisor.GetChildren().ToDictionary(c => c.Id, c => c.Ref);

        await a.Runtime.StopAsync(before["perm"], ExitReason.Normal);
        await a.Runtime.StopAsync(before["trans-normal"], ExitReason.Normal);
        a.Runtime.Kill(before["trans-crash"]);
        a.Runtime.Kill(before["temp"]);

        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.ChildRestarted) == 2 && log.Count(DistributedSupervisorEventKind.ChildStopped) == 2);
        Assert.Equal(["perm", "trans-crash"], supervisor.GetChildren().Select(c => c.Id));
        Assert.All(supervisor.GetChildren(), c => Assert.True(a.Runtime.IsAlive(c.Ref) && c.Ref != before[c.Id] && c.RestartCount == 1));
        Assert.Contains(log.Events, e => e.Kind == DistributedSupervisorEventKind.ChildStopped && e.ChildId == "trans-normal" && e.Reason == "normal");
        Assert.Contains(log.Events, e => e.Kind == DistributedSupervisorEventKind.ChildStopped && e.ChildId == "temp" && e.Reason == "killed");
    }

    [Fact]
    public async Task Strategies_AcrossNodes_RestartTheRightChildren()
    {
        await using var cluster = await TestCluster.StartAsync(3, Secret, FastDetection);
        var nodes = cluster.Nodes;
        foreach (var strategy in new[] { SupervisorStrategy.OneForOne, SupervisorStrategy.OneForAll, SupervisorStrategy.RestForOne })
        {
            var (supervisor, _, log) = await StartInProcessAsync(cluster[0], new DistributedSupervisorOptions
            {
                Strategy = strategy,
                NodeSelector = NodeSelector.RoundRobin,
                Children = [Spec("c1"), Spec("c2"), Spec("c3")],
            }, cluster[1], cluster[2]);
            await using var _ = supervisor;
            var before = supervisor.GetChildren().ToDictionary(c => c.Id);
            // Round robin per supervisor: one child on each node.
            Assert.Equal(3, before.Values.Select(c => c.Node).Distinct().Count());

            var victim = before["c2"].Ref;
            nodes.Single(n => n.Id.ToString() == victim.Node).Runtime.Kill(victim);
            var expected = strategy switch
            {
                SupervisorStrategy.OneForOne => new[] { "c2" },
                SupervisorStrategy.OneForAll => ["c1", "c2", "c3"],
                _ => ["c2", "c3"],
            };
            await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.ChildRestarted) == expected.Length);

            var after = supervisor.GetChildren().ToDictionary(c => c.Id);
            foreach (var id in new[] { "c1", "c2", "c3" })
            {
                Assert.True(Alive(nodes, after[id].Ref), $"{strategy}: {id} alive");
                Assert.Equal(expected.Contains(id), after[id].Ref != before[id].Ref);
                if (expected.Contains(id))
                {
                    Assert.False(Alive(nodes, before[id].Ref), $"{strategy}: old {id} stopped");
                }
            }
            Assert.Equal(1, after["c2"].RestartCount);
        }
    }

    [Fact]
    public async Task Intensity_Exceeded_StopsChildrenAndSupervisorWithMaxRestartsExceeded()
    {
        await using var a = await StartNodeAsync();
        var (supervisor, _, log) = await StartInProcessAsync(a, new DistributedSupervisorOptions
        {
            MaxRestarts = 2,
            Within = TimeSpan.FromMinutes(1),
            Children = [Spec("stable"), Spec("flaky")],
        });

        for (var i = 0; i < 3; i++)
        {
            var flaky = supervisor.GetChild("flaky")!.Ref;
            var stable = supervisor.GetChild("stable")!.Ref;
            a.Runtime.Kill(flaky);
            if (i < 2)
            {
                await Wait.UntilAsync(() => supervisor.GetChild("flaky")?.Ref is { } r && r != flaky);
            }
            else
            {
                Assert.Equal("max_restarts_exceeded", await supervisor.Completion.WaitAsync(TimeSpan.FromSeconds(30)));
                Assert.False(a.Runtime.IsAlive(stable));
            }
        }

        Assert.False(supervisor.IsRunning);
        Assert.Equal(0, supervisor.CountChildren());
        Assert.Equal(0, a.Runtime.ProcessCount);
        Assert.Contains(log.Events, e => e.Kind == DistributedSupervisorEventKind.SupervisorStopped && e.Reason == "max_restarts_exceeded");
        await Assert.ThrowsAsync<DistributedSupervisorException>(() => supervisor.TerminateChildAsync("stable"));
    }

    [Fact]
    public async Task AutoShutdown_AnySignificant_StopsTheSupervisor()
    {
        await using var a = await StartNodeAsync();
        var (supervisor, _, _) = await StartInProcessAsync(a, new DistributedSupervisorOptions
        {
            AutoShutdown = AutoShutdown.AnySignificant,
            Children = [Spec("other"), Spec("key", RestartType.Transient) with { Significant = true }],
        });

        await a.Runtime.StopAsync(supervisor.GetChild("key")!.Ref, ExitReason.Normal);

        Assert.Equal("shutdown", await supervisor.Completion.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, a.Runtime.ProcessCount);
    }

    [Fact]
    public async Task Selectors_PlaceChildrenAsTheySay()
    {
        await using var cluster = await TestCluster.StartAsync(3, Secret, FastDetection);
        var nodes = cluster.Nodes;
        var (a, b, c) = cluster;
        // Load a and b so that c is the least loaded, and wait until a hears their counts by gossip.
        for (var i = 0; i < 5; i++)
        {
            await a.Runtime.StartAsync(new Worker());
            await b.Runtime.StartAsync(new Worker());
        }
        await Wait.UntilAsync(() => a.GetNode(b.Id)?.ProcessCount == 5 && a.GetNode(c.Id)?.ProcessCount == 0);
        var (supervisor, _, _) = await StartInProcessAsync(a, new DistributedSupervisorOptions(), b, c);
        await using var _ = supervisor;

        Assert.Equal(a.Id, (await supervisor.StartChildAsync(Spec("local"))).Node);
        Assert.Equal(b.Id, (await supervisor.StartChildAsync(Spec("pinned", selector: NodeSelector.OnNode(b.Id)))).Node);
        Assert.Equal(c.Id, (await supervisor.StartChildAsync(Spec("light", selector: NodeSelector.LeastLoaded))).Node);
        var seen = new List<NodeInfo>();
        var custom = NodeSelector.Custom((candidates, id) =>
        {
            seen.AddRange(candidates);
            return candidates[^1].Id;
        });
        var placed = await supervisor.StartChildAsync(Spec("custom", selector: custom));
        Assert.Equal(nodes.Select(n => n.Id).Order(), seen.Select(s => s.Id).Order());
        Assert.Equal(a.Id, seen[0].Id);
        Assert.Equal(seen[^1].Id, placed.Node);
        await Assert.ThrowsAsync<NoAvailableNodeException>(() => supervisor.StartChildAsync(Spec("bad", selector: NodeSelector.Custom((_, _) => NodeId.Parse("ghost@127.0.0.1:9")))));
        var random = new HashSet<NodeId>();
        for (var i = 0; i < 30; i++)
        {
            random.Add((await supervisor.StartChildAsync(Spec($"r{i}", selector: NodeSelector.Random))).Node);
        }
        Assert.True(random.Count >= 2, "random uses more than one node in 30 draws");
        Assert.Subset(nodes.Select(n => n.Id).ToHashSet(), random);
    }
}
