using System.Diagnostics;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// Named supervisors across OS processes: the active member's node is killed with kill -9 (alone, together with a
/// child's node, and again and again under churn). A standby takes over, adopts the live children where they run and
/// restarts only those that died. Figures: kill → the new active member's first decision (its takeover); children
/// restarted needlessly (a live child restarted), which must be zero.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class SupervisorFailoverProcessTests(ITestOutputHelper output)
{
    private const string Secret = "dsup-failover-process";
    private const string Group = "pool";

    private static Task<NodeProcess> StartHostAsync(string name, NodeId seed) =>
        NodeHostProcess.StartAsync("--name", name, "--secret", Secret, "--seed", seed.ToString(), "--heartbeat", "300", "--threshold", "8", "--remove-after", "5000");

    /// <summary>The test process's node "a": the least id of the cluster, so that it is first in line to take over.</summary>
    private static async Task<Node> StartTestNodeAsync()
    {
        var a = await Node.StartAsync(TestNodes.Options("a", Secret) with
        {
            // A kill -9 closes the sockets at once; the silence bound (2.4 s) is only for a loaded machine's pauses.
            HeartbeatInterval = TimeSpan.FromMilliseconds(300),
            HeartbeatMissThreshold = 8,
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
            RemoveUnreachableAfter = TimeSpan.FromSeconds(5),
        });
        a.Behaviors.Register("dsup-worker", () => new Worker());
        return a;
    }

    /// <summary>The children as the active member reports them by name: child id → (node name, process id).</summary>
    private static async Task<Dictionary<string, (string Node, long Process)>> ChildrenAsync(Node from) =>
        (await new DistributedSupervisorRef(from, Group).GetChildrenAsync()).ToDictionary(c => c.Id, c => (c.Node.Name, c.Ref.Id));

    /// <summary>Live instances of each child over <paramref name="hosts"/>, as the hosts themselves report them.</summary>
    private static async Task<Dictionary<string, int>> InstancesAsync(IEnumerable<NodeProcess> hosts) =>
        (await Task.WhenAll(hosts.Select(h => h.WorkersAsync()))).SelectMany(w => w).GroupBy(w => w.Child).ToDictionary(g => g.Key, g => g.Count());

    [Fact]
    public async Task KillMinus9_OfTheActiveMembersNode_TheTestNodeTakesOver_AdoptsEveryChild_ThenRestartsALaterCrash()
    {
        await using var a = await StartTestNodeAsync();
        await using var sup = await StartHostAsync("sup", a.Id);
        await using var h1 = await StartHostAsync("h1", a.Id);
        await using var h2 = await StartHostAsync("h2", a.Id);
        await Wait.UntilAsync(() => a.IsConnected(sup.Id) && a.IsConnected(h1.Id) && a.IsConnected(h2.Id));
        Assert.True(await sup.StartMemberAsync(Group, 4, "h1,h2"));
        await using var member = await DistributedSupervisor.StartAsync(a, SupervisionGroup.Options(Group, 4, ["h1", "h2"]));
        Assert.False(member.IsActive);
        Assert.False(await h1.StartMemberAsync(Group, 4, "h1,h2"));
        var log = new EventLog();
        member.LifecycleEvent += log.Add;
        await Wait.UntilAsync(() => member.CountChildren() == 4);
        var before = await ChildrenAsync(a);
        // Where round robin puts them depends on which hosts sup had met when it started them; on the hosts, either way.
        Assert.All(before.Values, c => Assert.Contains(c.Node, new[] { "h1", "h2" }));

        var killed = Stopwatch.GetTimestamp();
        sup.Kill();
        await Wait.UntilAsync(() => member.IsActive);
        var decided = Stopwatch.GetElapsedTime(killed);

        var after = await h2.ChildrenByNameAsync(Group); // by name, from a node that runs no member: it finds the new active one
        Assert.Equal(before, after);
        Assert.All((await InstancesAsync([h1, h2])).Values, n => Assert.Equal(1, n));
        Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildMigrated) + log.Count(DistributedSupervisorEventKind.ChildRestarted));
        var takeover = log.Events.Single(e => e.Kind == DistributedSupervisorEventKind.SupervisorTookOver);
        Assert.Equal(sup.Id, takeover.FromNode);

        // The new active member supervises: a crash is restarted once, and h1's standby hears of it.
        await (before["w2"].Node == "h1" ? h1 : h2).SendAsync($"dsup-crash {Group} w2");
        await Wait.UntilAsync(() => log.Count(DistributedSupervisorEventKind.ChildRestarted, "w2") == 1);
        await Wait.UntilAsync(async () => (await ChildrenAsync(a))["w2"].Process != before["w2"].Process
            && (await InstancesAsync([h1, h2])).Values.All(n => n == 1));
        output.WriteLine($"kill -9 of the active member's node → takeover by a: {decided.TotalMilliseconds:0} ms (heartbeat 300 ms); children restarted needlessly: 0 of 4");
    }

    [Fact]
    public async Task KillMinus9_OfTheActiveMembersNodeAndAChildsNode_TogetherTheLostChildrenMoveTheOthersStay()
    {
        await using var a = await StartTestNodeAsync();
        await using var sup = await StartHostAsync("sup", a.Id);
        await using var h1 = await StartHostAsync("h1", a.Id);
        await using var h2 = await StartHostAsync("h2", a.Id);
        await using var h3 = await StartHostAsync("h3", a.Id);
        await Wait.UntilAsync(() => new[] { sup, h1, h2, h3 }.All(p => a.IsConnected(p.Id)));
        Assert.True(await sup.StartMemberAsync(Group, 4, "h1,h2"));
        await using var member = await DistributedSupervisor.StartAsync(a, SupervisionGroup.Options(Group, 4, ["h1", "h2"]));
        var log = new EventLog();
        member.LifecycleEvent += log.Add;
        await Wait.UntilAsync(() => member.CountChildren() == 4);
        var before = await ChildrenAsync(a);

        var killed = Stopwatch.GetTimestamp();
        sup.Kill();
        h1.Kill();
        // Five nodes, three left: a quorum. Both nodes are lost to everyone a reaches (h2, h3).
        await Wait.UntilAsync(() => member.IsActive && log.Count(DistributedSupervisorEventKind.ChildMigrated) == 2);
        var settled = Stopwatch.GetElapsedTime(killed);

        var after = await ChildrenAsync(a);
        Assert.Equal(before["w2"], after["w2"]);
        Assert.Equal(before["w4"], after["w4"]);
        Assert.Equal(("h2", "h2"), (after["w1"].Node, after["w3"].Node)); // h1 is gone: the other named host
        Assert.Equal(new Dictionary<string, int> { ["w1"] = 1, ["w2"] = 1, ["w3"] = 1, ["w4"] = 1 }, await InstancesAsync([h2, h3]));
        Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildRestarted));
        output.WriteLine($"kill -9 of the active member's node and a child's node → both children moved, the other two adopted: {settled.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task RepeatedTakeoversUnderChurn_EachKillOfTheActiveNodeIsTakenOverOnce_NoLiveChildRestarted()
    {
        // a only looks (no member): the members run in m-nodes, the children in h-nodes that stay up.
        await using var a = await StartTestNodeAsync();
        await using var h1 = await StartHostAsync("h1", a.Id);
        await using var h2 = await StartHostAsync("h2", a.Id);
        var members = new List<NodeProcess>();
        var all = new List<NodeProcess>();
        try
        {
            foreach (var name in new[] { "m1", "m2", "m3" })
            {
                var m = await StartHostAsync(name, a.Id);
                members.Add(m);
                all.Add(m);
                await Wait.UntilAsync(() => a.IsConnected(m.Id));
                Assert.Equal(name == "m1", await m.StartMemberAsync(Group, 4, "h1,h2"));
            }
            await Wait.UntilAsync(async () => (await ChildrenAsync(a)).Count == 4);
            var children = await ChildrenAsync(a);
            var decisions = new List<double>();
            for (var round = 0; round < 3; round++)
            {
                // The active member is the one whose ref the name points at.
                var active = members.Single(m => a.GlobalRegistry.Whereis(Group)?.Node == m.Id.ToString());
                var killed = Stopwatch.GetTimestamp();
                active.Kill();
                members.Remove(active);
                await Wait.UntilAsync(() => a.GlobalRegistry.Whereis(Group) is { } holder && members.Any(m => holder.Node == m.Id.ToString()));
                var successor = members.Single(m => a.GlobalRegistry.Whereis(Group)!.Value.Node == m.Id.ToString());
                _ = await successor.WaitForLineAsync(l => l.StartsWith($"DSUP {Group} {DistributedSupervisorEventKind.SupervisorTookOver}", StringComparison.Ordinal));
                decisions.Add(NetworkNodes.Ms(killed, successor.GroupEvents(Group).Last(e => e.Kind == nameof(DistributedSupervisorEventKind.SupervisorTookOver)).At));
                Assert.Equal(children, await ChildrenAsync(a));
                // A new member joins in the killed one's place (a new node, a new id), as a restarted pod would.
                var fresh = await StartHostAsync($"m{4 + round}", a.Id);
                members.Add(fresh);
                all.Add(fresh);
                await Wait.UntilAsync(() => a.IsConnected(fresh.Id));
                Assert.False(await fresh.StartMemberAsync(Group, 4, "h1,h2"));
            }
            Assert.Equal(new Dictionary<string, int> { ["w1"] = 1, ["w2"] = 1, ["w3"] = 1, ["w4"] = 1 }, await InstancesAsync([h1, h2]));
            foreach (var m in all)
            {
                output.WriteLine($"{m.Id.Name}: {string.Join("; ", m.GroupEvents(Group).Select(e => $"{e.Kind} {e.From} {e.Reason}"))}");
            }
            // Exactly once: one takeover per kill, none stood down.
            Assert.Equal(3, all.Sum(m => m.Count(Group, DistributedSupervisorEventKind.SupervisorTookOver)));
            Assert.Equal(0, all.Sum(m => m.Count(Group, DistributedSupervisorEventKind.SupervisorStoodDown)));
            Assert.All(members, m => Assert.Equal(0, m.Count(Group, DistributedSupervisorEventKind.ChildMigrated) + m.Count(Group, DistributedSupervisorEventKind.ChildRestarted)));
            output.WriteLine($"3 takeovers under churn, kill -9 → takeover: {string.Join(", ", decisions.Select(d => $"{d:0} ms"))}; children restarted needlessly: 0");
        }
        finally
        {
            foreach (var m in all)
            {
                await m.DisposeAsync();
            }
        }
    }
}
