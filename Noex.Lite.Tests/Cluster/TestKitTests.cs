namespace Noex.Lite.Tests;

/// <summary>
/// The test kit (integrations/Noex.Lite.Testing) does what it says: the rest of the suite relies on it, so its partitions,
/// lookups and waits are checked here against what the nodes themselves report.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class TestKitTests
{
    private const string Secret = "test-kit-tests";

    private static NodeOptions FastDetection(NodeOptions options) => options with
    {
        HeartbeatInterval = TimeSpan.FromMilliseconds(200),
        HeartbeatMissThreshold = 5,
    };

    [Fact]
    public async Task Partition_TwoGroups_CutsExactlyTheLinksBetweenThem_AndHealMendsThem()
    {
        await using var cluster = await TestCluster.StartAsync(["a", "b", "c", "d"], Secret, FastDetection, proxied: true);
        var (a, b, c, d) = (cluster["a"], cluster["b"], cluster["c"], cluster["d"]);

        cluster.Partition(["a", "b"], ["c", "d"]);
        await Wait.UntilAsync(() => !a.IsConnected(c.Id) && !a.IsConnected(d.Id) && !b.IsConnected(c.Id) && !b.IsConnected(d.Id)
                                    && !c.IsConnected(a.Id) && !d.IsConnected(b.Id));

        // Inside each side the links stayed up all along: not a single NodeDown between a and b, or c and d.
        Assert.True(a.IsConnected(b.Id) && b.IsConnected(a.Id));
        Assert.True(c.IsConnected(d.Id) && d.IsConnected(c.Id));

        cluster.Heal();
        await cluster.WaitForMeshAsync();
        Assert.True(cluster.IsFullMesh());
    }

    [Fact]
    public async Task Isolate_OneNode_TheOthersKeepEachOther_AndLookupsFindNodesAndProxiesByName()
    {
        await using var cluster = await TestCluster.StartAsync(3, Secret, FastDetection, proxied: true);
        var (a, b, c) = cluster;
        var downAtA = new TaskCompletionSource<NodeDownEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.NodeDown += e => downAtA.TrySetResult(e);

        cluster.Isolate("b");
        var down = await downAtA.Task.Within();

        Assert.Equal(b.Id, down.Node);
        Assert.Equal(NodeDownReason.HeartbeatTimeout, down.Reason); // silence, not a closed socket: the OS cannot see it
        await Wait.UntilAsync(() => !c.IsConnected(b.Id));
        Assert.True(a.IsConnected(c.Id));
        Assert.Same(cluster.Proxies[1], cluster.ProxyOf("b"));
        Assert.Same(b, cluster["b"]);
        Assert.Throws<ArgumentException>(() => cluster["z"]);
        Assert.Throws<ArgumentException>(() => cluster.Partition(["a", "b"], ["b", "c"]));
    }

    [Fact]
    public async Task Partition_WithoutProxies_SaysItNeedsThem()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret);

        Assert.Throws<InvalidOperationException>(() => cluster.Partition(["a"], ["b"]));
        Assert.Throws<InvalidOperationException>(() => cluster.ProxyOf("a"));
    }

    [Fact]
    public async Task Wait_ConditionThatNeverHolds_TimesOutWithTheBound()
    {
        var error = await Assert.ThrowsAsync<TimeoutException>(() => Wait.UntilAsync(() => false, TimeSpan.FromMilliseconds(50)));
        Assert.Contains("0.1 s", error.Message, StringComparison.Ordinal);

        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => Wait.UntilAsync(() => false, cancellationToken: cancelled.Token));
    }
}
