namespace Noex.Lite.Tests.Readme;

/// <summary>README.md's "Typed messages" example, as written there: it compiles, runs across two nodes and travels as
/// the JSON the README says.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class TypedReadmeTests
{
    [Fact]
    public async Task ReadmeCounter_TypedCallsAndCastsAcrossNodes_CountAndTravelAsTheSeedsShapes()
    {
        await using var pair = await TestCluster.StartAsync(2, "readme-typed");
        var (a, b) = pair;
        var counter = await a.Runtime.StartAsync(new Counter());

        b.Runtime.Cast(counter, new Inc(5));
        b.Runtime.Cast<CounterMsg>(counter, new Inc());
        long count = await b.Runtime.CallAsync<CounterMsg, long>(counter, new Get()).Within();

        Assert.Equal(6, count);
        Assert.Equal("""{"type":"inc","by":5}""", ValueContracts.Get<CounterMsg>().Wrap(new Inc(5)).ToString());
        Assert.Equal(6, (await b.Runtime.CallAsync(counter, Value.Parse("""{"type":"get"}""")).Within()).AsInt64());
    }
}

[NoexMessage, NoexDerivedType(typeof(Get), "get"), NoexDerivedType(typeof(Inc), "inc")]
internal abstract partial record CounterMsg;
[NoexMessage] internal sealed partial record Get : CounterMsg;
[NoexMessage] internal sealed partial record Inc(long By = 1) : CounterMsg;

internal sealed class Counter : GenServer<long, CounterMsg, long, CounterMsg>   // state, call, reply, cast
{
    protected override ValueTask<long> InitAsync(Value args, CancellationToken ct) => new(0L);

    protected override ValueTask<CallResult<long, long>> HandleCallAsync(CounterMsg request, CallFrom<long> from, long count) =>
        new(Reply(count, count));

    protected override ValueTask<long> HandleCastAsync(CounterMsg message, long count) =>
        new(message is Inc inc ? count + inc.By : count);
}
