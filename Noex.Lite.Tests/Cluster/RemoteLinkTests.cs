namespace Noex.Lite.Tests;

/// <summary>Links and exit signals across nodes (protocol.md §5.5), with OTP's semantics.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class RemoteLinkTests
{
    /// <summary>Links <paramref name="local"/> (on <paramref name="a"/>) to <paramref name="remote"/> and waits until both sides hold it.</summary>
    private static async Task LinkAsync(Node a, ProcessRef local, Node b, ProcessRef remote)
    {
        var before = b.Links.Count;
        a.Runtime.Link(local, remote);
        await Wait.UntilAsync(() => b.Links.Count > before);
    }

    private static Task NoLinksLeftAsync(params Node[] nodes) => Wait.UntilAsync(() => nodes.All(n => n.Links.Count == 0));

    /// <summary>The index by connection holds exactly the links and pending pairs the tables hold.</summary>
    private static void IndexMatches(params Node[] nodes)
    {
        foreach (var node in nodes)
        {
            Assert.Equal((node.Links.Count, node.Links.PendingCount), node.Links.IndexedCount);
        }
    }

    public static TheoryData<string, bool> Crashes => new()
    {
        { "error", false }, { "error", true }, { "killed", false }, { "killed", true }, { "shutdown", false }, { "shutdown", true },
    };

    [Theory]
    [MemberData(nameof(Crashes))]
    public async Task Link_OneEndEndsAbnormally_TheOtherEndDiesWithTheSameReason(string ending, bool fromB)
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (_, onA) = await a.StartRecorderAsync();
        var (_, onB) = await b.StartRecorderAsync();
        await LinkAsync(a, onA, b, onB);
        var (dying, dyingNode, survivor, survivorNode) = fromB ? (onB, b, onA, a) : (onA, a, onB, b);

        // Asked for before the ending: once the process is gone, WaitForExitAsync can only say noproc.
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var survivorExit = survivorNode.Runtime.WaitForExitAsync(survivor, bound.Token);
        var expected = await dyingNode.EndAsync(dying, ending);

        Assert.Equal(expected, await survivorExit);
        await NoLinksLeftAsync(a, b);
    }

    [Fact]
    public async Task Link_EndStopsNormally_NonTrappingSurvivesAndTrappingGetsTheSignal()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (_, plain) = await a.StartRecorderAsync();
        var (trapper, trapping) = await a.StartRecorderAsync(trapExit: true);
        var (_, onB) = await b.StartRecorderAsync();
        await LinkAsync(a, plain, b, onB);
        await LinkAsync(a, trapping, b, onB);

        await b.Runtime.StopAsync(onB);

        await Wait.UntilAsync(() => trapper.ExitsFrom(onB).Length == 1);
        Assert.Equal(ExitReason.Normal, trapper.ExitsFrom(onB)[0].Reason);
        await NoLinksLeftAsync(a, b);
        Assert.True(a.Runtime.IsAlive(plain));
        Assert.True(a.Runtime.IsAlive(trapping));
    }

    [Fact]
    public async Task Link_TrappingEndOnB_ReceivesTheCrashOfItsPeerOnAAsAMessage()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (_, onA) = await a.StartRecorderAsync();
        var (trapper, onB) = await b.StartRecorderAsync(trapExit: true);
        // Linked from b's side this time.
        await LinkAsync(b, onB, a, onA);

        a.Runtime.Cast(onA, "boom");

        await Wait.UntilAsync(() => trapper.ExitsFrom(onA).Length == 1);
        var exit = trapper.ExitsFrom(onA)[0];
        Assert.Equal(ExitReason.Error("boom: the target failed", nameof(InvalidOperationException)), exit.Reason);
        Assert.Equal(a.Id.ToString(), exit.From.Node);
        Assert.True(b.Runtime.IsAlive(onB));
        await NoLinksLeftAsync(a, b);
    }

    [Fact]
    public async Task Unlink_ThenTheOtherEndCrashes_NothingPropagatesEitherWay()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (trapper, onA) = await a.StartRecorderAsync(trapExit: true);
        var (_, onB) = await b.StartRecorderAsync();
        await LinkAsync(a, onA, b, onB);

        a.Runtime.Unlink(onA, onB);
        await NoLinksLeftAsync(a, b);
        b.Runtime.Kill(onB);
        // A barrier on the same connection: a linked process that crashes after the first one.
        var (_, barrier) = await b.StartRecorderAsync();
        await LinkAsync(a, onA, b, barrier);
        b.Runtime.Kill(barrier);
        await Wait.UntilAsync(() => trapper.ExitsFrom(barrier).Length == 1);

        Assert.Empty(trapper.ExitsFrom(onB));
        await NoLinksLeftAsync(a, b);
    }

    [Fact]
    public async Task Link_ToAProcessThatDoesNotExist_Noproc()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (trapper, onA) = await a.StartRecorderAsync(trapExit: true);
        var missing = new ProcessRef(b.Id.ToString(), 424_242);

        a.Runtime.Link(onA, missing);

        await Wait.UntilAsync(() => trapper.ExitsFrom(missing).Length == 1);
        Assert.Equal(ExitReason.NoProc, trapper.ExitsFrom(missing)[0].Reason);
        await NoLinksLeftAsync(a, b);
    }

    [Fact]
    public async Task Link_OtherNodeStops_TrappingGetsNoconnectionAndNonTrappingDiesWithIt()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (trapper, trapping) = await a.StartRecorderAsync(trapExit: true);
        var (_, plain) = await a.StartRecorderAsync();
        var (_, onB) = await b.StartRecorderAsync();
        await LinkAsync(a, trapping, b, onB);
        await LinkAsync(a, plain, b, onB);

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var plainExit = a.Runtime.WaitForExitAsync(plain, bound.Token);

        await b.StopAsync();

        Assert.Equal(ExitReason.NoConnection, await plainExit);
        await Wait.UntilAsync(() => trapper.ExitsFrom(onB).Length == 1);
        Assert.Equal(ExitReason.NoConnection, trapper.ExitsFrom(onB)[0].Reason);
        await NoLinksLeftAsync(a);
    }

    [Fact]
    public async Task NodeLost_ItsLinksGetNoconnection_AndLinksToAnotherNodeStand()
    {
        await using var mesh = await TestCluster.StartAsync(3, RemoteSignalNodes.Secret);
        var (a, b, c) = mesh;
        var (trapper, trapping) = await a.StartRecorderAsync(trapExit: true);
        var onB = new List<ProcessRef>();
        var onC = new List<ProcessRef>();
        for (var i = 0; i < 5; i++)
        {
            onB.Add((await b.StartRecorderAsync()).Ref);
            onC.Add((await c.StartRecorderAsync()).Ref);
        }
        foreach (var remote in onB)
        {
            await LinkAsync(a, trapping, b, remote);
        }
        // Links to c from both sides, and one through LinkAsync (acknowledged, on a link_ack connection).
        await LinkAsync(a, trapping, c, onC[0]);
        await LinkAsync(c, onC[1], a, trapping);
        await a.Runtime.LinkAsync(trapping, onC[2]);
        Assert.Equal(8, a.Links.Count);
        IndexMatches(a, b, c);

        await b.StopAsync();

        await Wait.UntilAsync(() => onB.All(r => trapper.ExitsFrom(r).Length == 1));
        Assert.All(onB, r => Assert.Equal(ExitReason.NoConnection, trapper.ExitsFrom(r)[0].Reason));
        Assert.Equal(3, a.Links.Count);
        IndexMatches(a, c);
        Assert.All(onC, r => Assert.Empty(trapper.ExitsFrom(r)));
        // c's links still work: an end crashing there reaches the trapper.
        c.Runtime.Kill(onC[1]);
        await Wait.UntilAsync(() => trapper.ExitsFrom(onC[1]).Length == 1);
        Assert.Equal(ExitReason.Killed, trapper.ExitsFrom(onC[1])[0].Reason);
        await Wait.UntilAsync(() => a.Links.Count == 2);
        IndexMatches(a, c);
    }

    [Fact]
    public async Task RelinksUnlinksAndEnds_KeepTheIndexByConnectionMatchingTheLinks()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (trapper, onA) = await a.StartRecorderAsync(trapExit: true);
        var (_, other) = await a.StartRecorderAsync(trapExit: true);
        var (_, onB) = await b.StartRecorderAsync();
        var (_, second) = await b.StartRecorderAsync();

        // Linked, unlinked, linked again, from either side, and twice over (a repeat is one link).
        await LinkAsync(a, onA, b, onB);
        a.Runtime.Link(onA, onB);
        IndexMatches(a, b);
        a.Runtime.Unlink(onA, onB);
        await NoLinksLeftAsync(a, b);
        IndexMatches(a, b);
        await a.Runtime.LinkAsync(onA, onB);
        await LinkAsync(b, second, a, onA);
        await LinkAsync(a, other, b, second);
        await Wait.UntilAsync(() => a.Links.Count == 3 && b.Links.Count == 3);
        IndexMatches(a, b);
        b.Runtime.Unlink(second, onA);
        await Wait.UntilAsync(() => a.Links.Count == 2 && b.Links.Count == 2);
        IndexMatches(a, b);

        // An end on a ends its links; one on b sends its exit, which takes the link out on a.
        await a.Runtime.StopAsync(other);
        await Wait.UntilAsync(() => a.Links.Count == 1 && b.Links.Count == 1);
        IndexMatches(a, b);
        b.Runtime.Kill(onB);
        await Wait.UntilAsync(() => trapper.ExitsFrom(onB).Length == 1);
        await NoLinksLeftAsync(a, b);
        // A link to a process that is gone: noproc, and nothing left indexed.
        await Assert.ThrowsAsync<RemoteServerNotRunningException>(() => a.Runtime.LinkAsync(onA, onB));
        await Wait.UntilAsync(() => a.Links.PendingCount == 0);
        IndexMatches(a, b);
        Assert.Equal((0, 0), a.Links.IndexedCount);
        Assert.Equal((0, 0), b.Links.IndexedCount);
    }

    [Fact]
    public async Task Link_NodeNotConnected_Noconnection()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", RemoteSignalNodes.Secret));
        var (trapper, onA) = await a.StartRecorderAsync(trapExit: true);
        var nowhere = new ProcessRef("x@127.0.0.1:1", 1);

        a.Runtime.Link(onA, nowhere);

        await Wait.UntilAsync(() => trapper.ExitsFrom(nowhere).Length == 1);
        Assert.Equal(ExitReason.NoConnection, trapper.ExitsFrom(nowhere)[0].Reason);
        Assert.Equal(0, a.Links.Count);
    }

    [Fact]
    public async Task Exit_ToARemoteProcess_EndsItOrReachesItAsAMessageWhenTrapping()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (_, sender) = await a.StartRecorderAsync();
        var (_, plain) = await b.StartRecorderAsync();
        var (trapper, trapping) = await b.StartRecorderAsync(trapExit: true);
        var reason = ExitReason.Error("told to go", "Custom");

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var plainExit = b.Runtime.WaitForExitAsync(plain, bound.Token);

        Assert.True(a.Runtime.Exit(plain, reason, sender));
        Assert.True(a.Runtime.Exit(trapping, reason, sender));

        Assert.Equal(reason, await plainExit);
        await Wait.UntilAsync(() => trapper.ExitsFrom(sender).Length == 1);
        Assert.Equal(reason, trapper.ExitsFrom(sender)[0].Reason);
    }

    [Fact]
    public async Task Link_ProxyResetsTheConnection_NoconnectionOnBothSides()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var (trapA, onA) = await a.StartRecorderAsync(trapExit: true);
        var (trapB, onB) = await b.StartRecorderAsync(trapExit: true);
        await LinkAsync(a, onA, b, onB);

        proxyA.ResetAll();
        proxyB.ResetAll();

        await Wait.UntilAsync(() => trapA.ExitsFrom(onB).Length == 1 && trapB.ExitsFrom(onA).Length == 1);
        Assert.Equal(ExitReason.NoConnection, trapA.ExitsFrom(onB)[0].Reason);
        Assert.Equal(ExitReason.NoConnection, trapB.ExitsFrom(onA)[0].Reason);
        await NoLinksLeftAsync(a, b);
    }
}
