using System.Collections.Concurrent;

namespace Noex.Lite.Tests;

/// <summary>Monitors across nodes (protocol.md §5.5): every reason produced for real on one node and observed on the other.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class RemoteMonitorTests
{
    /// <summary>Waits for the first down message of <paramref name="monitor"/> and returns it.</summary>
    private static async Task<InfoMessage> DownAsync(Recorder watcher, MonitorRef monitor)
    {
        await Wait.UntilAsync(() => watcher.DownsOf(monitor).Length > 0);
        return watcher.DownsOf(monitor)[0];
    }

    /// <summary>Waits until both nodes' monitor tables are empty: nothing leaked on either side.</summary>
    private static Task NoMonitorsLeftAsync(params Node[] nodes) =>
        Wait.UntilAsync(() => nodes.All(n => n.Monitors.OutgoingCount == 0 && n.Monitors.IncomingCount == 0));

    /// <summary>
    /// A barrier: monitors a fresh process on <paramref name="from"/> and kills it, then waits for that down. Downs travel one
    /// connection (or the local runtime) to one mailbox in order, so every down <paramref name="from"/> sent the watcher
    /// before has been handled by then.
    /// </summary>
    private static async Task DownsFromDeliveredAsync(Node a, Node from, Recorder watcher, ProcessRef watcherRef)
    {
        var (_, sentinel) = await from.StartRecorderAsync();
        var last = from == a ? a.Runtime.Monitor(watcherRef, sentinel) : await a.Monitors.MonitorAsync(watcherRef, sentinel);
        from.Runtime.Kill(sentinel);
        await DownAsync(watcher, last);
    }

    public static TheoryData<string> Endings => new() { "normal", "shutdown", "killed", "error" };

    [Theory]
    [MemberData(nameof(Endings))]
    public async Task Monitor_RemoteTargetEnds_WatcherGetsTheSameReasonOnceAndTheLifecycleEventCarriesIt(string ending)
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (watcher, watcherRef) = await a.StartRecorderAsync();
        var (_, target) = await b.StartRecorderAsync();
        var events = new ConcurrentQueue<LifecycleEvent>();
        using var subscription = a.Runtime.Events.Subscribe(e =>
        {
            if (e.Kind == LifecycleEventKind.ProcessDown)
            {
                events.Enqueue(e);
            }
        });
        var monitor = await a.Monitors.MonitorAsync(watcherRef, target);
        Assert.Equal(1, b.Monitors.IncomingCount);

        var expected = await b.EndAsync(target, ending);

        var down = await DownAsync(watcher, monitor);
        Assert.Equal(expected, down.Reason);
        Assert.Equal(target, down.From);
        await Wait.UntilAsync(() => !events.IsEmpty);
        var e = Assert.Single(events);
        Assert.Equal(watcherRef, e.Process);
        Assert.Equal(target, e.Other);
        Assert.Equal(monitor, e.Monitor);
        Assert.Equal(expected, e.Reason);
        await NoMonitorsLeftAsync(a, b);
        Assert.Single(watcher.DownsOf(monitor));
    }

    [Fact]
    public async Task Monitor_TargetDoesNotExist_NoprocAtOnceThroughBothEntries()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (watcher, watcherRef) = await a.StartRecorderAsync();
        var (_, gone) = await b.StartRecorderAsync();
        await b.Runtime.StopAsync(gone);

        var transparent = a.Runtime.Monitor(watcherRef, gone);
        var awaited = await a.Monitors.MonitorAsync(watcherRef, new ProcessRef(b.Id.ToString(), 987_654));

        Assert.Equal(ExitReason.NoProc, (await DownAsync(watcher, transparent)).Reason);
        Assert.Equal(ExitReason.NoProc, (await DownAsync(watcher, awaited)).Reason);
        await NoMonitorsLeftAsync(a, b);
    }

    [Fact]
    public async Task Monitor_NodeStopsGracefully_NoconnectionOnceAndTablesCleared()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (watcher, watcherRef) = await a.StartRecorderAsync();
        var (_, target) = await b.StartRecorderAsync();
        var (monitoredByB, monitoredByBRef) = await a.StartRecorderAsync();
        var (bWatcher, bWatcherRef) = await b.StartRecorderAsync();
        var monitor = await a.Monitors.MonitorAsync(watcherRef, target);
        await b.Monitors.MonitorAsync(bWatcherRef, monitoredByBRef);
        Assert.Equal(1, a.Monitors.IncomingCount);

        await b.StopAsync();

        Assert.Equal(ExitReason.NoConnection, (await DownAsync(watcher, monitor)).Reason);
        // The node that went away no longer watches anything here.
        await NoMonitorsLeftAsync(a);
        Assert.True(a.Runtime.IsAlive(monitoredByBRef));
        Assert.Single(watcher.DownsOf(monitor));
    }

    [Fact]
    public async Task Monitor_NodeNotConnected_TransparentDeliversNoconnectionAndMonitorAsyncThrows()
    {
        await using var a = await Node.StartAsync(TestNodes.Options("a", RemoteSignalNodes.Secret));
        var (watcher, watcherRef) = await a.StartRecorderAsync();
        var nowhere = new ProcessRef("x@127.0.0.1:1", 1);

        var monitor = a.Runtime.Monitor(watcherRef, nowhere);

        Assert.Equal(ExitReason.NoConnection, (await DownAsync(watcher, monitor)).Reason);
        await Assert.ThrowsAsync<NodeNotReachableException>(() => a.Monitors.MonitorAsync(watcherRef, nowhere));
        await NoMonitorsLeftAsync(a);
    }

    [Fact]
    public async Task Demonitor_BeforeTheTargetEnds_NoDownAndTheRemoteEntryGoes()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (watcher, watcherRef) = await a.StartRecorderAsync();
        var (_, target) = await b.StartRecorderAsync();
        var monitor = await a.Monitors.MonitorAsync(watcherRef, target);

        Assert.True(a.Runtime.Demonitor(monitor));
        Assert.False(a.Monitors.Demonitor(monitor));
        await NoMonitorsLeftAsync(a, b);
        b.Runtime.Kill(target);
        await DownsFromDeliveredAsync(a, b, watcher, watcherRef);

        Assert.Empty(watcher.DownsOf(monitor));
    }

    [Fact]
    public async Task Watcher_Ends_ItsMonitorsOnTheOtherNodeAreRemoved()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (_, watcherRef) = await a.StartRecorderAsync();
        var (_, target) = await b.StartRecorderAsync();
        for (var i = 0; i < 10; i++)
        {
            a.Runtime.Monitor(watcherRef, target);
        }
        await Wait.UntilAsync(() => b.Monitors.IncomingCount == 10);

        a.Runtime.Kill(watcherRef);

        await NoMonitorsLeftAsync(a, b);
        Assert.True(b.Runtime.IsAlive(target));
    }

    [Fact]
    public async Task ManyMonitors_DemonitorRacesTheTargetsDying_ExactlyOnceAndNeverAfterDemonitor()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (watcher, watcherRef) = await a.StartRecorderAsync();
        const int Targets = 50;
        const int PerTarget = 8;
        var targets = new ProcessRef[Targets];
        for (var i = 0; i < Targets; i++)
        {
            targets[i] = (await b.StartRecorderAsync()).Ref;
        }
        var monitors = new List<MonitorRef>();
        foreach (var target in targets)
        {
            for (var j = 0; j < PerTarget; j++)
            {
                monitors.Add(a.Runtime.Monitor(watcherRef, target));
            }
        }
        await Wait.UntilAsync(() => b.Monitors.IncomingCount == Targets * PerTarget);

        // Every target dies while every other monitor is demonitored on another thread, at the same time.
        var demonitored = new ConcurrentDictionary<MonitorRef, bool>();
        using var go = new ManualResetEventSlim();
        var killer = Task.Run(() =>
        {
            go.Wait();
            foreach (var target in targets)
            {
                b.Runtime.Kill(target);
            }
        });
        var demonitor = Task.Run(() =>
        {
            go.Wait();
            for (var i = 0; i < monitors.Count; i += 2)
            {
                demonitored[monitors[i]] = a.Runtime.Demonitor(monitors[i]);
            }
        });
        go.Set();
        await Task.WhenAll(killer, demonitor);
        await DownsFromDeliveredAsync(a, b, watcher, watcherRef);
        // Every monitor not removed in time fires once; give those downs time to arrive before counting.
        await Wait.UntilAsync(() => monitors.Where(m => !demonitored.GetValueOrDefault(m)).All(m => watcher.DownsOf(m).Length > 0));

        foreach (var monitor in monitors)
        {
            var downs = watcher.DownsOf(monitor);
            if (demonitored.GetValueOrDefault(monitor))
            {
                Assert.Empty(downs);
            }
            else
            {
                Assert.Equal(ExitReason.Killed, Assert.Single(downs).Reason);
            }
        }
        await NoMonitorsLeftAsync(a, b);
    }

    [Fact]
    public async Task ManyMonitors_DemonitorRacesTheNodeGoingAway_NoconnectionExactlyOnceAndNeverAfterDemonitor()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var (watcher, watcherRef) = await a.StartRecorderAsync();
        var (_, target) = await b.StartRecorderAsync();
        var monitors = Enumerable.Range(0, 400).Select(_ => a.Runtime.Monitor(watcherRef, target)).ToList();
        await Wait.UntilAsync(() => b.Monitors.IncomingCount == monitors.Count);

        var demonitored = new ConcurrentDictionary<MonitorRef, bool>();
        using var go = new ManualResetEventSlim();
        var stop = Task.Run(async () =>
        {
            go.Wait();
            await b.StopAsync();
        });
        var demonitor = Task.Run(() =>
        {
            go.Wait();
            for (var i = 0; i < monitors.Count; i += 2)
            {
                demonitored[monitors[i]] = a.Runtime.Demonitor(monitors[i]);
            }
        });
        go.Set();
        await Task.WhenAll(stop, demonitor);
        await Wait.UntilAsync(() => monitors.Where(m => !demonitored.GetValueOrDefault(m)).All(m => watcher.DownsOf(m).Length > 0));
        // A local barrier: anything still queued for the watcher before it has been handled after it.
        await DownsFromDeliveredAsync(a, a, watcher, watcherRef);

        foreach (var monitor in monitors)
        {
            var downs = watcher.DownsOf(monitor);
            if (demonitored.GetValueOrDefault(monitor))
            {
                Assert.Empty(downs);
            }
            else
            {
                Assert.Equal(ExitReason.NoConnection, Assert.Single(downs).Reason);
            }
        }
        await NoMonitorsLeftAsync(a);
    }

    [Fact]
    public async Task WatchersAndTargetsEndTogether_NoEntryLeaksOnEitherSide()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret);
        var (a, b) = pair;
        var watchers = new ProcessRef[100];
        var targets = new ProcessRef[100];
        for (var i = 0; i < watchers.Length; i++)
        {
            watchers[i] = (await a.StartRecorderAsync()).Ref;
            targets[i] = (await b.StartRecorderAsync()).Ref;
        }
        // Both directions: a's processes watch b's and b's watch a's, five each.
        for (var i = 0; i < watchers.Length; i++)
        {
            for (var j = 0; j < 5; j++)
            {
                a.Runtime.Monitor(watchers[i], targets[(i + j) % targets.Length]);
                b.Runtime.Monitor(targets[i], watchers[(i + j) % watchers.Length]);
            }
        }
        await Wait.UntilAsync(() => a.Monitors.IncomingCount == 500 && b.Monitors.IncomingCount == 500);

        // Downs and demonitors cross on the wire in both directions while both sides' processes end.
        await Task.WhenAll(
            Task.Run(() => Array.ForEach(watchers, w => a.Runtime.Kill(w))),
            Task.Run(() => Array.ForEach(targets, t => b.Runtime.Kill(t))));

        await NoMonitorsLeftAsync(a, b);
    }

    [Fact]
    public async Task MonitorAsync_NoAcknowledgement_TimesOutAndNoDownFollows()
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var (watcher, watcherRef) = await a.StartRecorderAsync();
        var (_, target) = await b.StartRecorderAsync();
        proxyA.Blackhole = true;
        proxyB.Blackhole = true;

        await Assert.ThrowsAsync<RemoteMonitorTimeoutException>(() => a.Monitors.MonitorAsync(watcherRef, target, TimeSpan.FromMilliseconds(300)));

        Assert.Equal(0, a.Monitors.OutgoingCount);
        // The connection then dies of silence; a monitor that never stood says nothing about it either.
        await Wait.UntilAsync(() => !a.IsConnected(b.Id));
        proxyA.Blackhole = false;
        proxyB.Blackhole = false;
        await DownsFromDeliveredAsync(a, a, watcher, watcherRef);
        Assert.Single(watcher.Infos);
    }

    public static TheoryData<string> Faults => new() { "reset", "partition" };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task Monitor_LinkBreaksThroughTheProxy_NoconnectionExactlyOnceAndNoRefireAfterHeal(string fault)
    {
        await using var pair = await TestCluster.StartAsync(2, RemoteSignalNodes.Secret, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var ups = 0;
        a.NodeUp += _ => Interlocked.Increment(ref ups);
        var (watcher, watcherRef) = await a.StartRecorderAsync();
        var (_, target) = await b.StartRecorderAsync();
        var monitor = await a.Monitors.MonitorAsync(watcherRef, target);

        if (fault == "reset")
        {
            proxyA.ResetAll();
            proxyB.ResetAll();
        }
        else
        {
            proxyA.Blackhole = true;
            proxyB.Blackhole = true;
        }
        Assert.Equal(ExitReason.NoConnection, (await DownAsync(watcher, monitor)).Reason);
        proxyA.Blackhole = false;
        proxyB.Blackhole = false;
        await Wait.UntilAsync(() => Volatile.Read(ref ups) > 0 && a.IsConnected(b.Id) && b.IsConnected(a.Id));
        // Healed: the monitor is not re-armed (Erlang), so the target's end now says nothing to the watcher.
        await NoMonitorsLeftAsync(a, b);
        b.Runtime.Kill(target);
        await DownsFromDeliveredAsync(a, b, watcher, watcherRef);

        Assert.Single(watcher.DownsOf(monitor));
    }
}
