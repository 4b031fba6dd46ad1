namespace Noex.Lite.Tests;

/// <summary>
/// The table of requests waiting for an answer (remote calls, spawns and stops, snapshot requests): each entry is taken
/// out once, by its answer on its own connection, by its connection's close, or by the tick's sweep once it finished.
/// </summary>
[Trait("Category", Category.Unit)]
public sealed class RequestTableTests : IAsyncDisposable
{
    private readonly Connection _a = NewConnection();
    private readonly Connection _b = NewConnection();

    public async ValueTask DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    [Fact]
    public void TryTake_TakesAnEntryOnce()
    {
        var table = new RequestTable<Entry>();
        table.Add(1, new Entry(_a, 10));

        Assert.True(table.TryTake(1, out var entry));
        Assert.Equal(10, entry.Tag);
        Assert.False(table.TryTake(1, out _));
        Assert.Equal(0, table.Count);
    }

    [Fact]
    public void TryTake_OnAnotherConnection_LeavesTheEntry()
    {
        var table = new RequestTable<Entry>();
        table.Add(1, new Entry(_a, 10));

        Assert.False(table.TryTake(1, _b, out _));
        Assert.True(table.TryTake(1, _a, out var entry));
        Assert.Equal(10, entry.Tag);
        Assert.False(table.TryTake(1, _a, out _));
    }

    [Fact]
    public void TakeAll_TakesOnlyThatConnectionsEntries()
    {
        var table = new RequestTable<Entry>();
        table.Add(1, new Entry(_a, 1));
        table.Add(2, new Entry(_b, 2));
        table.Add(3, new Entry(_a, 3));

        Assert.Equal([1, 3], table.TakeAll(_a).Select(e => e.Tag).Order());
        Assert.Equal(1, table.Count);
        Assert.Empty(table.TakeAll(_a));
        Assert.True(table.TryTake(2, out _));
    }

    [Fact]
    public void SweepFinished_DropsOnlyTheFinished()
    {
        var table = new RequestTable<Entry>();
        table.Add(1, new Entry(_a, 1, IsFinished: true));
        table.Add(2, new Entry(_a, 2));

        table.SweepFinished();

        Assert.Equal(1, table.Count);
        Assert.False(table.TryTake(1, out _));
        Assert.True(table.TryTake(2, out _));
    }

    [Fact]
    public void AddAndTake_OnceWarm_AllocateNothing()
    {
        // The remote-call path files and takes an entry per call: a warm table must reuse its slots.
        var table = new RequestTable<Entry>();
        for (var i = 0; i < 100; i++)
        {
            table.Add(i, new Entry(_a, i));
            table.TryTake(i, out _);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (long i = 100; i < 10_100; i++)
        {
            table.Add(i, new Entry(_a, 0));
            table.TryTake(i, _a, out _);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static Connection NewConnection() => MeshTests.Unconnected(NodeId.Parse("peer@127.0.0.1:1"));

    private readonly record struct Entry(Connection Connection, int Tag, bool IsFinished = false) : IPendingRequest;
}
