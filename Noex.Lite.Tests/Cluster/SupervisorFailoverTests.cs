using static Noex.Lite.Tests.DistributedSupervisorTesting;

namespace Noex.Lite.Tests;

/// <summary>
/// Named distributed supervisors on in-process nodes behind proxies: one active member and standbys with its state, a
/// takeover that adopts live children where they run, the minority side standing down, and the lost-node rule (a node
/// that others still reach is not lost) for one cut link and a partition that heals one node at a time.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class SupervisorFailoverTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Secret = "dsup-failover-tests";

    /// <summary>Every child instance started in this test, on any node: (node, instance).</summary>
    private readonly System.Collections.Concurrent.ConcurrentQueue<(Node Node, Tracked Worker)> _spawned = new();

    private async Task<TestCluster> StartClusterAsync(params string[] names)
    {
        var cluster = await TestCluster.StartAsync(names, Secret, FastDetection, proxied: true);
        foreach (var node in cluster.Nodes)
        {
            node.Behaviors.Register("dsup-worker", () =>
            {
                var worker = new Tracked();
                _spawned.Enqueue((node, worker));
                return worker;
            });
        }
        return cluster;
    }

    /// <summary>Starts the group's member on each node in turn (the first becomes active) and waits until every standby holds the active member's children.</summary>
    private static async Task<DistributedSupervisor[]> StartGroupAsync(DistributedSupervisorOptions options, params Node[] nodes)
    {
        var members = new List<DistributedSupervisor>();
        foreach (var node in nodes)
        {
            members.Add(await DistributedSupervisor.StartAsync(node, options));
        }
        await Wait.UntilAsync(() => members.All(m => Same(m.GetChildren(), members[0].GetChildren())));
        await HandedOverAsync(nodes[0], members[0].GetChildren());
        return [.. members];
    }

    /// <summary>
    /// A call to each child from the node that spawned it: its answer comes after the spawn's ack on the same connection,
    /// so the child's node has handed it over (a spawn whose ack is cut off by a partition is stopped, protocol.md §5.3).
    /// </summary>
    private static async Task HandedOverAsync(Node spawner, IEnumerable<DistributedChildInfo> children)
    {
        foreach (var child in children)
        {
            await spawner.Runtime.CallAsync(child.Ref, "args?");
        }
    }

    private static bool Same(IReadOnlyList<DistributedChildInfo> x, IReadOnlyList<DistributedChildInfo> y) =>
        x.Select(c => (c.Id, c.Ref)).SequenceEqual(y.Select(c => (c.Id, c.Ref)));

    /// <summary>Live instances of the child, among all ever started.</summary>
    private int LiveInstances(string childId) =>
        _spawned.Count(s => s.Worker.ChildId == childId && s.Node.Runtime.IsAlive(s.Worker.Self));

    /// <summary>A child that remembers its id (from its args) and its process, so that a test can count live instances.</summary>
    private sealed class Tracked : GenServer<Value>
    {
        public string? ChildId { get; private set; }

        protected override ValueTask<Value> InitAsync(Value args, CancellationToken cancellationToken)
        {
            ChildId = args["id"].AsString();
            return new(args);
        }

        protected override ValueTask<CallResult<Value>> HandleCallAsync(Value request, CallFrom from, Value state) =>
            new(CallResult<Value>.WithReply(state, state));
    }

    [Fact]
    public async Task Named_OneActiveMemberAndStandbysWithItsState_ReachableByNameFromAnyNode()
    {
        await using var cluster = await StartClusterAsync("a", "b", "c");
        var (a, b, c) = cluster;
        var members = await StartGroupAsync(SupervisionGroup.Options("pool", 3, ["b", "c"]), a, b, c);
        await using var _ = new AsyncDisposables(members);

        Assert.Equal([true, false, false], members.Select(m => m.IsActive));
        Assert.Equal(a.GlobalRegistry.Whereis("pool"), c.GlobalRegistry.Whereis("pool"));
        Assert.Equal(["w1=b", "w2=c", "w3=b"], members[0].GetChildren().Select(ch => $"{ch.Id}={ch.Node.Name}"));

        // By name from a standby's node: the active member answers, and a child started that way reaches every standby.
        var byName = new DistributedSupervisorRef(c, "pool");
        Assert.True(Same(members[0].GetChildren(), await byName.GetChildrenAsync()));
        var added = await byName.StartChildAsync(new DistributedChildSpec("extra", "dsup-worker") { Args = Value.Object(("id", "extra")) });
        Assert.Equal(a.Id, added.Node); // the default selector, local_first, on the active member's node
        await Wait.UntilAsync(() => members.All(m => m.CountChildren() == 4));
        // A standby's own operations go to the active member too.
        await members[1].TerminateChildAsync("extra");
        await Wait.UntilAsync(() => members.All(m => m.CountChildren() == 3));
        await Assert.ThrowsAsync<DistributedChildNotFoundException>(() => byName.RestartChildAsync("nope"));
        await Assert.ThrowsAsync<DistributedDuplicateChildException>(() => byName.StartChildAsync(new DistributedChildSpec("w1", "dsup-worker")));
        // Only the active member is in the cluster's statistics.
        Assert.Single((await a.Observer.GetSnapshotAsync(useCache: false)).Nodes.SelectMany(n => n.Stats?.Supervisors ?? []));
    }

    [Fact]
    public async Task ActiveNodeIsolated_MinorityStandsDown_MajorityAdoptsEveryChild_NoRestart_HealLeavesOneActive()
    {
        await using var cluster = await StartClusterAsync("a", "b", "c");
        var (a, b, c) = cluster;
        var members = await StartGroupAsync(SupervisionGroup.Options("pool", 4, ["b", "c"]), a, b, c);
        await using var _ = new AsyncDisposables(members);
        var logs = members.Select(m => { var log = new EventLog(); m.LifecycleEvent += log.Add; return log; }).ToArray();
        var before = members[0].GetChildren().ToDictionary(ch => ch.Id, ch => ch.Ref);

        cluster.Isolate("a");

        await Wait.UntilAsync(() => !members[0].IsActive && members[1].IsActive);
        Assert.Equal("no_quorum", logs[0].Events.Single(e => e.Kind == DistributedSupervisorEventKind.SupervisorStoodDown).Reason);
        var takeover = logs[1].Events.Single(e => e.Kind == DistributedSupervisorEventKind.SupervisorTookOver);
        Assert.Equal(a.Id, takeover.FromNode);
        Assert.False(members[2].IsActive); // b is first in line (the least node id among the members c reaches)
        // The children ran on b and c all along: adopted where they run, none restarted.
        Assert.Equal(before, members[1].GetChildren().ToDictionary(ch => ch.Id, ch => ch.Ref));
        Assert.Equal(members[1].GetChildren().Select(ch => ch.Ref), (await new DistributedSupervisorRef(c, "pool").GetChildrenAsync()).Select(ch => ch.Ref));

        // A crash after the takeover is the new active member's to restart.
        c.Runtime.Exit(before["w2"], ExitReason.Error("boom"));
        await Wait.UntilAsync(() => logs[1].Count(DistributedSupervisorEventKind.ChildRestarted, "w2") == 1);

        cluster.Heal();
        await cluster.WaitForMeshAsync();
        // a's member stands by for b's and receives its state; one active member, one instance of each child.
        await Wait.UntilAsync(() => Same(members[0].GetChildren(), members[1].GetChildren()));
        Assert.Equal([false, true, false], members.Select(m => m.IsActive));
        Assert.Equal(members[1].GetChildren().Single(ch => ch.Id == "w2").Ref, (await new DistributedSupervisorRef(a, "pool").GetChildrenAsync()).Single(ch => ch.Id == "w2").Ref);
        foreach (var id in before.Keys)
        {
            Assert.Equal(1, LiveInstances(id));
        }
        foreach (var log in logs)
        {
            output.WriteLine(string.Join("\n", log.Events.Select(e => $"{e.Kind} {e.ChildId} {e.Node} {e.FromNode} {e.Reason}")) + "\n--");
        }
        Assert.All(logs, log => Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildMigrated)));
    }

    [Fact]
    public async Task OneCutLink_TheChildsNodeIsReachedByOthers_NeverRestarted_NorIsTheSupervisorTakenOver()
    {
        await using var cluster = await StartClusterAsync("a", "b", "c");
        var (a, b, c) = cluster;
        // The active member on a, its child on c; b reaches both.
        var members = await StartGroupAsync(SupervisionGroup.Options("pool", 1, ["c"]), a, b, c);
        await using var _ = new AsyncDisposables(members);
        var logs = members.Select(m => { var log = new EventLog(); m.LifecycleEvent += log.Add; return log; }).ToArray();
        var child = members[0].GetChildren().Single().Ref;
        Assert.Equal(c.Id.ToString(), child.Node);

        cluster.Partition(["a"], ["c"]);
        await Wait.UntilAsync(() => !a.IsConnected(c.Id) && !c.IsConnected(a.Id));
        // a sees c lost and asks b, which reaches c; c's standby sees a lost and asks b, which reaches a. Both ask again
        // every second: wait for several rounds of answers, then nothing may have moved.
        var answered = b.Reach.Answered;
        await Wait.UntilAsync(() => b.Reach.Answered >= answered + 6);

        Assert.True(members[0].IsActive);
        Assert.False(members[2].IsActive);
        Assert.All(logs, log => Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildMigrated)));
        Assert.Equal(1, LiveInstances("w1"));

        cluster.Heal();
        await cluster.WaitForMeshAsync();
        // c's node back in a's sight: the child, which ran all along, is watched again and kept.
        await Wait.UntilAsync(() => members[0].GetChildren().Single().Ref == child && c.Runtime.IsAlive(child));
        // A crash now is restarted once: as a crash, or (if it beats the new watch, which then answers noproc) as a loss.
        c.Runtime.Exit(child, ExitReason.Error("boom"));
        await Wait.UntilAsync(() => logs[0].Count(DistributedSupervisorEventKind.ChildRestarted) + logs[0].Count(DistributedSupervisorEventKind.ChildMigrated) == 1);
        Assert.Equal(1, LiveInstances("w1"));
        Assert.All(logs, log => Assert.Equal(0, log.Count(DistributedSupervisorEventKind.SupervisorTookOver)));
    }

    [Fact]
    public async Task PartitionHealsOneNodeAtATime_AQuorumBeforeTheChildsNodeReturns_RestartsNoHealthyChild()
    {
        await using var cluster = await StartClusterAsync("n1", "n2", "n3", "n4", "n5");
        var n1 = cluster["n1"];
        var n4 = cluster["n4"];
        // An unnamed supervisor on n1 with its child on n4.
        await using var supervisor = await DistributedSupervisor.StartAsync(n1, new DistributedSupervisorOptions
        {
            Children = [new DistributedChildSpec("w1", "dsup-worker") { Args = Value.Object(("id", "w1")), NodeSelector = NodeSelector.OnNode(n4.Id) }],
        });
        var log = new EventLog();
        supervisor.LifecycleEvent += log.Add;
        var child = supervisor.GetChild("w1")!.Ref;
        await HandedOverAsync(n1, supervisor.GetChildren());

        cluster.Partition(["n1", "n2"], ["n3", "n4", "n5"]);
        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.NodeFailureDetected) == 1);
        // The first node back gives n1 a quorum (three of five) while n4 is still out of its sight: n3 reaches n4, so n4
        // is not lost and its child must stay.
        cluster.Heal();
        cluster.Partition(["n1", "n2"], ["n4", "n5"]);
        await Wait.UntilAsync(() => n1.IsConnected(cluster["n3"].Id));
        var answered = cluster["n3"].Reach.Answered;
        await Wait.UntilAsync(() => cluster["n3"].Reach.Answered >= answered + 3);
        Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildMigrated));

        cluster.Heal();
        await cluster.WaitForMeshAsync();
        await Wait.UntilAsync(() => !supervisor.GetChildren().Any() || supervisor.GetChild("w1")!.Ref == child);
        output.WriteLine(string.Join("\n", log.Events.Select(e => e.ToString())));
        output.WriteLine($"spawned: {string.Join(", ", _spawned.Select(s => $"{s.Node.Id.Name}:{s.Worker.Self} alive={s.Node.Runtime.IsAlive(s.Worker.Self)}"))}");
        Assert.Equal(child, supervisor.GetChild("w1")!.Ref);
        Assert.True(n4.Runtime.IsAlive(child));
        Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildMigrated));
        Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildRestarted));
    }

    [Fact]
    public async Task StopOfTheActiveMember_HandsOver_WholeGroupStopByName_StopsChildrenAndStandbys()
    {
        await using var cluster = await StartClusterAsync("a", "b", "c");
        var (a, b, c) = cluster;
        var members = await StartGroupAsync(SupervisionGroup.Options("pool", 2, ["c"]), a, b, c);
        var before = members[0].GetChildren().Select(ch => ch.Ref).ToArray();

        // A member's own stop (its node leaving) hands the children over: they keep running, b adopts them.
        var log1 = new EventLog();
        members[1].LifecycleEvent += log1.Add;
        await members[0].StopAsync();
        try
        {
            await Wait.UntilAsync(() => members[1].IsActive);
        }
        finally
        {
            output.WriteLine(string.Join("\n", log1.Events.Select(e => e.ToString())));
            output.WriteLine($"b sees {b.GlobalRegistry.Whereis("pool")}, c sees {c.GlobalRegistry.Whereis("pool")}, c active {members[2].IsActive}");
        }
        Assert.Equal(before, members[1].GetChildren().Select(ch => ch.Ref));
        Assert.All(before, r => Assert.True(c.Runtime.IsAlive(r)));

        // A stop by name stops the group: the children and every member.
        await new DistributedSupervisorRef(c, "pool").StopAsync();
        await Wait.UntilAsync(() => !members[1].IsRunning && !members[2].IsRunning && before.All(r => !c.Runtime.IsAlive(r)));
        Assert.Null(c.GlobalRegistry.Whereis("pool"));
    }

    [Fact]
    public async Task RestartIntensity_CarriesOverATakeover_TheThirdCrashInTheWindowEndsTheWholeGroup()
    {
        await using var cluster = await StartClusterAsync("a", "b", "c");
        var (a, b, c) = cluster;
        var options = SupervisionGroup.Options("pool", 2, ["c"]) with { MaxRestarts = 2, Within = TimeSpan.FromMinutes(5) };
        var members = await StartGroupAsync(options, a, b, c);
        await using var _ = new AsyncDisposables(members);
        var logs = members.Select(m => { var log = new EventLog(); m.LifecycleEvent += log.Add; return log; }).ToArray();

        // Two crashes under a: the window is full.
        for (var i = 1; i <= 2; i++)
        {
            c.Runtime.Exit(members[0].GetChild("w1")!.Ref, ExitReason.Error("boom"));
            await Wait.UntilAsync(() => logs[0].Count(DistributedSupervisorEventKind.ChildRestarted) == i);
        }
        var w1 = members[0].GetChild("w1")!.Ref;
        await Wait.UntilAsync(() => members[1].GetChild("w1")?.Ref == w1); // b holds the state with both restarts

        // a's node leaves (its member's own stop hands over); b takes over with the window as it was.
        await members[0].StopAsync();
        await Wait.UntilAsync(() => members[1].IsActive);
        Assert.Equal(2, members[1].GetStats().TotalRestarts);

        // One more crash within the window is one too many, as it would have been under a: the group ends.
        var w2 = members[1].GetChild("w2")!.Ref;
        c.Runtime.Exit(w1, ExitReason.Error("boom"));
        Assert.Equal("max_restarts_exceeded", await members[1].Completion.WaitAsync(TimeSpan.FromSeconds(30)));
        await members[2].Completion.WaitAsync(TimeSpan.FromSeconds(30)); // told to stop: nobody takes over
        await Wait.UntilAsync(() => !c.Runtime.IsAlive(w2)); // the children stopped with it
        Assert.Null(a.GlobalRegistry.Whereis("pool"));
        Assert.Equal(0, logs[2].Count(DistributedSupervisorEventKind.SupervisorTookOver));
    }

    /// <summary>Disposes the members at the end of a test, whatever state they are in.</summary>
    private sealed class AsyncDisposables(IEnumerable<DistributedSupervisor> members) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var member in members)
            {
                await member.DisposeAsync();
            }
        }
    }
}
