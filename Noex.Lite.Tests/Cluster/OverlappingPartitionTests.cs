namespace Noex.Lite.Tests;

/// <summary>
/// Reliability case T09: a and b cut from each other while c still reaches both. Membership follows the links (a and b
/// see each other down, c sees no one down), the global registry behaves as protocol.md §5.4 says (c shows one winner
/// and does not flip, a and b each keep their own claim), and after the heal all three converge to one table.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class OverlappingPartitionTests
{

    [Fact]
    public async Task AandBCut_CStillSeesBoth_RegistryStaysStable_AndHealConverges()
    {
        // Each node behind its proxy; a short handshake deadline, so that dials into the cut fail fast.
        await using var cluster = await TestCluster.StartAsync(3, "t09", o => o with { HandshakeTimeout = TimeSpan.FromSeconds(1) }, proxied: true);
        var (a, b, c) = cluster;
        var (pa, pb) = (cluster.Proxies[0], cluster.Proxies[1]);
        Node[] all = [a, b, c];
        var events = NodeEvents.Watch(all);
        var downs = events.Downs;
        var onA = await a.Runtime.StartAsync(new Idle());
        var onB = await b.Runtime.StartAsync(new Idle());

        // Cut a–b in both directions, whoever dials: a's dials through b's proxy, b's through a's.
        pb.Cut("a");
        pa.Cut("b");
        await Wait.UntilAsync(() => downs.Any(d => d.Seer == a) && downs.Any(d => d.Seer == b));
        Assert.True(c.IsConnected(a.Id) && c.IsConnected(b.Id));
        Assert.False(a.IsConnected(b.Id) || b.IsConnected(a.Id));
        Assert.All(downs, d => Assert.Equal(NodeDownReason.HeartbeatTimeout, d.Reason));
        Assert.Contains(downs, d => (d.Seer, d.Peer) == (a, b.Id));
        Assert.Contains(downs, d => (d.Seer, d.Peer) == (b, a.Id));

        // Both sides claim one name while they cannot see each other; c sees both claims and keeps one winner.
        a.GlobalRegistry.Register("leader", onA);
        b.GlobalRegistry.Register("leader", onB);
        // c shows the least claim, so it may switch once when the second claim arrives; from then on it must not.
        await Wait.UntilAsync(() => c.GlobalRegistry.ClaimCount == 2);
        var seenByC = c.GlobalRegistry.Whereis("leader");
        Assert.Equal(onA, a.GlobalRegistry.Whereis("leader"));
        Assert.Equal(onB, b.GlobalRegistry.Whereis("leader"));
        // Gossip keeps a and b trying to reach each other through the cut; c's choice must not flip meanwhile.
        for (var i = 0; i < 20; i++)
        {
            await Wait.UntilAsync(() => c.IsConnected(a.Id) && c.IsConnected(b.Id));
            Assert.Equal(seenByC, c.GlobalRegistry.Whereis("leader"));
            await Task.Yield();
        }
        Assert.DoesNotContain(downs, d => d.Seer == c);

        // Heal: a and b meet again, and every node shows one identical table with one winner.
        pb.Mend("a");
        pa.Mend("b");
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));
        await Wait.UntilAsync(() =>
            all.Select(n => n.GlobalRegistry.Whereis("leader")).Distinct().Count() == 1 && a.GlobalRegistry.Whereis("leader") is not null);
        Assert.Equal(seenByC, a.GlobalRegistry.Whereis("leader"));
        Assert.DoesNotContain(downs, d => d.Seer == c);
    }}
