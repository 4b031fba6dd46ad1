namespace Noex.Lite.Tests;

/// <summary>
/// <see cref="ProcessRuntime.LinkAsync"/> and the <c>link_ack</c> capability (protocol.md §4.6, §5.5): a link that waits
/// for the other node's acknowledgement and fails typed (noproc, node not reachable, timeout, cancellation), leaving no
/// link behind when it fails; and what happens with a peer that does not offer the capability.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class RemoteLinkAckTests
{
    private static Task NoLinksLeftAsync(params Node[] nodes) =>
        Wait.UntilAsync(() => nodes.All(n => n.Links.Count == 0 && n.Links.PendingCount == 0));

    /// <summary>Links a fresh pair across the connection, kills the remote end and waits for its exit at the trapper: every
    /// signal sent before it on the connection has been handled by then.</summary>
    private static async Task BarrierAsync(Node a, Recorder trapper, ProcessRef trapping, Node b)
    {
        var (_, barrier) = await b.StartRecorderAsync();
        await a.Runtime.LinkAsync(trapping, barrier).Within();
        b.Runtime.Kill(barrier);
        await Wait.UntilAsync(() => trapper.ExitsFrom(barrier).Length == 1);
    }

    [Fact]
    public async Task LinkAsync_LiveRemoteProcess_StandsOnBothSidesWhenItCompletes_AndExitsPropagateBothWays()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (trapA, onA) = await a.StartRecorderAsync(trapExit: true);
        var (_, onB) = await b.StartRecorderAsync();
        var (_, onA2) = await a.StartRecorderAsync();
        var (trapB, onB2) = await b.StartRecorderAsync(trapExit: true);

        await a.Runtime.LinkAsync(onA, onB).Within();
        // The remote end first, from the side that holds the local one: the same link.
        await a.Runtime.LinkAsync(onB2, onA2).Within();

        // No waiting: the acknowledgement came after b recorded both links.
        Assert.Equal(2, a.Links.Count);
        Assert.Equal(2, b.Links.Count);
        Assert.Equal(0, a.Links.PendingCount);

        // b's end crashes: a's trapping end gets it. a's end crashes: b's trapping end gets it.
        b.Runtime.Cast(onB, "boom");
        a.Runtime.Cast(onA2, "boom");
        var crash = ExitReason.Error("boom: the target failed", nameof(InvalidOperationException));
        await Wait.UntilAsync(() => trapA.ExitsFrom(onB).Length == 1 && trapB.ExitsFrom(onA2).Length == 1);
        Assert.Equal(crash, trapA.ExitsFrom(onB)[0].Reason);
        Assert.Equal(crash, trapB.ExitsFrom(onA2)[0].Reason);
        await NoLinksLeftAsync(a, b);
    }

    [Fact]
    public async Task LinkAsync_AlreadyLinked_CompletesWithoutASecondLink()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (_, onA) = await a.StartRecorderAsync();
        var (_, onB) = await b.StartRecorderAsync();

        await a.Runtime.LinkAsync(onA, onB).Within();
        await a.Runtime.LinkAsync(onA, onB).Within();
        // Linked from b's side too: b already holds the link, and a answers status 0 for it.
        await b.Runtime.LinkAsync(onB, onA).Within();

        Assert.Equal(1, a.Links.Count);
        Assert.Equal(1, b.Links.Count);
        Assert.Equal(0, a.Links.PendingCount + b.Links.PendingCount);
    }

    [Fact]
    public async Task LinkAsync_ProcessThatEndedOrNeverExisted_ThrowsNoproc_NoLinkLeftAndNoExitSignal()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (trapper, onA) = await a.StartRecorderAsync(trapExit: true);
        var (_, gone) = await b.StartRecorderAsync();
        await b.Runtime.StopAsync(gone);
        var never = new ProcessRef(b.Id.ToString(), 987_654);

        foreach (var target in new[] { gone, never })
        {
            var e = await Assert.ThrowsAsync<RemoteServerNotRunningException>(() => a.Runtime.LinkAsync(onA, target).Within());
            Assert.Equal(target, e.Target);
            Assert.Equal(0, a.Links.Count);
        }

        await BarrierAsync(a, trapper, onA, b);
        Assert.Empty(trapper.ExitsFrom(gone));
        Assert.Empty(trapper.ExitsFrom(never));
        Assert.True(a.Runtime.IsAlive(onA));
        await NoLinksLeftAsync(a, b);
    }

    [Fact]
    public async Task Link_WithoutWaitingOnALinkAckConnection_ToAMissingProcess_StillGetsTheExitSignalNoproc()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        Assert.True(a.Connections.TryGetConnection(b.Id, out var connection));
        Assert.NotEqual(Capabilities.None, connection.Protocol.Capabilities & Capabilities.LinkAck);
        var (trapper, onA) = await a.StartRecorderAsync(trapExit: true);
        var missing = new ProcessRef(b.Id.ToString(), 424_242);

        a.Runtime.Link(onA, missing);

        await Wait.UntilAsync(() => trapper.ExitsFrom(missing).Length == 1);
        Assert.Equal(ExitReason.NoProc, trapper.ExitsFrom(missing)[0].Reason);
        await NoLinksLeftAsync(a, b);
    }

    [Fact]
    public async Task LinkAsync_NodeNotConnected_NodeNotReachable()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", RemoteSignalNodes.Secret));
        var (trapper, onA) = await a.StartRecorderAsync(trapExit: true);
        var nowhere = new ProcessRef("x@127.0.0.1:1", 1);

        var e = await Assert.ThrowsAsync<NodeNotReachableException>(() => a.Runtime.LinkAsync(onA, nowhere).Within());

        Assert.Equal("x@127.0.0.1:1", e.NodeId);
        Assert.Equal(0, a.Links.Count);
        Assert.Empty(trapper.Infos);
    }

    [Fact]
    public async Task LinkAsync_NoAcknowledgement_TimesOut_WithdrawsTheLinkAndNoExitFollows()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var (trapper, onA) = await a.StartRecorderAsync(trapExit: true);
        var (_, onB) = await b.StartRecorderAsync();
        proxyA.Blackhole = true;
        proxyB.Blackhole = true;

        var e = await Assert.ThrowsAsync<RemoteLinkTimeoutException>(() => a.Runtime.LinkAsync(onA, onB, TimeSpan.FromMilliseconds(300)).Within());

        Assert.Equal(onB, e.Target);
        Assert.Equal(TimeSpan.FromMilliseconds(300), e.Timeout);
        Assert.Equal(0, a.Links.Count);
        // The connection then dies of silence; a link that never stood says nothing about it.
        await Wait.UntilAsync(() => !a.IsConnected(b.Id));
        proxyA.Blackhole = false;
        proxyB.Blackhole = false;
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));
        await NoLinksLeftAsync(a, b);
        b.Runtime.Kill(onB);
        await BarrierAsync(a, trapper, onA, b);
        Assert.Empty(trapper.ExitsFrom(onB));
    }

    [Fact]
    public async Task LinkAsync_ConnectionLostBeforeTheAcknowledgement_NodeNotReachablePromptly_AndNoExitFollows()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var (trapper, onA) = await a.StartRecorderAsync(trapExit: true);
        var (_, onB) = await b.StartRecorderAsync();
        proxyA.Blackhole = true;
        proxyB.Blackhole = true;
        var linking = a.Runtime.LinkAsync(onA, onB, TimeSpan.FromMinutes(5));
        await Wait.UntilAsync(() => a.Links.PendingCount == 1);

        proxyA.ResetAll();
        proxyB.ResetAll();

        // Well before the 5 minutes, and before any heartbeat timeout: the reset closes the connection at once.
        var e = await Assert.ThrowsAsync<NodeNotReachableException>(() => linking.Within());
        Assert.Equal(b.Id.ToString(), e.NodeId);
        Assert.Equal(0, a.Links.Count);
        Assert.Equal(0, a.Links.PendingCount);
        proxyA.Blackhole = false;
        proxyB.Blackhole = false;
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));
        await BarrierAsync(a, trapper, onA, b);
        Assert.Empty(trapper.ExitsFrom(onB));
        Assert.True(a.Runtime.IsAlive(onA));
    }

    [Fact]
    public async Task LinkAsync_Canceled_ThrowsOperationCanceledAndWithdrawsTheLink()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var (_, onA) = await a.StartRecorderAsync(trapExit: true);
        var (_, onB) = await b.StartRecorderAsync();
        proxyA.Blackhole = true;
        proxyB.Blackhole = true;
        using var cancel = new CancellationTokenSource();
        var linking = a.Runtime.LinkAsync(onA, onB, TimeSpan.FromMinutes(5), cancel.Token);
        await Wait.UntilAsync(() => a.Links.PendingCount == 1);

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => linking.Within());
        Assert.Equal(0, a.Links.Count);
    }

    [Fact]
    public async Task LinkAsync_UnlinkedWhileWaiting_Completes_AndALinkWithoutWaitingKeepsAnAbandonedOne()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var (_, onA) = await a.StartRecorderAsync(trapExit: true);
        var (_, onB) = await b.StartRecorderAsync();
        var (_, onB2) = await b.StartRecorderAsync();
        proxyA.Blackhole = true;
        proxyB.Blackhole = true;
        var unlinked = a.Runtime.LinkAsync(onA, onB, TimeSpan.FromMinutes(5));
        using var giveUp = new CancellationTokenSource();
        var kept = a.Runtime.LinkAsync(onA, onB2, TimeSpan.FromMinutes(5), giveUp.Token);
        await Wait.UntilAsync(() => a.Links.PendingCount == 2);

        // Made and then removed, in that order: the wait ends without an error.
        a.Runtime.Unlink(onA, onB);
        await unlinked.Within();
        // A Link of the pair stands on the request the wait then abandons: the link stays, still owed its ack.
        a.Runtime.Link(onA, onB2);
        await giveUp.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => kept.Within());

        Assert.Equal(1, a.Links.Count);
        Assert.Equal(2, a.Links.PendingCount);
    }

    [Fact]
    public async Task LinkAsync_LocalEndEndsWhileWaiting_ServerNotRunning()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var (_, onA) = await a.StartRecorderAsync();
        var (_, onB) = await b.StartRecorderAsync();
        proxyA.Blackhole = true;
        proxyB.Blackhole = true;
        var linking = a.Runtime.LinkAsync(onA, onB, TimeSpan.FromMinutes(5));
        await Wait.UntilAsync(() => a.Links.PendingCount == 1);

        a.Runtime.Kill(onA);

        var e = await Assert.ThrowsAsync<ServerNotRunningException>(() => linking.Within());
        Assert.Equal(onA, e.Target);
        Assert.Equal(ExitReason.Killed, e.Reason);
        Assert.Equal(0, a.Links.Count);
    }

    [Fact]
    public async Task LinkAsync_ManyConcurrentCalls_SamePairsShareOneRequest_AllComplete()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var locals = new List<ProcessRef>();
        var remotes = new List<ProcessRef>();
        for (var i = 0; i < 8; i++)
        {
            locals.Add((await a.StartRecorderAsync()).Ref);
            remotes.Add((await b.StartRecorderAsync()).Ref);
        }
        var (_, gone) = await b.StartRecorderAsync();
        await b.Runtime.StopAsync(gone);

        // Each local process to each remote one, four times over, from the thread pool, with a Link without waiting and a
        // few links to a process that has ended mixed in.
        var calls = new List<Task>();
        var noprocs = new List<Task>();
        for (var round = 0; round < 4; round++)
        {
            foreach (var local in locals)
            {
                foreach (var remote in remotes)
                {
                    calls.Add(Task.Run(() => a.Runtime.LinkAsync(local, remote)));
                }
                calls.Add(Task.Run(() => a.Runtime.Link(local, remotes[0])));
                noprocs.Add(Task.Run(() => a.Runtime.LinkAsync(local, gone)));
            }
        }

        await Task.WhenAll(calls).Within();
        foreach (var noproc in noprocs)
        {
            await Assert.ThrowsAsync<RemoteServerNotRunningException>(() => noproc.Within());
        }
        Assert.Equal(locals.Count * remotes.Count, a.Links.Count);
        Assert.Equal(locals.Count * remotes.Count, b.Links.Count);
        Assert.Equal(0, a.Links.PendingCount);
        foreach (var local in locals)
        {
            Assert.True(a.Runtime.IsAlive(local));
        }
    }

    public static TheoryData<string> OldPeers => new() { "version-1", "version-2-without-link-ack" };

    [Theory]
    [MemberData(nameof(OldPeers))]
    public async Task LinkAsync_PeerWithoutLinkAck_ThrowsNotSupportedAndSendsNothing_LinkStillWorks_And0x2FIsRefused(string old)
    {
        var offer = old == "version-1" ? ProtocolOffer.Version1 : new ProtocolOffer(1, 2, Capabilities.TraceContext);
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret, o => o.Name == "b" ? o with { Protocol = offer } : o);
        var (a, b) = pair;
        Assert.True(a.Connections.TryGetConnection(b.Id, out var connection));
        Assert.Equal(Capabilities.None, connection.Protocol.Capabilities & Capabilities.LinkAck);
        var (trapper, onA) = await a.StartRecorderAsync(trapExit: true);
        var (_, onB) = await b.StartRecorderAsync();

        var e = await Assert.ThrowsAsync<RemoteLinkNotSupportedException>(() => a.Runtime.LinkAsync(onA, onB).Within());
        Assert.Equal(onB, e.Target);
        Assert.Equal(0, a.Links.Count);
        Assert.Equal(0, b.Links.Count);

        // The link without waiting works with every peer; a missing process answers exit noproc there.
        a.Runtime.Link(onA, onB);
        await Wait.UntilAsync(() => b.Links.Count == 1);
        var missing = new ProcessRef(b.Id.ToString(), 424_242);
        a.Runtime.Link(onA, missing);
        await Wait.UntilAsync(() => trapper.ExitsFrom(missing).Length == 1);
        Assert.Equal(ExitReason.NoProc, trapper.ExitsFrom(missing)[0].Reason);
        b.Runtime.Kill(onB);
        await Wait.UntilAsync(() => trapper.ExitsFrom(onB).Length == 1);

        // A well-formed link_ack is refused on this connection (the type is not defined there), and read on one that uses
        // the capability.
        var linkAck = ProtocolVectors.Get("link-ack-linked").Bytes("hex");
        Assert.False(((IClusterService)a.Links).OnMessage(connection, linkAck));
        await using var newer = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        Assert.True(newer.Nodes[0].Connections.TryGetConnection(newer.Nodes[1].Id, out var acking));
        Assert.True(((IClusterService)newer.Nodes[0].Links).OnMessage(acking, linkAck));
    }

    [Fact]
    public async Task LinkAsync_TwoLocalProcesses_LinksAtOnce_OrThrowsForTheOneThatIsGone()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", RemoteSignalNodes.Secret));
        var (trapper, first) = await a.StartRecorderAsync(trapExit: true);
        var (_, second) = await a.StartRecorderAsync();
        var (_, gone) = await a.StartRecorderAsync();
        await a.Runtime.StopAsync(gone);

        await a.Runtime.LinkAsync(first, second).Within();
        var noproc = await Assert.ThrowsAsync<ServerNotRunningException>(() => a.Runtime.LinkAsync(first, gone).Within());
        var notRunning = await Assert.ThrowsAsync<ServerNotRunningException>(() => a.Runtime.LinkAsync(gone, first).Within());
        a.Runtime.Cast(second, "boom");

        Assert.Equal(gone, noproc.Target);
        Assert.Equal(gone, notRunning.Target);
        await Wait.UntilAsync(() => trapper.ExitsFrom(second).Length == 1);
        Assert.Empty(trapper.ExitsFrom(gone));
    }
}
