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
