using System.Collections.Concurrent;

namespace Noex.Lite.Tests;

/// <summary>Typed messages between nodes: read straight into their types on arrival, interoperating with value-level
/// peers, and a misfit refused as a typed error that costs neither the process nor the connection.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class TypedMessagesClusterTests
{
    private const string Secret = "typed-tests";

    [Fact]
    public async Task TypedCall_AcrossNodes_ReadsTheRequestAndTheReplyIntoTheirTypes()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret);
        var (a, b) = pair;
        var mover = new Mover();
        var server = await b.Runtime.StartAsync(mover);

        var first = await a.Runtime.CallAsync<Coord, Coord>(server, new Coord(2, 3)).Within();
        var second = await a.Runtime.CallAsync<Coord, Coord>(server, new Coord(-1, 1)).Within();

        Assert.Equal(new Coord(2, 3), first);
        Assert.Equal(new Coord(1, 4), second);
        Assert.Equal(new Coord(-1, 1), mover.LastRequest);
    }

    [Fact]
    public async Task Interop_ValuePeerAndTypedPeer_ReadEachOthersMessages()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret);
        var (a, b) = pair;
        var typed = await b.Runtime.StartAsync(new Mover());
        var plain = await b.Runtime.StartAsync(new Echo());

        var fromValueCaller = await a.Runtime.CallAsync(typed, Value.Parse("""{"y":5,"x":4,"note":"from a newer peer"}""")).Within();
        var fromValueServer = await a.Runtime.CallAsync<Coord, Coord>(plain, new Coord(6, 7)).Within();
        var echoedShape = await a.Runtime.CallAsync<Coord, Value>(plain, new Coord(6, 7)).Within();

        Assert.Equal(Value.Parse("""{"x":4,"y":5}"""), fromValueCaller);
        Assert.Equal(new Coord(6, 7), fromValueServer);
        Assert.Equal(Value.Parse("""{"x":6,"y":7}"""), echoedShape);
    }

    [Fact]
    public async Task Misfits_RequestReplyAndCast_AreTypedErrorsAndTheConnectionStays()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret);
        var (a, b) = pair;
        var typed = await b.Runtime.StartAsync(new Mover());
        var plain = await b.Runtime.StartAsync(new Echo());
        var deadLetters = new ConcurrentQueue<DeadLetterEvent>();
        b.DeadLetter += deadLetters.Enqueue;
        Assert.True(a.Connections.TryGetConnection(b.Id, out var connection));

        var badRequest = await Assert.ThrowsAsync<BadRequestException>(
            () => a.Runtime.CallAsync(typed, Value.Parse("""{"x":1,"y":"two"}""")).AsTask()).Within();
        var badReply = await Assert.ThrowsAsync<MessageContractException>(
            () => a.Runtime.CallAsync<Value, Coord>(plain, Value.Parse("""{"x":1}""")).AsTask()).Within();
        Assert.True(a.Runtime.Cast(typed, Value.Parse("""{"x":[],"y":0}""")));
        Assert.True(a.Runtime.Cast(typed, new Coord(5, 5)));
        var total = await a.Runtime.CallAsync<Coord, Coord>(typed, new Coord(0, 0)).Within();

        Assert.Equal(typed, badRequest.Target);
        Assert.Equal("Coord.y: expected an integer, found a string", badRequest.Detail);
        Assert.Equal((MessageContractError.MissingField, "Coord", "y"), (badReply.Error, badReply.TypeName, badReply.Field));
        Assert.Equal(new Coord(5, 5), total);
        var dead = Assert.Single(deadLetters);
        Assert.Equal((typed, DeadLetterReason.Unreadable), (dead.Target, dead.Reason));
        Assert.Equal(Value.Parse("""{"x":[],"y":0}"""), dead.Message);
        Assert.True(a.Connections.TryGetConnection(b.Id, out var after));
        Assert.Same(connection, after);
        Assert.True(b.Runtime.IsAlive(typed));
    }

    [Fact]
    public async Task TypedCasts_ManyAcrossNodes_AllArriveInOrder()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret);
        var (a, b) = pair;
        var server = await b.Runtime.StartAsync(new Mover());
        var step = new Coord(1, 2);

        for (var i = 0; i < 10_000; i++)
        {
            Assert.True(await a.Runtime.CastAsync(server, step));
        }
        var total = await a.Runtime.CallAsync<Coord, Coord>(server, new Coord(0, 0), TimeSpan.FromSeconds(60)).Within();

        Assert.Equal(new Coord(10_000, 20_000), total);
    }

    [Fact]
    public async Task TypedCall_WhileTracedOrToAnUnreachableNode_BehavesAsAValueCall()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret);
        var (a, b) = pair;
        var server = await b.Runtime.StartAsync(new Mover());
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = source => source.Name == NoexDiagnostics.ActivitySourceName,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) =>
                System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);

        // Traced, the call goes through its client span's async step rather than straight to the waiter.
        for (var i = 1; i <= 20; i++)
        {
            Assert.Equal(new Coord(i, 0), await a.Runtime.CallAsync<Coord, Coord>(server, new Coord(1, 0)).Within());
        }
        var elsewhere = new ProcessRef("nobody@127.0.0.1:1", 1);

        await Assert.ThrowsAsync<NodeNotReachableException>(() => a.Runtime.CallAsync<Coord, Coord>(elsewhere, new Coord(1, 1)).AsTask()).Within();
        await Assert.ThrowsAsync<RemoteCallTimeoutException>(
            () => a.Runtime.CallAsync<Coord, Coord>(server, new Coord(int.MinValue + 1, 0), TimeSpan.FromMilliseconds(50)).AsTask()).Within();
    }
}
