using System.Collections.Concurrent;

namespace Noex.Lite.Tests;

/// <summary>
/// The streamed full sync of the global registry (protocol.md §5.4): a large table reaches a joining node a part at a
/// time within the registrar's outbound queue bound, and changes, sync requests and a lost connection during the stream
/// leave both sides with the same table. The joiner's read thread is held in a Registered handler to keep the stream
/// running while the test acts: the registrar's queue and the socket fill, and the stream waits for room.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class GlobalRegistrySyncTests
{
    private const string Secret = "registry-sync-tests";

    // A small queue (the bound must hold a frame, so frames are 64 KiB): the stream's share is half of it.
    private const long QueueBound = 256 * 1024;

    // Long names, so that the table (about 15 MB) is far more than the socket buffers and the queue can hold.
    private const int Names = 60_000;
    private const int NamesPerProcess = 1000;

    private static NodeOptions Configure(NodeOptions options) => options with
    {
        MaxFrameLength = 64 * 1024,
        MaxOutboundQueueBytes = QueueBound,
        // The joiner's read thread is held for a moment: no failure detection meanwhile.
        HeartbeatInterval = TimeSpan.FromSeconds(5),
    };

    private static string NameOf(int i) => $"{i:D6}-{new string('n', 230)}";

    private static async Task<(Node Registrar, List<ProcessRef> Holders)> StartRegistrarAsync()
    {
        var registrar = await Node.StartAsync(Configure(TestNodes.Options("reg", Secret)));
        var holders = new List<ProcessRef>();
        for (var i = 0; i < Names; i++)
        {
            if (i % NamesPerProcess == 0)
            {
                holders.Add(await registrar.Runtime.StartAsync(new Idle()));
            }
            registrar.GlobalRegistry.Register(NameOf(i), holders[^1]);
        }
        return (registrar, holders);
    }

    /// <summary>Starts a node joining <paramref name="registrar"/>, on the wall clock: the registrar's 60,000 names, made
    /// far faster than one a millisecond, are stamped at it too (issue #21), so the joiner accepts them.</summary>
    private static async Task<(Node Joiner, Stall Stall)> StartJoinerAsync(Node registrar, int stallAfter)
    {
        var stall = new Stall(stallAfter);
        var joiner = await Node.StartAsync(Configure(TestNodes.Options("join", Secret, registrar.Id.ToString())));
        // The dial has only begun: the handler is in place long before the first part arrives (and holds at the first
        // name past the mark in any case).
        joiner.GlobalRegistry.Registered += stall.OnRegistered;
        joiner.GlobalRegistry.Synced += (from, count) =>
        {
            if (from == registrar.Id)
            {
                // On the joiner's read thread, right after the last part: its copy as the sync left it.
                stall.SyncedTables.Enqueue(GlobalRegistryTests.Table(joiner));
            }
        };
        return (joiner, stall);
    }

    private static Connection ConnectionTo(Node from, Node to)
    {
        Assert.True(from.Connections.TryGetConnection(to.Id, out var connection));
        return connection;
    }

    [Fact]
    public async Task Sync_LargeTable_ReachesJoinerWhileTheQueueStaysWithinItsBound()
    {
        var (registrar, _) = await StartRegistrarAsync();
        await using var _r = registrar;
        var (joiner, stall) = await StartJoinerAsync(registrar, stallAfter: 500);
        await using var _j = joiner;

        // Held: the stream fills the socket and its share of the queue, then waits for room.
        await stall.Reached.Task.WaitAsync(Bounded.Wait);
        var connection = ConnectionTo(registrar, joiner);
        await Wait.UntilAsync(() => registrar.GlobalRegistry.SyncPeakQueuedBytes >= QueueBound / 2 - 64 * 1024);
        Assert.Equal(1, registrar.GlobalRegistry.SyncStreams);
        Assert.InRange(connection.QueuedBytes, 0, QueueBound);
        stall.Release();

        await Wait.UntilAsync(() => stall.SyncedTables.Count == 1 && registrar.GlobalRegistry.SyncStreams == 0);
        Assert.Equal(Names, joiner.GlobalRegistry.Count);
        var table = GlobalRegistryTests.Table(registrar);
        Assert.Equal(table, Assert.Single(stall.SyncedTables));
        Assert.Equal(table, GlobalRegistryTests.Table(joiner));
        // Never past the bound: the old sync queued the whole table (about 15 MB) at once.
        Assert.InRange(registrar.GlobalRegistry.SyncPeakQueuedBytes, 1, QueueBound);
    }

    [Fact]
    public async Task Sync_RegistrationsUnregistrationsAndProcessEndsDuringTheStream_EndWithTheSameTableOnBothSides()
    {
        var (registrar, holders) = await StartRegistrarAsync();
        await using var _r = registrar;
        var (joiner, stall) = await StartJoinerAsync(registrar, stallAfter: 200);
        await using var _j = joiner;
        await stall.Reached.Task.WaitAsync(Bounded.Wait);
        Assert.Equal(1, registrar.GlobalRegistry.SyncStreams);

        // While the stream runs: names withdrawn across the table (some already sent, most not yet), some of them taken
        // again by another process, new names, and two processes ending with their thousand names each.
        var registry = registrar.GlobalRegistry;
        var newcomer = await registrar.Runtime.StartAsync(new Idle());
        for (var i = 7; i < Names; i += 301)
        {
            Assert.True(registry.Unregister(NameOf(i)));
            if (i % 2 == 1)
            {
                registry.Register(NameOf(i), newcomer);
            }
        }
        for (var i = 0; i < 300; i++)
        {
            registry.Register($"new-{i}", newcomer);
        }
        await registrar.Runtime.StopAsync(holders[3]);
        registrar.Runtime.Kill(holders[40]);
        await Wait.UntilAsync(() => registry.GetEntriesForNode(registrar.Id).All(e => e.Target != holders[3] && e.Target != holders[40]));
        Assert.Equal(1, registry.SyncStreams);
        stall.Release();

        await Wait.UntilAsync(() => stall.SyncedTables.Count == 1);
        var table = GlobalRegistryTests.Table(registrar);
        // The sync alone made the copy right (no digest repair was needed), and nothing moved it afterwards.
        Assert.Equal(table, Assert.Single(stall.SyncedTables));
        await GlobalRegistryTests.ConvergedAsync([registrar, joiner], table);
        Assert.Equal(0, joiner.GlobalRegistry.SyncRequests);
        await Wait.UntilAsync(() => registry.SyncStreams == 0);
    }

    [Fact]
    public async Task SyncRequest_DuringTheStream_IsAnsweredByTheRunningStream()
    {
        var (registrar, _) = await StartRegistrarAsync();
        await using var _r = registrar;
        var (joiner, stall) = await StartJoinerAsync(registrar, stallAfter: 200);
        await using var _j = joiner;
        await stall.Reached.Task.WaitAsync(Bounded.Wait);

        // The joiner's writes still go out while its reads are held.
        ConnectionTo(joiner, registrar).TryEnqueue(new GlobalRegistry.SyncRequestMessage(), force: true);
        await Wait.UntilAsync(() => registrar.GlobalRegistry.SyncRequestsCoalesced == 1);
        Assert.Equal(1, registrar.GlobalRegistry.SyncStreams);
        stall.Release();

        await Wait.UntilAsync(() => registrar.GlobalRegistry.SyncStreams == 0 && stall.SyncedTables.Count == 1);
        var table = GlobalRegistryTests.Table(registrar);
        Assert.Equal(table, Assert.Single(stall.SyncedTables));
        await GlobalRegistryTests.ConvergedAsync([registrar, joiner], table);
        // A request after the stream ended starts another one.
        ConnectionTo(joiner, registrar).TryEnqueue(new GlobalRegistry.SyncRequestMessage(), force: true);
        await Wait.UntilAsync(() => stall.SyncedTables.Count == 2 && registrar.GlobalRegistry.SyncStreams == 0);
        Assert.Equal(1, registrar.GlobalRegistry.SyncRequestsCoalesced);
        await GlobalRegistryTests.ConvergedAsync([registrar, joiner], table);
    }

    [Fact]
    public async Task ConnectionCloses_MidStream_TheStreamEnds_AndTheNextConnectionSyncsAfresh()
    {
        var (registrar, _) = await StartRegistrarAsync();
        await using var _r = registrar;
        var (joiner, stall) = await StartJoinerAsync(registrar, stallAfter: 200);
        await using var _j = joiner;
        await stall.Reached.Task.WaitAsync(Bounded.Wait);
        var connection = ConnectionTo(registrar, joiner);
        Assert.Equal(1, registrar.GlobalRegistry.SyncStreams);

        connection.Close(NodeDownReason.ConnectionReset);

        // The waiting stream is woken by the close and ends; nothing is left behind.
        await Wait.UntilAsync(() => registrar.GlobalRegistry.SyncStreams == 0);
        stall.Release();
        // The joiner redials; the new connection's stream brings the whole table.
        await Wait.UntilAsync(() => !stall.SyncedTables.IsEmpty);
        var table = GlobalRegistryTests.Table(registrar);
        Assert.Equal(table, stall.SyncedTables.Last());
        await GlobalRegistryTests.ConvergedAsync([registrar, joiner], table);
        await Wait.UntilAsync(() => registrar.GlobalRegistry.SyncStreams == 0);
        Assert.True(connection.IsClosed);
    }

    /// <summary>Holds the joiner's read thread in a Registered handler once it has seen <c>after</c> names.</summary>
    private sealed class Stall(int after)
    {
        private readonly ManualResetEventSlim _gate = new(false);
        private int _seen;
        private int _held;

        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ConcurrentQueue<string> SyncedTables { get; } = new();

        public void OnRegistered(string name, ProcessRef target)
        {
            if (Interlocked.Increment(ref _seen) >= after && Interlocked.Exchange(ref _held, 1) == 0)
            {
                Reached.TrySetResult();
                // Bounded, so that a failing test cannot hang the read thread for good.
                _gate.Wait(Bounded.Wait);
            }
        }

        public void Release() => _gate.Set();
    }

    private sealed class Idle : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);
    }
}
