namespace Noex.Lite.Tests;

/// <summary>
/// Reliability case T27: a second node that claims a port or an identity already in use. A node's identity is
/// <c>name@host:port</c> plus its incarnation; the cluster must never hold two live sessions for one identity.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class IdentityCollisionTests
{
    private const string Secret = "cluster-secret";

    /// <summary>Redials within 200 ms: the older incarnation's redial, refused, is what the second test waits for.</summary>
    private static NodeOptions QuickRedials(NodeOptions options) => options with { ReconnectMaxDelay = TimeSpan.FromMilliseconds(200) };

    [Fact]
    public async Task StartAsync_PortAlreadyTaken_FailsNamingThePortAndTheFirstNodeCarriesOn()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret, QuickRedials);
        var (a, b) = pair;

        var error = await Assert.ThrowsAsync<NoexException>(() => Node.StartAsync(QuickRedials(TestNodes.Options("a", Secret)) with { Port = a.ListenPort }));

        Assert.Contains(a.ListenPort.ToString(System.Globalization.CultureInfo.InvariantCulture), error.Message, StringComparison.Ordinal);
        Assert.True(a.IsConnected(b.Id) && b.IsConnected(a.Id));
        await using var c = await Node.StartAsync(QuickRedials(TestNodes.Options("c", Secret, a.Id.ToString())));
        await Wait.UntilAsync(() => a.IsConnected(c.Id) && b.IsConnected(c.Id));
    }

    [Fact]
    public async Task SameIdentityTwice_NewerIncarnationWins_OlderIsRefusedAndNeverComesBack()
    {
        // x1 is the real node; x2 claims x1's identity (same name, advertising x1's port), as a restarted node would.
        await using var pair = await TestCluster.StartAsync(["a", "x"], Secret, QuickRedials);
        var (a, x1) = pair;
        var events = NodeEvents.Watch(a);
        var refused = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        x1.HandshakeFailed += e =>
        {
            if (e.Failure == HandshakeFailure.Superseded)
            {
                refused.TrySetResult();
            }
        };

        await using var x2 = await Node.StartAsync(QuickRedials(TestNodes.Options("x", Secret, a.Id.ToString())) with { AdvertisedPort = x1.ListenPort });
        Assert.Equal(x1.Id, x2.Id);
        Assert.True(x2.Incarnation > x1.Incarnation);

        // a takes x2 as x restarted: the old session ends as Restarted and the new one comes up.
        await Wait.UntilAsync(() => events.Ups.Any(u => u.Peer.Incarnation == x2.Incarnation) && events.Downs.Any(d => d.Reason == NodeDownReason.Restarted));
        // x1 redials and is refused as superseded by the newer incarnation: it cannot take the identity back.
        await refused.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var node = a.GetNode(x1.Id);
        Assert.NotNull(node);
        Assert.Equal(x2.Incarnation, node.Incarnation);
        Assert.Equal(NodeStatus.Connected, node.Status);
        Assert.Single(events.Ups);
        Assert.Equal([NodeDownReason.Restarted], events.Downs.Select(d => d.Reason));
    }
}
