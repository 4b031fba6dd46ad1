using System.Collections.Concurrent;
using System.Diagnostics;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// The registry's hybrid logical clock under load (protocol.md §5.4, issue #21): a node that registers far more than one
/// name per millisecond must not stamp its claims ahead of the wall clock, or its peers refuse them past the 60 s skew
/// bound and close the connection.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class GlobalRegistryClockTests(ITestOutputHelper output)
{
    private const string Secret = "registry-clock-tests";

    // Far more names than milliseconds they take to register, on any machine: a clock that went one millisecond ahead per
    // name above one a millisecond would run minutes ahead, past the 60 s a peer accepts.
    private const int Names = 200_000;
    private const int NamesPerProcess = 10_000;

    [Fact]
    public async Task Register_ManyNamesFasterThanOneAMillisecond_StampsStayAtTheWallClock_AndThePeerAcceptsThemAll()
    {
        await using var mesh = await TestCluster.StartAsync(2, Secret);
        var (registrar, peer) = mesh;
        var downs = new ConcurrentQueue<string>();
        registrar.NodeDown += e => downs.Enqueue($"{e.Node} {e.Reason} {e.Cause} {e.Detail}");
        peer.NodeDown += e => downs.Enqueue($"{e.Node} {e.Reason} {e.Cause} {e.Detail}");
        var holders = new List<ProcessRef>();
        for (var i = 0; i < Names / NamesPerProcess; i++)
        {
            holders.Add(await registrar.Runtime.StartAsync(new Idle()));
        }

        var elapsed = Stopwatch.StartNew();
        var aheadMost = 0L;
        for (var i = 0; i < Names; i++)
        {
            registrar.GlobalRegistry.Register($"clock-{i}", holders[i / NamesPerProcess]);
            if (i % 1000 == 999)
            {
                aheadMost = Math.Max(aheadMost, registrar.GlobalRegistry.Clock - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            }
        }
        elapsed.Stop();
        output.WriteLine($"{Names} names in {elapsed.ElapsedMilliseconds} ms; the clock was at most {aheadMost} ms ahead of the wall clock");

        // Every register reached the peer and was accepted: the connection never closed as a protocol error.
        await Wait.UntilAsync(() => peer.GlobalRegistry.Count == Names || !downs.IsEmpty, Bounded.Wait * 4);
        Assert.True(downs.IsEmpty, string.Join(Environment.NewLine, downs));
        Assert.Equal(Names, peer.GlobalRegistry.Count);
        // Stamps are the wall clock: the clock never ran ahead of it by more than a moment (it may lead by the little the
        // two reads above differ), let alone by the skew a peer tolerates.
        Assert.InRange(aheadMost, long.MinValue, 1000);
        Assert.InRange(registrar.GlobalRegistry.Clock - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), long.MinValue, 1000);
    }

    [Fact]
    public async Task Register_AfterSeeingAStampAheadOfTheWallClock_IsStampedNoEarlier_AndEveryPeerAcceptsIt()
    {
        // b's clock runs 30 s ahead (within the 60 s skew): a, having seen b's claim, stamps its own after it, whatever
        // its wall clock says, and c (on the wall clock) accepts both.
        var ahead = TimeSpan.FromSeconds(30);
        await using var mesh = await TestCluster.StartAsync(3, Secret, o => o.Name == "b" ? o with { TimeProvider = new GlobalRegistryTests.ShiftedTime { Shift = ahead } } : o);
        var (a, b, c) = mesh;
        var downs = new ConcurrentQueue<string>();
        foreach (var node in mesh.Nodes)
        {
            node.NodeDown += e => downs.Enqueue($"{e.Node} {e.Reason} {e.Cause} {e.Detail}");
        }

        b.GlobalRegistry.Register("early", await b.Runtime.StartAsync(new Idle()));
        await Wait.UntilAsync(() => a.GlobalRegistry.IsRegistered("early"));
        var seen = b.GlobalRegistry.Clock;
        Assert.InRange(seen, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 20_000, long.MaxValue);
        a.GlobalRegistry.Register("later", await a.Runtime.StartAsync(new Idle()));

        Assert.InRange(a.GlobalRegistry.Clock, seen, seen + 60_000);
        await Wait.UntilAsync(() => mesh.Nodes.All(n => n.GlobalRegistry.Count == 2) || !downs.IsEmpty);
        Assert.True(downs.IsEmpty, string.Join(Environment.NewLine, downs));
    }

    [Fact]
    public async Task Partition_BothSidesClaimANameWithTheSameStamp_TheLesserRegistrarIdWinsEverywhere()
    {
        // Both wall clocks stand still at one millisecond: every stamp on both sides is that millisecond, as claims made
        // within one millisecond now are (stamps are no longer made unique by running ahead).
        var frozen = new FrozenTime(DateTimeOffset.UtcNow);
        await using var pair = await TestCluster.StartAsync(2, Secret, o => o with { TimeProvider = frozen }, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        proxyA.Blackhole = true;
        proxyB.Blackhole = true;
        await Wait.UntilAsync(() => !a.IsConnected(b.Id) && !b.IsConnected(a.Id));
        var leaderA = await a.Runtime.StartAsync(new Idle());
        var leaderB = await b.Runtime.StartAsync(new Idle());
        a.GlobalRegistry.Register("leader", leaderA);
        b.GlobalRegistry.Register("leader", leaderB);
        Assert.Equal(a.GlobalRegistry.Clock, b.GlobalRegistry.Clock);

        proxyA.Blackhole = false;
        proxyB.Blackhole = false;

        // a@… is less than b@…: a's claim wins on both nodes, and b withdraws its own.
        Assert.True(string.CompareOrdinal(a.Id.ToString(), b.Id.ToString()) < 0);
        await GlobalRegistryTests.ConvergedAsync([a, b], $"leader={leaderA}");
        await Wait.UntilAsync(() => a.GlobalRegistry.ClaimCount == 1 && b.GlobalRegistry.ClaimCount == 1);
        Assert.Equal(a.GlobalRegistry.Clock, b.GlobalRegistry.Clock);
    }

    /// <summary>A wall clock that stands still; timers and timestamps (heartbeats, timeouts) run as they are.</summary>
    private sealed class FrozenTime(DateTimeOffset at) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => at;
    }
}
