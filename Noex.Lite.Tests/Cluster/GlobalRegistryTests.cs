using System.Collections.Concurrent;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>Cluster-wide names across real nodes on loopback: propagation, sync, removal, conflicts, partitions, churn.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class GlobalRegistryTests(ITestOutputHelper output)
{
    private const string Secret = "registry-tests";

    private static async Task DisposeAllAsync(IEnumerable<Node> nodes)
    {
        foreach (var node in nodes)
        {
            await node.DisposeAsync();
        }
    }

    internal static string Table(Node node) =>
        string.Join(";", node.GlobalRegistry.GetEntries().Select(e => $"{e.Name}={e.Target}"));

    /// <summary>Every node shows the same table, and it is <paramref name="expected"/> (name=ref;...) when given.</summary>
    internal static Task ConvergedAsync(IReadOnlyList<Node> nodes, string? expected = null) =>
        Wait.UntilAsync(() =>
        {
            var first = Table(nodes[0]);
            return (expected is null || first == expected) && nodes.All(n => Table(n) == first);
        });

    [Fact]
    public async Task Register_OnAnyNode_ReachesEveryNode_AndUnregisterToo()
    {
        await using var mesh = await TestCluster.StartAsync(3, Secret);
        var nodes = mesh.Nodes;
        var (a, b, c) = mesh;
        var onA = await a.Runtime.StartAsync(new Idle());
        var onC = await c.Runtime.StartAsync(new Idle());
        var seenOnB = new ConcurrentQueue<string>();
        b.GlobalRegistry.Registered += (name, target) => seenOnB.Enqueue($"+{name}={target}");
        b.GlobalRegistry.Unregistered += (name, target) => seenOnB.Enqueue($"-{name}={target}");

        a.GlobalRegistry.Register("alpha", onA);
        c.GlobalRegistry.Register("gamma", onC);
        a.GlobalRegistry.Register("alpha", onA); // the same ref again: nothing happens

        Assert.Equal(onA, a.GlobalRegistry.Whereis("alpha")); // synchronous on the registering node
        await ConvergedAsync(nodes, $"alpha={onA};gamma={onC}");
        Assert.Equal(onC, a.GlobalRegistry.Lookup("gamma"));
        Assert.True(b.GlobalRegistry.IsRegistered("alpha"));
        Assert.Equal(["alpha", "gamma"], b.GlobalRegistry.GetNames());
        Assert.Equal(2, b.GlobalRegistry.Count);
        Assert.Equal([new GlobalRegistration("gamma", onC, c.Id)], b.GlobalRegistry.GetEntriesForNode(c.Id));
        var conflict = Assert.Throws<GlobalNameConflictException>(() => b.GlobalRegistry.Register("gamma", onA));
        Assert.Equal(c.Id.ToString(), conflict.ExistingNodeId);
        Assert.Contains(c.Id.ToString(), conflict.Message);

        Assert.False(b.GlobalRegistry.Unregister("gamma")); // only the registering node can withdraw it
        Assert.True(c.GlobalRegistry.Unregister("gamma"));
        await ConvergedAsync(nodes, $"alpha={onA}");
        Assert.Null(a.GlobalRegistry.Whereis("gamma"));
        var missing = Assert.Throws<GlobalNameNotFoundException>(() => a.GlobalRegistry.Lookup("gamma"));
        Assert.Equal("gamma", missing.RegistryName);
        Assert.Contains("gamma", missing.Message);
        await Wait.UntilAsync(() => seenOnB.Count == 3);
        Assert.Equal([$"+alpha={onA}", $"+gamma={onC}", $"-gamma={onC}"], seenOnB.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Join_NewNode_ReceivesTheFullSetAndRaisesSynced()
    {
        await using var mesh = await TestCluster.StartAsync(2, Secret);
        var nodes = mesh.Nodes;
        var names = new List<string>();
        for (var i = 0; i < 120; i++)
        {
            // More than one sync part (48 entries each) from each node.
            var owner = nodes[i % 2];
            owner.GlobalRegistry.Register($"svc-{i}", await owner.Runtime.StartAsync(new Idle()));
            names.Add($"svc-{i}");
        }
        await ConvergedAsync(nodes);
        var synced = new ConcurrentQueue<(NodeId From, int Count)>();
        await using var late = await Node.StartAsync(TestNodes.Options("late", Secret, nodes[0].Id.ToString()));
        late.GlobalRegistry.Synced += (from, count) => synced.Enqueue((from, count));

        await ConvergedAsync([.. nodes, late]);
        Assert.Equal(names.Order(StringComparer.Ordinal), late.GlobalRegistry.GetNames());
        await Wait.UntilAsync(() => synced.Count >= 2);
        Assert.Equal(60, synced.Single(s => s.From == nodes[0].Id).Count);
        Assert.Equal(60, synced.Single(s => s.From == nodes[1].Id).Count);
    }

    [Fact]
    public async Task NodeStops_ItsNamesAndNamesOfItsProcessesGoEverywhere()
    {
        await using var mesh = await TestCluster.StartAsync(3, Secret);
        var nodes = mesh.Nodes;
        var (a, b, c) = mesh;
        var onA = await a.Runtime.StartAsync(new Idle());
        var onB = await b.Runtime.StartAsync(new Idle());
        a.GlobalRegistry.Register("a-own", onA);
        b.GlobalRegistry.Register("b-own", onB);
        a.GlobalRegistry.Register("a-names-b", onB); // registered by a, for a process of b
        b.GlobalRegistry.Register("b-names-a", onA);
        await ConvergedAsync(nodes, $"a-names-b={onB};a-own={onA};b-names-a={onA};b-own={onB}");

        await b.StopAsync();

        // b's registrations and every name of b's processes go; a's own names of its own processes stay.
        await ConvergedAsync([a, c], $"a-own={onA}");
    }

    [Fact]
    public async Task ProcessEnds_ItsNamesGoEverywhere_WhoeverRegisteredThem()
    {
        await using var mesh = await TestCluster.StartAsync(3, Secret);
        var nodes = mesh.Nodes;
        var (a, b, c) = mesh;
        var worker = await b.Runtime.StartAsync(new Idle());
        var other = await b.Runtime.StartAsync(new Idle());
        b.GlobalRegistry.Register("worker", worker);
        a.GlobalRegistry.Register("worker-alias", worker); // a third party's name for b's process
        c.GlobalRegistry.Register("other", other);
        await ConvergedAsync(nodes, $"other={other};worker={worker};worker-alias={worker}");

        await b.Runtime.StopAsync(worker);

        await ConvergedAsync(nodes, $"other={other}");
        b.Runtime.Kill(other);
        await ConvergedAsync(nodes, "");
        Assert.Throws<ServerNotRunningException>(() => b.GlobalRegistry.Register("late", worker));
        var stranger = new ProcessRef("ghost@127.0.0.1:1", 1);
        Assert.Throws<NodeNotReachableException>(() => a.GlobalRegistry.Register("ghost", stranger));
        Assert.Throws<ArgumentException>(() => a.GlobalRegistry.Register(new string('x', 256), other));
    }

    [Fact]
    public async Task SimultaneousRegistrations_OneWinnerEverywhere_LoserToldAndStopped()
    {
        await using var mesh = await TestCluster.StartAsync(4, Secret, o => o with { StopGlobalNameLoser = true });
        var nodes = mesh.Nodes;
        const int Names = 200;
        var conflicts = nodes.Select(_ => new ConcurrentQueue<(string Name, ProcessRef Winner, ProcessRef Loser)>()).ToArray();
        for (var i = 0; i < nodes.Count; i++)
        {
            var queue = conflicts[i];
            nodes[i].GlobalRegistry.ConflictResolved += (name, winner, loser) => queue.Enqueue((name, winner, loser));
        }
        var claimed = new ConcurrentBag<ProcessRef>();
        var procs = new ProcessRef[nodes.Count][];
        for (var n = 0; n < nodes.Count; n++)
        {
            procs[n] = new ProcessRef[Names];
            for (var i = 0; i < Names; i++)
            {
                procs[n][i] = await nodes[n].Runtime.StartAsync(new Idle());
            }
        }

        // Every node claims every name at once, each from its own thread and starting at a different name, so that
        // most claims cross on the wire: each call succeeds locally unless the other claim arrived first.
        using var start = new Barrier(nodes.Count);
        var threads = nodes.Select((node, n) => new Thread(() =>
        {
            Assert.True(start.SignalAndWait(TimeSpan.FromSeconds(30)));
            for (var k = 0; k < Names; k++)
            {
                var i = (k + n * Names / nodes.Count) % Names;
                try
                {
                    node.GlobalRegistry.Register($"leader-{i}", procs[n][i]);
                    claimed.Add(procs[n][i]);
                }
                catch (GlobalNameConflictException)
                {
                    // Another node's claim arrived first: that is not a conflict, just a taken name.
                }
            }
        })).ToArray();
        foreach (var thread in threads)
        {
            thread.Start();
        }
        foreach (var thread in threads)
        {
            Assert.True(thread.Join(TimeSpan.FromSeconds(30)));
        }

        await ConvergedAsync(nodes);
        var table = nodes[0].GlobalRegistry.GetEntries();
        Assert.Equal(Names, table.Count);
        // Every claim but the winners' is withdrawn, and every losing process is stopped by its own node.
        await Wait.UntilAsync(() => nodes.All(n => n.GlobalRegistry.ClaimCount == Names));
        var winners = table.Select(e => e.Target).ToHashSet();
        foreach (var (node, n) in nodes.Select((node, n) => (node, n)))
        {
            foreach (var process in procs[n])
            {
                if (winners.Contains(process) || !claimed.Contains(process))
                {
                    // A winner, or a process whose node saw the name taken before claiming it: it lives on.
                    Assert.True(node.Runtime.IsAlive(process), $"{process} should be alive");
                }
                else
                {
                    await Wait.UntilAsync(() => !node.Runtime.IsAlive(process));
                }
            }
        }
        var all = conflicts.SelectMany(q => q).ToArray();
        output.WriteLine($"{all.Length} conflict events over {nodes.Count} nodes");
        Assert.NotEmpty(all);
        // A claim that lost anywhere lost everywhere: no node ever reported the final winner as a loser.
        Assert.DoesNotContain(all, c => winners.Contains(c.Loser));
        Assert.All(all, c => Assert.NotEqual(c.Winner, c.Loser));
        // Each node counts the conflicts it resolved, one per event it raised.
        Assert.Equal(conflicts.Select(q => (long)q.Count), nodes.Select(n => n.GlobalRegistry.ConflictsResolved));
    }

    [Fact]
    public async Task SimultaneousRegistrations_LoserOnAThirdNode_IsStoppedThere()
    {
        // n0 names a process of n2, n1 names one of its own, at once: whichever claim loses, its process stops, even
        // when that process lives on a node that made no claim.
        await using var mesh = await TestCluster.StartAsync(3, Secret, o => o with { StopGlobalNameLoser = true });
        var nodes = mesh.Nodes;
        // Only rounds where both claims were accepted locally make a conflict; a claim refused at once has no loser.
        var conflicts = 0;
        for (var round = 0; round < 100 && conflicts < 5; round++)
        {
            var name = $"third-{round}";
            var onThird = await nodes[2].Runtime.StartAsync(new Idle());
            var onOwn = await nodes[1].Runtime.StartAsync(new Idle());
            using var go = new ManualResetEventSlim();
            var first = Task.Run(() => { go.Wait(); return TryRegister(nodes[0], name, onThird); });
            var second = Task.Run(() => { go.Wait(); return TryRegister(nodes[1], name, onOwn); });
            go.Set();
            var accepted = await Task.WhenAll(first, second);

            await Wait.UntilAsync(() => nodes.All(n => n.GlobalRegistry.Whereis(name) is { } w && w == nodes[0].GlobalRegistry.Whereis(name)));
            var winner = nodes[0].GlobalRegistry.Whereis(name)!.Value;
            var (loser, loserNode) = winner == onThird ? (onOwn, nodes[1]) : (onThird, nodes[2]);
            Assert.True((winner == onThird ? nodes[2] : nodes[1]).Runtime.IsAlive(winner));
            if (accepted.All(a => a))
            {
                conflicts++;
                await Wait.UntilAsync(() => !loserNode.Runtime.IsAlive(loser));
            }
        }
        Assert.True(conflicts > 0, "no round made both claims at once");

        static bool TryRegister(Node node, string name, ProcessRef target)
        {
            try
            {
                node.GlobalRegistry.Register(name, target);
                return true;
            }
            catch (GlobalNameConflictException)
            {
                // The other claim arrived first: no conflict to resolve, and nothing of ours to stop.
                return false;
            }
        }
    }

    [Fact]
    public async Task Partition_BothSidesRegisterTheSameName_HealConvergesToOneWinnerAndTheLoserIsStopped()
    {
        // T10: a | b, both register "leader" (and names of their own); on heal, one winner everywhere, by the rule.
        await using var pair = await TestCluster.StartAsync(2, Secret, o => o with { StopGlobalNameLoser = true }, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var before = await a.Runtime.StartAsync(new Idle());
        a.GlobalRegistry.Register("before", before);
        await ConvergedAsync([a, b], $"before={before}");
        var conflictsA = new ConcurrentQueue<string>();
        var conflictsB = new ConcurrentQueue<string>();
        a.GlobalRegistry.ConflictResolved += (name, winner, loser) => conflictsA.Enqueue($"{name} {winner} {loser}");
        b.GlobalRegistry.ConflictResolved += (name, winner, loser) => conflictsB.Enqueue($"{name} {winner} {loser}");

        proxyA.Blackhole = true;
        proxyB.Blackhole = true;
        await Wait.UntilAsync(() => !a.IsConnected(b.Id) && !b.IsConnected(a.Id));
        // Each side's names of the other side's processes went with the other side ("before" is a's, so a keeps it).
        await ConvergedAsync([b], "");
        var leaderA = await a.Runtime.StartAsync(new Idle());
        var leaderB = await b.Runtime.StartAsync(new Idle());
        var onlyB = await b.Runtime.StartAsync(new Idle());
        a.GlobalRegistry.Register("leader", leaderA);
        b.GlobalRegistry.Register("leader", leaderB);
        b.GlobalRegistry.Register("only-b", onlyB);
        Assert.Equal(leaderA, a.GlobalRegistry.Whereis("leader"));
        Assert.Equal(leaderB, b.GlobalRegistry.Whereis("leader"));

        proxyA.Blackhole = false;
        proxyB.Blackhole = false;
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));

        await ConvergedAsync([a, b]);
        var winner = a.GlobalRegistry.Lookup("leader");
        var loser = winner == leaderA ? leaderB : leaderA;
        var loserNode = winner == leaderA ? b : a;
        output.WriteLine($"winner {winner}, loser {loser}: {Table(a)}");
        await ConvergedAsync([a, b], $"before={before};leader={winner};only-b={onlyB}");
        await Wait.UntilAsync(() => !loserNode.Runtime.IsAlive(loser));
        Assert.True((winner == leaderA ? a : b).Runtime.IsAlive(winner));
        var told = loserNode == a ? conflictsA : conflictsB;
        Assert.Contains($"leader {winner} {loser}", told);
        Assert.All(conflictsA.Concat(conflictsB), c => Assert.Equal($"leader {winner} {loser}", c));
        // The losing claim is gone everywhere once its withdrawal (and its process's end) has crossed the link: the
        // loser's node stops the process before the other node hears of it, so this is waited for, not asserted.
        await Wait.UntilAsync(() => a.GlobalRegistry.ClaimCount == 3 && b.GlobalRegistry.ClaimCount == 3);
    }

    [Fact]
    public async Task Churn_JoinsLeavesRestartsAndRegistrations_EndInOneIdenticalTable()
    {
        var random = new Random(6);
        await using var mesh = await TestCluster.StartAsync(3, Secret);
        var nodes = mesh.Nodes.ToList();
        var seed = nodes[0];
        var ports = new Dictionary<string, int>();
        var next = 3;
        try
        {
            var log = new List<string>();
            for (var round = 0; round < 20; round++)
            {
                var action = random.Next(4);
                if (action == 0 && nodes.Count > 2)
                {
                    // A node leaves (never the seed, which others join through): its names go.
                    var leaving = nodes[1 + random.Next(nodes.Count - 1)];
                    nodes.Remove(leaving);
                    ports[leaving.Options.Name] = leaving.ListenPort;
                    await leaving.DisposeAsync();
                    log.Add($"-{leaving.Options.Name}");
                }
                else if (action == 1 && ports.Count > 0)
                {
                    // A node that left comes back with the same id (a restart: a new incarnation).
                    var (name, port) = ports.First();
                    ports.Remove(name);
                    nodes.Add(await Node.StartAsync(TestNodes.Options(name, Secret, seed.Id.ToString()) with { Port = port }));
                    log.Add($"restart {name}");
                }
                else if (action == 2 && nodes.Count < 5)
                {
                    nodes.Add(await Node.StartAsync(TestNodes.Options($"n{next++}", Secret, seed.Id.ToString())));
                    log.Add($"+n{next - 1}");
                }
                await Wait.UntilAsync(() => nodes.All(n => nodes.All(m => m == n || n.IsConnected(m.Id))));
                // Registrations from several nodes at once, some of them on the same names.
                foreach (var node in nodes.OrderBy(_ => random.Next()).Take(3))
                {
                    var name = $"churn-{random.Next(8)}";
                    var process = await node.Runtime.StartAsync(new Idle());
                    try
                    {
                        node.GlobalRegistry.Register(name, process);
                    }
                    catch (GlobalNameConflictException)
                    {
                    }
                }
                if (random.Next(3) == 0 && nodes[random.Next(nodes.Count)] is var victim && victim.GlobalRegistry.GetEntriesForNode(victim.Id) is { Count: > 0 } own)
                {
                    await victim.Runtime.StopAsync(own[random.Next(own.Count)].Target);
                }
            }

            await ConvergedAsync(nodes);
            var table = nodes[0].GlobalRegistry.GetEntries();
            output.WriteLine(string.Join(", ", log));
            output.WriteLine($"{nodes.Count} nodes: {Table(nodes[0])}");
            Assert.Contains(log, l => l.StartsWith("restart", StringComparison.Ordinal));
            Assert.Contains(log, l => l.StartsWith('-'));
            Assert.NotEmpty(table);
            // Every name left points at a live process of a live node, and every claim but the winners' is gone.
            foreach (var entry in table)
            {
                var host = nodes.Single(n => n.Id.ToString() == entry.Target.Node);
                Assert.True(host.Runtime.IsAlive(entry.Target), $"{entry.Name} names the dead {entry.Target}");
            }
            await Wait.UntilAsync(() => nodes.All(n => n.GlobalRegistry.ClaimCount == table.Count));
        }
        finally
        {
            await DisposeAllAsync(nodes);
        }
    }

    [Fact]
    public async Task ClusterFacade_ReachesTheDefaultNodesRegistry()
    {
        Assert.Throws<ClusterNotStartedException>(() => Cluster.GlobalRegistry);
        var node = await Cluster.StartAsync(TestNodes.Options("facade", Secret));
        try
        {
            await using var peer = await Node.StartAsync(TestNodes.Options("peer", Secret, node.Id.ToString()));
            var process = await node.Runtime.StartAsync(new Idle());

            Cluster.GlobalRegistry.Register("kv:main", process);

            Assert.Same(node.GlobalRegistry, Cluster.GlobalRegistry);
            await ConvergedAsync([node, peer], $"kv:main={process}");
        }
        finally
        {
            await Cluster.StopAsync();
        }
    }

    [Fact]
    public async Task Whereis_AllocatesNothing()
    {
        await using var mesh = await TestCluster.StartAsync(2, Secret);
        var nodes = mesh.Nodes;
        var process = await nodes[1].Runtime.StartAsync(new Idle());
        nodes[1].GlobalRegistry.Register("hot", process);
        await ConvergedAsync(nodes, $"hot={process}");
        var registry = nodes[0].GlobalRegistry;
        var found = 0;
        for (var i = 0; i < 1000; i++)
        {
            found += registry.Whereis("hot") is null ? 0 : 1;
            found += registry.Whereis("cold") is null ? 0 : 1;
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        for (var i = 0; i < 100_000; i++)
        {
            found += registry.Whereis("hot") is null ? 0 : 1;
            found += registry.Whereis("cold") is null ? 0 : 1;
        }
        var elapsed = System.Diagnostics.Stopwatch.GetElapsedTime(started);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        output.WriteLine($"whereis: {elapsed.TotalNanoseconds / 200_000:0.0} ns per call (informational), {allocated} bytes allocated");

        Assert.Equal(101_000, found);
        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData("23 03 ff ff")] // a sync that claims 65535 entries in no bytes
    [InlineData("23 08 00 00")] // unknown flags
    [InlineData("20 01 02 03")] // a registration cut short
    [InlineData("21 05 61 62")] // a name longer than the bytes left
    [InlineData("21 02 c3 28")] // a name that is not UTF-8
    [InlineData("22 01 02")] // process_ended of the wrong length
    [InlineData("24 00")] // a digest of the wrong length
    [InlineData("25 00")] // a sync request with a body
    [InlineData("27")] // a type of the range that is not defined
    [InlineData("20 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 03 00 00 00 00 00 00 00 01 78 03 6e 6f 21")] // not a node id
    public async Task MalformedMessage_ClosesTheLinkAsAProtocolError_AndTheNodeCarriesOn(string hex)
    {
        await using var mesh = await TestCluster.StartAsync(2, Secret);
        var nodes = mesh.Nodes;
        var (a, b) = mesh;
        var events = NodeEvents.Watch(b);
        Assert.True(a.Connections.TryGetConnection(b.Id, out var connection));

        connection.TryEnqueue(new RawMessage(ProtocolVectors.Hex(hex)));

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        Assert.Equal(NodeDownReason.ProtocolError, events.Downs.First().Reason);
        // The link comes back and the registry works over it.
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));
        var process = await a.Runtime.StartAsync(new Idle());
        a.GlobalRegistry.Register("after", process);
        await ConvergedAsync(nodes, $"after={process}");
    }

    [Fact]
    public async Task ClaimForAProcessOfTheReceiverThatIsNotRunning_IsRefusedAndWithdrawnEverywhere()
    {
        await using var mesh = await TestCluster.StartAsync(3, Secret);
        var (a, b, c) = mesh;
        // a peer (b) claims a name for a process id of a that does not exist: a speaks for its processes.
        // Stamped now, as b would stamp a claim of its own: a stamp its registrar could not have made (1, say) is a
        // different refusal, which closes the connection (ClaimWithAStampItsRegistrarCouldNotHaveMade_IsRefused_AndStealsNothing)
        // and would race the assertion on it below.
        var fake = new GlobalRegistry.RegisterMessage("phantom", new ProcessRef(a.Id.ToString(), 424242), a.Incarnation,
            DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        Assert.True(b.Connections.TryGetConnection(a.Id, out var toA));
        Assert.True(b.Connections.TryGetConnection(c.Id, out var toC));

        toC.TryEnqueue(fake);
        toA.TryEnqueue(fake);

        await Wait.UntilAsync(() => !c.GlobalRegistry.IsRegistered("phantom") && c.GlobalRegistry.ClaimCount == 0);
        Assert.False(a.GlobalRegistry.IsRegistered("phantom"));
        Assert.True(a.IsConnected(b.Id));
    }

    [Fact]
    public async Task DivergentCopy_IsRepairedByTheDigest()
    {
        await using var mesh = await TestCluster.StartAsync(3, Secret);
        var nodes = mesh.Nodes;
        var (a, b, c) = mesh;
        var process = await b.Runtime.StartAsync(new Idle());
        var seenOnC = new ConcurrentQueue<string>();
        c.GlobalRegistry.Registered += (name, _) => seenOnC.Enqueue($"+{name}");
        c.GlobalRegistry.Unregistered += (name, _) => seenOnC.Enqueue($"-{name}");
        // b's claim reaches c but not a, and b itself never made it: c's copy of b's set is wrong.
        Assert.True(b.Connections.TryGetConnection(c.Id, out var toC));

        toC.TryEnqueue(new GlobalRegistry.RegisterMessage("stray", process, b.Incarnation, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()));

        // Only the digest can notice: no other message about "stray" will ever be sent.
        await Wait.UntilAsync(() => seenOnC.Count == 2);
        Assert.Equal(["+stray", "-stray"], seenOnC);
        Assert.True(c.GlobalRegistry.SyncRequests >= 1);
        await ConvergedAsync(nodes, "");
    }

    [Theory]
    [InlineData("the lowest stamp there is", long.MinValue)]
    [InlineData("a stamp from before the thief started", 1)]
    [InlineData("a stamp a year ahead", 365L * 24 * 3600 * 1000)]
    public async Task ClaimWithAStampItsRegistrarCouldNotHaveMade_IsRefused_AndStealsNothing(string what, long offset)
    {
        await using var mesh = await TestCluster.StartAsync(2, Secret);
        var (owner, thief) = mesh;
        var (real, fake, down) = await OwnerHoldsLeaderAsync(owner, thief);
        var stamp = offset switch
        {
            long.MinValue => long.MinValue,
            1 => 1,
            _ => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + offset,
        };

        Assert.True(thief.Connections.TryGetConnection(owner.Id, out var link));
        link.TryEnqueue(new GlobalRegistry.RegisterMessage("leader", fake, thief.Incarnation, stamp));

        var closed = await down.Task.Within();
        Assert.Equal(NodeDownReason.ProtocolError, closed.Reason);
        Assert.Contains("'leader'", closed.Detail, StringComparison.Ordinal);
        Assert.Contains("stamp", closed.Detail, StringComparison.Ordinal);
        Assert.Equal("stamp:register", closed.Cause);
        Assert.True(owner.GlobalRegistry.Whereis("leader") == real, $"{what} stole the name");
        // Nor did it move the owner's clock: its next claims are stamped from its own clock, not a year ahead.
        Assert.InRange(owner.GlobalRegistry.Clock, 0, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1000);
    }

    [Fact]
    public async Task RegisterBackdatedToTheThiefsOwnStart_IsRefusedAsNotNew_AndStealsNothing()
    {
        // A thief that has run for ten minutes stamps a register with its own start: inside its lifetime, so the start
        // bound lets it through, but a register is sent as it is made, and this one claims to be ten minutes old.
        var thiefClock = new ShiftedTime { Shift = TimeSpan.FromMinutes(-10) };
        await using var mesh = await TestCluster.StartAsync(2, Secret, o => o.Name == "b" ? o with { TimeProvider = thiefClock } : o);
        thiefClock.Shift = TimeSpan.Zero; // only its incarnation (its start) is ten minutes old
        var (owner, thief) = mesh;
        var (real, fake, down) = await OwnerHoldsLeaderAsync(owner, thief);

        Assert.True(thief.Connections.TryGetConnection(owner.Id, out var link));
        link.TryEnqueue(new GlobalRegistry.RegisterMessage("leader", fake, thief.Incarnation, (long)(thief.Incarnation >> 16)));

        var closed = await down.Task.Within();
        Assert.Equal(NodeDownReason.ProtocolError, closed.Reason);
        Assert.Contains("older than a new claim can be", closed.Detail, StringComparison.Ordinal);
        Assert.Equal("stamp:register", closed.Cause);
        Assert.True(owner.GlobalRegistry.Whereis("leader") == real, "a backdated register stole the name");
    }

    /// <summary>The owner holds "leader" on both nodes; the thief has a process to claim it for; the task ends with the
    /// owner's first node-down.</summary>
    private static async Task<(ProcessRef Real, ProcessRef Fake, TaskCompletionSource<NodeDownEvent> Down)> OwnerHoldsLeaderAsync(Node owner, Node thief)
    {
        var real = await owner.Runtime.StartAsync(new Idle());
        owner.GlobalRegistry.Register("leader", real);
        await Wait.UntilAsync(() => thief.GlobalRegistry.Whereis("leader") == real);
        var down = new TaskCompletionSource<NodeDownEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        owner.NodeDown += e => down.TrySetResult(e);
        return (real, await thief.Runtime.StartAsync(new Idle()), down);
    }

    /// <summary>The system clock moved by <see cref="Shift"/>; timestamps (and so timers) are the system's.</summary>
    internal sealed class ShiftedTime : TimeProvider
    {
        public TimeSpan Shift { get; set; }

        public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Shift;
    }
}
