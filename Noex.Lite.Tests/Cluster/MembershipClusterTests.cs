using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Xunit.Abstractions;
using static Noex.Lite.Tests.DistributedSupervisorTesting;

namespace Noex.Lite.Tests;

/// <summary>
/// The member lifecycle on in-process nodes (DESIGN.md, "Membership"): the lost are removed after the bound and never
/// reach a later joiner, a minority cannot forget its way to a majority, a flood of gossip is capped and its dials bounded,
/// a new member reaches every peer at once, and ids whose address now answers as someone else are dropped.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class MembershipClusterTests(ITestOutputHelper output)
{
    private const string Secret = "membership-cluster-tests";

    private static NodeOptions ShortBound(NodeOptions options) => FastDetection(options) with
    {
        RemoveUnreachableAfter = TimeSpan.FromSeconds(1),
        SeedPollInterval = TimeSpan.FromMilliseconds(200),
    };

    [Fact]
    public async Task LostNode_IsRemovedAfterTheBound_AndALaterJoinerNeverHearsOfIt()
    {
        await using var cluster = await TestCluster.StartAsync(["a", "b", "c"], Secret, ShortBound, proxied: true);
        var (a, b, c) = cluster;
        var removed = new ConcurrentQueue<(NodeId By, NodeRemovedEvent Event)>();
        a.NodeRemoved += e => removed.Enqueue((a.Id, e));
        b.NodeRemoved += e => removed.Enqueue((b.Id, e));

        cluster.Isolate("c"); // c is lost without a goodbye, as if killed
        await Wait.UntilAsync(() => removed.Count(r => r.Event.Node == c.Id) == 2);

        Assert.All(removed, r => Assert.Equal(NodeRemovalReason.Unreachable, r.Event.Reason));
        Assert.Null(a.GetNode(c.Id));
        Assert.Null(b.GetNode(c.Id));
        // Removed by a majority: c no longer counts. Waited for, not read once: with detection this fast, a loaded
        // machine can make a miss b's heartbeats for a moment just then (CI, fresh clone, once in four runs).
        await Wait.UntilAsync(() => a.HasQuorum);

        await using var d = await Node.StartAsync(ShortBound(TestNodes.Options("d", Secret, a.Id.ToString())));
        var heard = new ConcurrentQueue<NodeId>();
        d.NodeUp += info => heard.Enqueue(info.Id);
        await Wait.UntilAsync(() => d.IsConnected(a.Id) && d.IsConnected(b.Id) && a.IsConnected(d.Id) && b.IsConnected(d.Id));

        // d had a's and b's gossip (sent as each connection came up): neither named c.
        Assert.Null(d.GetNode(c.Id));
        Assert.DoesNotContain(c.Id, heard);
    }

    [Fact]
    public async Task Partition_OutlastingTheBound_TheMinoritySideStillDoesNotFailOver()
    {
        // a is the seed; b and c dial it through its proxy, so blackholing it cuts a off from both: {a} | {b, c}.
        await using var cluster = await TestCluster.StartAsync(["a", "b", "c"], Secret, ShortBound, proxied: true);
        var (a, b, c) = cluster;
        var (supervisor, host, log) = await StartInProcessAsync(a, new DistributedSupervisorOptions
        {
            NodeSelector = Prefer(b.Id),
            Children = [new DistributedChildSpec("w1", "worker") { Args = Value.Object(("id", "w1")) }],
        }, b, c);
        await using var _ = supervisor;
        var removedByA = new ConcurrentQueue<NodeRemovedEvent>();
        a.NodeRemoved += removedByA.Enqueue;

        // Cut in two steps, so that a never sees two of three while a link it has not yet found dead is already gone:
        // first c (a keeps b, two of three, and has nothing on c), then b (one of three: a minority).
        cluster.Partition(["a"], ["c"]);
        await Wait.UntilAsync(() => !a.IsConnected(c.Id));
        cluster.Isolate("a");
        // Past the bound a has removed both: it no longer redials or gossips them...
        await Wait.UntilAsync(() => removedByA.Count == 2 && a.GetNodes().Count == 0);
        await Wait.UntilAsync(() => b.GetNode(a.Id)?.Incarnation is null or 0 && c.GetNode(a.Id)?.Incarnation is null or 0);
        // ...but a minority cannot forget its way to a majority: it saw three nodes, it sees one.
        Assert.False(a.HasQuorum);
        Assert.True(b.HasQuorum);
        Assert.Equal(1, log.Count(DistributedSupervisorEventKind.NodeFailureDetected));
        Assert.Equal(0, log.Count(DistributedSupervisorEventKind.ChildMigrated));

        // The heal: b and c name a as their seed and dial it again (at their next poll, once removed): a fresh join, and a
        // majority again. (What the supervisor then does with the child is #20's: the first node back gives it a majority
        // before b returns, and it moves the child that never failed.)
        cluster.Heal();
        await Wait.UntilAsync(cluster.IsFullMesh);
        Assert.True(a.HasQuorum);
        Assert.Equal(3, a.GetNodes().Count + 1);
    }

    [Fact]
    public async Task RollingUncleanDeaths_WithReplacementsUnderNewIds_KeepFailingOver()
    {
        // A 3-replica Deployment: a pod dies without a goodbye, a new pod with a new id joins, and again, and again. The
        // dead must leave the majority count once removed, or the third death leaves a seeing 2 of 5 and failing over
        // nothing (as before the removal bound).
        await using var cluster = await TestCluster.StartAsync(["a", "p1", "p2"], Secret, ShortBound, proxied: true);
        var a = cluster[0];
        var pods = new List<(Node Node, FaultProxy Proxy)> { (cluster[1], cluster.Proxies[1]), (cluster[2], cluster.Proxies[2]) };
        var extra = new List<IAsyncDisposable>();
        try
        {
            foreach (var node in cluster.Nodes)
            {
                node.Behaviors.Register("worker", () => new Worker());
            }
            await using var supervisor = await DistributedSupervisor.StartAsync(a, new DistributedSupervisorOptions
            {
                NodeSelector = NodeSelector.Custom((candidates, _) => candidates.Select(c => c.Id).FirstOrDefault(id => id != a.Id) ?? a.Id),
                Children = [new DistributedChildSpec("w1", "worker") { Args = Value.Object(("id", "w1")) }],
            });
            for (var death = 1; death <= 3; death++)
            {
                var victim = pods.First(p => p.Node.Id == supervisor.GetChild("w1")!.Node);
                var removed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                a.NodeRemoved += e =>
                {
                    if (e.Node == victim.Node.Id)
                    {
                        removed.TrySetResult();
                    }
                };
                // Killed: cut off from everyone, both ways, and never back.
                victim.Proxy.Blackhole = true;
                foreach (var other in pods.Where(p => p != victim).Select(p => p.Proxy).Append(cluster.Proxies[0]))
                {
                    other.Cut(victim.Node.Id.Name);
                }
                await Wait.UntilAsync(() => supervisor.GetChild("w1")!.Node != victim.Node.Id);
                await removed.Task.Within();
                pods.Remove(victim);

                // Its replacement, under a new id, behind a proxy of its own.
                var proxy = FaultProxy.Start();
                var pod = await Node.StartAsync(ShortBound(TestNodes.Options($"r{death}", Secret, a.Id.ToString())) with { AdvertisedPort = proxy.Port });
                proxy.TargetPort = pod.ListenPort;
                extra.Add(pod);
                extra.Add(proxy);
                pod.Behaviors.Register("worker", () => new Worker());
                pods.Add((pod, proxy));
                await Wait.UntilAsync(() => pods.All(p => a.IsConnected(p.Node.Id)));
                output.WriteLine($"death {death}: w1 now on {supervisor.GetChild("w1")!.Node}; a knows {a.GetNodes().Count} other members");
            }
            Assert.Equal(3, supervisor.GetStats().NodeFailureRestarts);
            Assert.True(a.HasQuorum);
        }
        finally
        {
            foreach (var item in Enumerable.Reverse(extra))
            {
                await item.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task IdAtThisNodesOwnAddress_IsRemovedOnce_AndNeverDialledAgain()
    {
        var port = TestNodes.FreePort();
        var ghost = NodeId.Parse($"ghost@127.0.0.1:{port}");
        var seeds = new CountingSeeds([ghost]);
        var options = TestNodes.Options("a", Secret) with { Port = port, SeedProvider = seeds, SeedPollInterval = TimeSpan.FromMilliseconds(50) };
        await using var a = await Node.StartAsync(options);
        var removed = new ConcurrentQueue<NodeRemovedEvent>();
        var failures = new ConcurrentQueue<HandshakeException>();
        a.NodeRemoved += removed.Enqueue;
        a.HandshakeFailed += failures.Enqueue;

        await Wait.UntilAsync(() => !removed.IsEmpty);
        var polls = seeds.Polls;
        await Wait.UntilAsync(() => seeds.Polls >= polls + 10); // ten more answers naming it

        Assert.Equal([new NodeRemovedEvent(ghost, NodeRemovalReason.Replaced)], removed);
        Assert.Null(a.GetNode(ghost));
        Assert.Equal(HandshakeFailure.SelfDial, Assert.Single(failures).Failure); // found before any handshake byte
        Assert.Empty(a.GetNodes());
    }

    [Fact]
    public async Task IdWhoseAddressAnswersAsAnotherNode_IsRemovedAsReplaced()
    {
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret));
        var recycled = NodeId.Create("old", "127.0.0.1", b.ListenPort);
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret, recycled.ToString()));
        var removed = new ConcurrentQueue<NodeRemovedEvent>();
        a.NodeRemoved += removed.Enqueue;

        await Wait.UntilAsync(() => a.GetNode(recycled) is null);

        Assert.Contains(new NodeRemovedEvent(recycled, NodeRemovalReason.Replaced), removed);
        Assert.False(a.IsConnected(b.Id)); // b said it is not "old"; nobody told a of b
    }

    [Fact]
    public async Task Forget_RemovesAnUnreachableMemberAtOnce_ButNotAConnectedOne()
    {
        await using var cluster = await TestCluster.StartAsync(["a", "b", "c"], Secret, FastDetection, proxied: true);
        var (a, b, c) = cluster;
        var removed = new ConcurrentQueue<NodeRemovedEvent>();
        a.NodeRemoved += removed.Enqueue;

        Assert.False(a.Forget(b.Id));
        cluster.Isolate("c");
        await Wait.UntilAsync(() => !a.IsConnected(c.Id) && a.GetNode(c.Id)?.Status == NodeStatus.Disconnected);
        Assert.True(a.Forget(c.Id));

        Assert.Equal([new NodeRemovedEvent(c.Id, NodeRemovalReason.Forgotten)], removed);
        Assert.Null(a.GetNode(c.Id));
        Assert.False(a.Forget(c.Id));
    }

    [Fact]
    public async Task GossipFlood_IsCapped_DialsAreBounded_AndHeartbeatsKeepFlowing()
    {
        // 65,000 made-up ids on loopback addresses nobody listens on (each dial is refused at once: the worst case for the
        // dial rate), sent by an authenticated peer. Before the cap and the gate, this silenced a node for 21-32 s.
        const int Count = 65_000;
        var ids = Enumerable.Range(0, Count).Select(i => NodeId.Create($"x{i}", $"127.{1 + (i / 60000)}.{i / 250 % 240}.{1 + (i % 250)}", 9)).ToList();
        // The test nodes' 1 s x 3 heartbeat: all three share this process, so a stall of b's would be everyone's.
        await using var cluster = await TestCluster.StartAsync(["a", "b", "c"], Secret, o => o with { MaxMembers = 1000 });
        var (a, b, c) = cluster;
        var events = NodeEvents.Watch(a, b, c);
        var refused = 0L;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Noex.Lite" && instrument.Name == "noex.membership.refused")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
        {
            if (tags.ToArray().Any(t => t.Key == "cause" && (string?)t.Value == "cap"))
            {
                Interlocked.Add(ref refused, value);
            }
        });
        listener.Start();
        var target = await b.Runtime.StartAsync(new EchoServer());
        var threadsBefore = Process.GetCurrentProcess().Threads.Count;
        var heapBefore = GC.GetTotalMemory(forceFullCollection: false);

        Assert.True(a.Connections.TryGetConnection(b.Id, out var link));
        Assert.Equal(EnqueueResult.Queued, link.TryEnqueue(new ControlMessages.GossipMessage(TimeSpan.FromSeconds(1), 0, ids)));
        await Wait.UntilAsync(() => Interlocked.Read(ref refused) >= Count - 1000);

        // Five seconds of b dialling its 998 new members: calls across b's links keep answering and nobody goes down.
        var hold = Stopwatch.StartNew();
        var latencies = new List<double>();
        while (hold.Elapsed < TimeSpan.FromSeconds(5))
        {
            var call = Stopwatch.StartNew();
            Assert.Equal(latencies.Count, (await a.Runtime.CallAsync(target, latencies.Count).Within()).AsInt64());
            latencies.Add(call.Elapsed.TotalMilliseconds);
        }
        var threads = Process.GetCurrentProcess().Threads.Count;
        var waiting = b.DialsWaiting;
        Assert.Empty(events.Downs);
        Assert.True(b.IsConnected(a.Id) && b.IsConnected(c.Id));
        Assert.InRange(b.GetNodes().Count, 2, 1000 + 2);
        Assert.InRange(Interlocked.Read(ref refused), Count - 1000, Count);
        // Bounded dials: at most 8 + 8 in flight, each on a thread of its own while it lasts.
        Assert.InRange(threads - threadsBefore, -1000, 40);
        latencies.Sort();
        output.WriteLine($"flood of {Count} ids: refused {Interlocked.Read(ref refused)}, members {b.GetNodes().Count}, dials waiting {waiting}; " +
            $"{latencies.Count} calls in 5 s, p50 {latencies[latencies.Count / 2]:0.00} ms, max {latencies[^1]:0.0} ms; " +
            $"threads {threadsBefore} -> {threads}; heap {heapBefore / 1e6:0.0} -> {GC.GetTotalMemory(forceFullCollection: false) / 1e6:0.0} MB");
    }

    [Fact]
    public async Task NewMember_IsPushedToPeersAtOnce_NotAtTheNextGossipTick()
    {
        // No gossip tick during the test (a ten-minute heartbeat), and y cannot dial x (x's proxy drops what y dials):
        // x can meet y only by hearing of it from s, which must tell x as soon as y is up.
        static NodeOptions NoTick(NodeOptions o) => o with { HeartbeatInterval = TimeSpan.FromMinutes(10) };
        await using var cluster = await TestCluster.StartAsync(["s", "x"], Secret, NoTick, proxied: true);
        var (s, x) = cluster;
        cluster.Proxies[1].Cut("y");
        await using var proxy = FaultProxy.Start();
        await using var y = await Node.StartAsync(NoTick(TestNodes.Options("y", Secret, s.Id.ToString())) with { AdvertisedPort = proxy.Port });
        proxy.TargetPort = y.ListenPort;

        await Wait.UntilAsync(() => x.IsConnected(y.Id) && y.IsConnected(x.Id));
    }

    [Theory]
    [InlineData(3)]
    [InlineData(8)]
    [InlineData(16)]
    public async Task NodesStartedTogether_FormTheMesh_WithoutWaitingForTheGossipTick(int count)
    {
        // A heartbeat of ten minutes: its gossip tick never comes during the test, so only pushes can spread the members.
        // The joiners start first, so that they all reach the seed at once when it comes up: each one's first gossip
        // from the seed is then likely to miss the others.
        static NodeOptions NoTick(NodeOptions o) => o with { HeartbeatInterval = TimeSpan.FromMinutes(10) };
        var seedOptions = NoTick(TestNodes.Options("s", Secret)) with { Port = TestNodes.FreePort() };
        var seedId = NodeId.Create("s", "127.0.0.1", seedOptions.Port);
        var joiners = await Task.WhenAll(Enumerable.Range(0, count - 1).Select(i =>
            Node.StartAsync(NoTick(TestNodes.Options($"n{i}", Secret, seedId.ToString())))));
        try
        {
            await using var seed = await Node.StartAsync(seedOptions);
            Node[] all = [seed, .. joiners];
            var meshed = Stopwatch.StartNew();
            await Wait.UntilAsync(() => all.All(n => all.All(m => m == n || n.IsConnected(m.Id))));
            output.WriteLine($"{count} nodes: full mesh {meshed.Elapsed.TotalMilliseconds:0} ms after the seed started");
        }
        finally
        {
            foreach (var node in joiners)
            {
                await node.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task DnsSeeds_FollowTheAnswer_BasenameAtIp()
    {
        // Three nodes named "n" on 127.0.0.2-4 with one port, as pods behind a headless service would be.
        var port = TestNodes.FreePort();
        var answer = new[] { IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.3") };
        var dns = new DnsSeedProvider("noex.test", "n", port, (name, _) => Task.FromResult(name == "noex.test" ? Volatile.Read(ref answer) : []));
        NodeOptions Pod(int last) => TestNodes.Options("n", Secret) with
        {
            Host = $"127.0.0.{last}",
            Port = port,
            SeedProvider = dns,
            SeedPollInterval = TimeSpan.FromMilliseconds(100),
        };
        await using var n2 = await Node.StartAsync(Pod(2));
        await using var n3 = await Node.StartAsync(Pod(3));
        await Wait.UntilAsync(() => n2.IsConnected(n3.Id) && n3.IsConnected(n2.Id));
        Assert.Equal(NodeId.Parse($"n@127.0.0.2:{port}"), n2.Id);

        // A node the answer does not name yet is not found...
        await using var n4 = await Node.StartAsync(Pod(4) with { SeedProvider = null });
        Assert.Empty(n4.GetNodes());
        // ...until it does.
        Volatile.Write(ref answer, [.. answer, IPAddress.Parse("127.0.0.4")]);
        await Wait.UntilAsync(() => n4.IsConnected(n2.Id) && n4.IsConnected(n3.Id));
    }

    [Fact]
    public async Task SeedProviderThatThrows_IsAskedAgain_AndTheNodeGoesOn()
    {
        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret));
        var seeds = new CountingSeeds([b.Id]) { FailFirst = 3 };
        await using var a = await Node.StartAsync(TestNodes.Options("a", Secret) with { SeedProvider = seeds, SeedPollInterval = TimeSpan.FromMilliseconds(50) });

        await Wait.UntilAsync(() => a.IsConnected(b.Id));

        Assert.True(seeds.Polls >= 4);
    }

    private sealed class CountingSeeds(IReadOnlyList<NodeId> seeds) : ISeedProvider
    {
        private int _polls;

        public int FailFirst { get; init; }

        public int Polls => Volatile.Read(ref _polls);

        public ValueTask<IReadOnlyList<NodeId>> GetSeedsAsync(CancellationToken cancellationToken) =>
            Interlocked.Increment(ref _polls) <= FailFirst ? throw new InvalidOperationException("DNS is down") : new(seeds);
    }

    private sealed class EchoServer : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(request, state));
    }
}
