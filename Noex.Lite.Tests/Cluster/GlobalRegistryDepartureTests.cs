namespace Noex.Lite.Tests;

/// <summary>
/// A node that holds many global names going down (issue #21, protocol.md §5.4 Removal): its names are gone for every
/// reader from its node-down event on, the failure notices (NodeDown, a monitor's down) do not wait for the table's
/// cleanup, another node may take its names at once, and a node that reconnects keeps the names it brings back. The
/// cleanup is held back with the registry's gate where a test needs the table as the departure left it.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class GlobalRegistryDepartureTests
{
    private const string Secret = "registry-departure-tests";
    private const int NamesPerProcess = 1000;

    private static string NameOf(int i) => $"svc-{i:D6}";

    /// <summary>
    /// A node that registers <paramref name="names"/> names for its own processes before it connects to anyone, then
    /// joins <paramref name="hub"/>; returns once <paramref name="hub"/> shows them all.
    /// </summary>
    /// <remarks>Registering faster than a name per millisecond runs a node's hybrid clock ahead of the wall clock, past
    /// the 60 s a peer accepts: its wall clock is set back a millisecond per name, so that its stamps end near the real
    /// time, and its names reach the hub in the join sync, which may carry claims made earlier (§5.4).</remarks>
    private static async Task<Node> StartNamedPeerAsync(Node hub, int names)
    {
        var peer = await Node.StartAsync(TestNodes.Options("many", Secret) with { TimeProvider = new ShiftedClock(TimeSpan.FromMilliseconds(-names)) });
        ProcessRef holder = default;
        for (var i = 0; i < names; i++)
        {
            if (i % NamesPerProcess == 0)
            {
                holder = await peer.Runtime.StartAsync(new Idle());
            }
            peer.GlobalRegistry.Register(NameOf(i), holder);
        }
        Assert.NotNull(await peer.DialAsync(hub.Id));
        await Wait.UntilAsync(() => hub.GlobalRegistry.Whereis(NameOf(names - 1)) is not null && hub.GlobalRegistry.Count >= names);
        return peer;
    }

    private static Task<Node> StartHubAsync(string name, params string[] seeds) => Node.StartAsync(TestNodes.Options(name, Secret, seeds));

    [Fact]
    public async Task NodeDown_OfANodeWith100kNames_AndAMonitorsDown_DoNotWaitForTheCleanup_AndItsNamesAreGoneAtOnce()
    {
        const int Names = 100_000;
        await using var hub = await StartHubAsync("hub");
        var peer = await StartNamedPeerAsync(hub, Names);
        await using var _p = peer;
        var monitorDown = new TaskCompletionSource<InfoMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        var watcher = await hub.Runtime.StartAsync(new DownWatcher(monitorDown));
        await hub.Monitors.MonitorAsync(watcher, hub.GlobalRegistry.Whereis(NameOf(0))!.Value);
        // Not disposed: a chunk queued before the test ends may still look at it.
        var gate = new ManualResetEventSlim(false);
        hub.GlobalRegistry.CleanupGate = gate;
        var seen = new TaskCompletionSource<(ProcessRef? First, ProcessRef? Last, int Count, int Dead)>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var _d = NodeEvents.OnDown(hub, down =>
        {
            if (down.Node == peer.Id)
            {
                // In the handler: what any code that reacts to the node-down event finds.
                var registry = hub.GlobalRegistry;
                seen.TrySetResult((registry.Whereis(NameOf(0)), registry.Whereis(NameOf(Names - 1)), registry.Count, registry.DeadClaims));
            }
        });
        try
        {
            await peer.DisposeAsync();

            var (first, last, count, dead) = await seen.Task.WaitAsync(Bounded.Wait);
            Assert.Null(first);
            Assert.Null(last);
            Assert.Equal(0, count);
            // The cleanup is held: not one claim has left the table, and the node-down event came all the same.
            Assert.Equal(Names, dead);
            Assert.Equal(ExitReason.NoConnection, (await monitorDown.Task.WaitAsync(Bounded.Wait)).Reason);
            Assert.Equal(Names, hub.GlobalRegistry.DeadClaims);
            Assert.Empty(hub.GlobalRegistry.GetNames());
            Assert.Empty(hub.GlobalRegistry.GetEntries());
            Assert.False(hub.GlobalRegistry.IsRegistered(NameOf(Names / 2)));
            Assert.Throws<GlobalNameNotFoundException>(() => hub.GlobalRegistry.Lookup(NameOf(Names / 2)));
        }
        finally
        {
            gate.Set();
        }
        await Wait.UntilAsync(() => hub.GlobalRegistry.DeadClaims == 0 && hub.GlobalRegistry.ClaimCount == 0);
        Assert.Equal(0, hub.GlobalRegistry.Count);
    }

    [Fact]
    public async Task NodeDown_OfANodeWith100kNames_IsRaisedBeforeAnyOfItsNamesIsUnregistered_AndTheCleanupTakesThemAll()
    {
        const int Names = 100_000;
        await using var hub = await StartHubAsync("hub");
        var peer = await StartNamedPeerAsync(hub, Names);
        await using var _p = peer;
        var unregistered = 0;
        hub.GlobalRegistry.Unregistered += (_, target) =>
        {
            if (target.Node == peer.Id.ToString())
            {
                Interlocked.Increment(ref unregistered);
            }
        };
        var seen = new TaskCompletionSource<(int Unregistered, ProcessRef? Last)>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var _d = NodeEvents.OnDown(hub, down =>
        {
            if (down.Node == peer.Id)
            {
                seen.TrySetResult((Volatile.Read(ref unregistered), hub.GlobalRegistry.Whereis(NameOf(Names - 1))));
            }
        });

        await peer.DisposeAsync();

        var (before, last) = await seen.Task.WaitAsync(Bounded.Wait);
        // The failure notice first: the cleanup (which raises the unregistrations) starts after it.
        Assert.Equal(0, before);
        Assert.Null(last);
        await Wait.UntilAsync(() => Volatile.Read(ref unregistered) == Names);
        await Wait.UntilAsync(() => hub.GlobalRegistry.DeadClaims == 0);
        Assert.Equal(0, hub.GlobalRegistry.ClaimCount);
        Assert.Equal(0, hub.GlobalRegistry.Count);
    }

    [Fact]
    public async Task NameOfADepartedNode_IsRegisteredByAnotherNode_RightAfterNodeDown_WhileTheCleanupIsHeld()
    {
        const int Names = 5000;
        await using var a = await StartHubAsync("a");
        await using var c = await StartHubAsync("c", a.Id.ToString());
        await Wait.UntilAsync(() => a.IsConnected(c.Id) && c.IsConnected(a.Id));
        var peer = await StartNamedPeerAsync(a, Names);
        await using var _p = peer;
        await Wait.UntilAsync(() => c.GlobalRegistry.Count == Names);
        var onA = await a.Runtime.StartAsync(new Idle());
        var onC = await c.Runtime.StartAsync(new Idle());
        // Not disposed: a chunk queued before the test ends may still look at them.
        var gateA = new ManualResetEventSlim(false);
        var gateC = new ManualResetEventSlim(false);
        a.GlobalRegistry.CleanupGate = gateA;
        c.GlobalRegistry.CleanupGate = gateC;
        var events = NodeEvents.Watch(a, c);
        try
        {
            await peer.DisposeAsync();
            await Wait.UntilAsync(() => events.Downs.Count(d => d.Peer == peer.Id) == 2);

            // Each node takes a name of the departed node at once; the other learns it with both cleanups held.
            c.GlobalRegistry.Register(NameOf(0), onC);
            a.GlobalRegistry.Register(NameOf(Names - 1), onA);
            Assert.Equal(onC, c.GlobalRegistry.Whereis(NameOf(0)));
            Assert.Equal(onA, a.GlobalRegistry.Whereis(NameOf(Names - 1)));
            await Wait.UntilAsync(() => a.GlobalRegistry.Whereis(NameOf(0)) == onC && c.GlobalRegistry.Whereis(NameOf(Names - 1)) == onA);
            Assert.Equal(2, a.GlobalRegistry.Count);
            Assert.Equal(2, c.GlobalRegistry.Count);
            Assert.Equal(Names - 2, a.GlobalRegistry.DeadClaims);
        }
        finally
        {
            gateA.Set();
            gateC.Set();
        }
        var expected = $"{NameOf(0)}={onC};{NameOf(Names - 1)}={onA}";
        await GlobalRegistryTests.ConvergedAsync([a, c], expected);
        await Wait.UntilAsync(() => a.GlobalRegistry.DeadClaims == 0 && c.GlobalRegistry.DeadClaims == 0);
        Assert.Equal(expected, GlobalRegistryTests.Table(a));
        Assert.Equal(2, a.GlobalRegistry.ClaimCount);
        // A dead claim never competed with the new ones.
        Assert.Equal(0, a.GlobalRegistry.ConflictsResolved);
        Assert.Equal(0, c.GlobalRegistry.ConflictsResolved);
    }

    [Fact]
    public async Task ReconnectingNode_KeepsTheNamesItBringsBackAndRegistersAfterReconnecting_ThroughTheDelayedCleanup()
    {
        const int Names = 5000;
        const int HubNames = 3000;
        await using var hub = await StartHubAsync("hub");
        var peer = await StartNamedPeerAsync(hub, Names);
        await using var _p = peer;
        // Names the hub registers for the peer's processes: they die with the peer's run on the hub, and no sync brings
        // them back, so the cleanup has them to take out while the peer's new claims are in the table.
        for (var i = 0; i < HubNames; i++)
        {
            hub.GlobalRegistry.Register($"hub-{i}", hub.GlobalRegistry.Whereis(NameOf(i))!.Value);
        }
        await Wait.UntilAsync(() => peer.GlobalRegistry.Count == Names + HubNames);
        // Not disposed: a chunk queued before the test ends may still look at it.
        var gate = new ManualResetEventSlim(false);
        hub.GlobalRegistry.CleanupGate = gate;
        var events = NodeEvents.Watch(hub);
        Assert.True(hub.Connections.TryGetConnection(peer.Id, out var connection));
        var fresh = await peer.Runtime.StartAsync(new Idle());
        try
        {
            // The link drops, not the node: the peer redials as the same run, and its sync brings its names back.
            connection.Close(NodeDownReason.ConnectionReset);
            await Wait.UntilAsync(() => events.Downs.Any(d => d.Peer == peer.Id) && hub.IsConnected(peer.Id) && peer.IsConnected(hub.Id));
            peer.GlobalRegistry.Register("fresh", fresh);
            // One of the names it brought back, taken again for another process after reconnecting.
            Assert.True(peer.GlobalRegistry.Unregister(NameOf(7)));
            peer.GlobalRegistry.Register(NameOf(7), fresh);

            await Wait.UntilAsync(() => hub.GlobalRegistry.Whereis("fresh") == fresh && hub.GlobalRegistry.Whereis(NameOf(7)) == fresh
                && hub.GlobalRegistry.Count == Names + 1);
            // The hub's claims for the first connection's run are dead, still in the table, and none shows.
            Assert.Equal(HubNames, hub.GlobalRegistry.DeadClaims);
            Assert.Null(hub.GlobalRegistry.Whereis("hub-0"));
            Assert.NotNull(hub.GlobalRegistry.Whereis(NameOf(Names - 1)));
        }
        finally
        {
            gate.Set();
        }
        await Wait.UntilAsync(() => hub.GlobalRegistry.DeadClaims == 0);
        var table = GlobalRegistryTests.Table(peer);
        Assert.DoesNotContain("hub-", table);
        await GlobalRegistryTests.ConvergedAsync([hub, peer], table);
        Assert.Equal(Names + 1, hub.GlobalRegistry.Count);
        Assert.Equal(Names + 1, hub.GlobalRegistry.ClaimCount);
        Assert.Equal(fresh, hub.GlobalRegistry.Whereis(NameOf(7)));
    }

    /// <summary>The wall clock shifted; timestamps (heartbeats, timeouts) as they are.</summary>
    private sealed class ShiftedClock(TimeSpan shift) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + shift;
    }

    /// <summary>A watcher that completes <paramref name="down"/> with the first down message it receives.</summary>
    private sealed class DownWatcher(TaskCompletionSource<InfoMessage> down) : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<int> HandleInfoAsync(InfoMessage info, int state)
        {
            if (info.Kind == InfoKind.Down)
            {
                down.TrySetResult(info);
            }
            return new(state);
        }
    }
}
