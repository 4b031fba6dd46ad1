using System.Collections.Concurrent;
using Noex.Lite.Tests.Typed;

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

    /// <summary>A typed store of counters over the seeds' store family: get answers a count, inc and put change one.</summary>
    private sealed class TypedCounters : GenServer<Dictionary<string, long>, StoreMsg, long, StoreMsg>
    {
        protected override ValueTask<Dictionary<string, long>> InitAsync(Value args, CancellationToken cancellationToken) =>
            new(new Dictionary<string, long>(StringComparer.Ordinal));

        protected override ValueTask<CallResult<Dictionary<string, long>, long>> HandleCallAsync(StoreMsg request, CallFrom<long> from,
            Dictionary<string, long> counts) =>
            new(Reply(request is Get get ? counts.GetValueOrDefault(get.Key) : -1, counts));

        protected override ValueTask<Dictionary<string, long>> HandleCastAsync(StoreMsg message, Dictionary<string, long> counts)
        {
            switch (message)
            {
                case Inc inc:
                    counts[inc.Key] = counts.GetValueOrDefault(inc.Key) + inc.By;
                    break;
                case Put put:
                    counts[put.Key] = put.Value.AsInt64();
                    break;
            }
            return new(counts);
        }
    }

    /// <summary>The same store written against values, as a seeds-era node would: it reads "type", "key" and "by".</summary>
    private sealed class ValueCounters : GenServer<Dictionary<string, long>>
    {
        protected override ValueTask<Dictionary<string, long>> InitAsync(Value args, CancellationToken cancellationToken) =>
            new(new Dictionary<string, long>(StringComparer.Ordinal));

        protected override ValueTask<CallResult<Dictionary<string, long>>> HandleCallAsync(Value request, CallFrom from, Dictionary<string, long> counts) =>
            new(CallResult<Dictionary<string, long>>.WithReply(counts.GetValueOrDefault(request["key"].AsString()), counts));

        protected override ValueTask<Dictionary<string, long>> HandleCastAsync(Value message, Dictionary<string, long> counts)
        {
            if (message["type"].AsString() == "inc")
            {
                var key = message["key"].AsString();
                counts[key] = counts.GetValueOrDefault(key) + message["by"].AsInt64();
            }
            return new(counts);
        }
    }

    [Fact]
    public async Task Interop_TypedFamilyNodeAndValueNode_SpeakTheSeedsShapesBothWays()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret);
        var (a, b) = pair;
        var typed = await b.Runtime.StartAsync(new TypedCounters());
        var plain = await b.Runtime.StartAsync(new ValueCounters());

        // A value-level sender to the typed store: the seeds' shapes, the discriminator anywhere, a default for "by".
        Assert.True(a.Runtime.Cast(typed, Value.Parse("""{"type":"inc","key":"k","by":2}""")));
        Assert.True(a.Runtime.Cast(typed, Value.Parse("""{"key":"k","type":"inc"}""")));
        Assert.True(a.Runtime.Cast(typed, Value.Parse("""{"type":"put","key":"p","value":40}""")));
        var fromValues = await a.Runtime.CallAsync(typed, Value.Parse("""{"type":"get","key":"k"}""")).Within();
        // A typed sender to the value-level store: it reads the JSON it expects.
        Assert.True(a.Runtime.Cast(plain, new Inc("k", 5)));
        Assert.True(a.Runtime.Cast<StoreMsg>(plain, new Inc("k")));
        var fromTyped = await a.Runtime.CallAsync<StoreMsg, long>(plain, new Get("k")).Within();
        var put = await a.Runtime.CallAsync<StoreMsg, long>(typed, new Get("p")).Within();
        var unknown = await Assert.ThrowsAsync<BadRequestException>(
            () => a.Runtime.CallAsync(typed, Value.Parse("""{"type":"dec","key":"k"}""")).AsTask()).Within();

        Assert.Equal(3, fromValues.AsInt64());
        Assert.Equal(6, fromTyped);
        Assert.Equal(40, put);
        Assert.Equal("StoreMsg.type: 'dec' names no member of the family", unknown.Detail);
    }

    /// <summary>Answers every call with an order whose status has no name, which cannot be written.</summary>
    private sealed class BadOrders : GenServer<int, Value, Order, Value>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int, Order>> HandleCallAsync(Value request, CallFrom<Order> from, int state) =>
            new(Reply(new Order("o", [], (OrderStatus)42, null), state + 1));
    }

    [Fact]
    public async Task TypedReply_ThatCannotBeWritten_FailsTheRemoteCallerAndTheServerGoesOn()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret);
        var (a, b) = pair;
        var server = await b.Runtime.StartAsync(new BadOrders());

        var error = await Assert.ThrowsAsync<CallFailedException>(() => a.Runtime.CallAsync<Value, Order>(server, Value.Null).AsTask()).Within();
        var again = await Assert.ThrowsAsync<CallFailedException>(() => a.Runtime.CallAsync(server, Value.Null).AsTask()).Within();

        Assert.Equal(nameof(MessageContractException), error.Reason.ErrorType);
        Assert.Contains("Order.status: 42 is not a named member of OrderStatus", error.Message, StringComparison.Ordinal);
        Assert.Equal(nameof(MessageContractException), again.Reason.ErrorType);
        Assert.True(b.Runtime.IsAlive(server));
    }
}
