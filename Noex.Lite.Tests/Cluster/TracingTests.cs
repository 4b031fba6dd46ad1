using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Noex.Lite.Tests;

/// <summary>
/// Distributed tracing and the RPC metrics with real listeners: a trace crosses three nodes with correct parent links,
/// a handler's current activity is its server span, a local call keeps the caller's trace, a peer without the
/// capability gets no context and still answers, and each call outcome moves its metric.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public sealed class TracingTests
{
    private const string Secret = "tracing-tests";
    private static readonly ActivitySource s_test = new("Noex.Lite.Tests.Tracing");

    /// <summary>What a handler saw as its current activity.</summary>
    private sealed record Seen(ActivityTraceId TraceId, ActivitySpanId SpanId, ActivitySpanId ParentSpanId, ActivityKind Kind, string Name);

    /// <summary>Records the activity it runs in and replies "ok"; "relay" first calls the process named by the request's
    /// "node" and "id" and replies with its answer; "boom" throws; "hang" never replies.</summary>
    private sealed class Witness : GenServer<int>
    {
        public ConcurrentQueue<Seen?> Saw { get; } = new();

        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override async ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state)
        {
            Saw.Enqueue(Activity.Current is { } a ? new Seen(a.TraceId, a.SpanId, a.ParentSpanId, a.Kind, a.OperationName) : null);
            switch (request.TryGetProperty("op", out var op) ? op.AsString() : "")
            {
                case "relay":
                    var next = new ProcessRef(request["node"].AsString(), request["id"].AsInt64());
                    var inner = await Runtime.CallAsync(next, Value.Object(("op", "echo")));
                    // After an await the handler is still in its own span.
                    Saw.Enqueue(Activity.Current is { } b ? new Seen(b.TraceId, b.SpanId, b.ParentSpanId, b.Kind, b.OperationName) : null);
                    return CallResult<int>.WithReply(inner, state);
                case "boom":
                    throw new InvalidOperationException("boom");
                case "hang":
                    return CallResult<int>.NoReply(state);
                default:
                    return CallResult<int>.WithReply("ok", state);
            }
        }
    }

    /// <summary>Records every stopped activity of the library and of this test's source.</summary>
    private sealed class Spans : IDisposable
    {
        private readonly ActivityListener _listener;

        public Spans()
        {
            _listener = new ActivityListener
            {
                ShouldListenTo = s => s.Name is NoexDiagnostics.ActivitySourceName or "Noex.Lite.Tests.Tracing",
                Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
                ActivityStopped = a => Stopped.Enqueue(a),
            };
            ActivitySource.AddActivityListener(_listener);
        }

        public ConcurrentQueue<Activity> Stopped { get; } = new();

        public Activity[] Of(ActivityTraceId trace, string name) => [.. Stopped.Where(a => a.TraceId == trace && a.OperationName == name)];

        public void Dispose() => _listener.Dispose();
    }

    [Fact]
    public async Task CallAToBWhoseHandlerCallsC_IsOneTrace_WithEachSpanTheChildOfTheOneBefore()
    {
        using var spans = new Spans();
        await using var cluster = await TestCluster.StartAsync(3, Secret);
        var (a, b, c) = (cluster[0], cluster[1], cluster[2]);
        var onB = new Witness();
        var onC = new Witness();
        var relay = await b.Runtime.StartAsync(onB);
        var echo = await c.Runtime.StartAsync(onC);

        Activity root;
        using (root = s_test.StartActivity("root")!)
        {
            Assert.Equal("ok", (await a.Runtime.CallAsync(relay, Value.Object(("op", "relay"), ("node", echo.Node), ("id", echo.Id))).Within()).AsString());
        }

        await Wait.UntilAsync(() => spans.Of(root.TraceId, "noex.handle_call").Length == 2);
        var clientA = Assert.Single(spans.Of(root.TraceId, "noex.call"), s => s.GetTagItem("server.address") as string == b.Id.ToString());
        var clientB = Assert.Single(spans.Of(root.TraceId, "noex.call"), s => s.GetTagItem("server.address") as string == c.Id.ToString());
        var serverB = Assert.Single(spans.Of(root.TraceId, "noex.handle_call"), s => s.ParentSpanId == clientA.SpanId);
        var serverC = Assert.Single(spans.Of(root.TraceId, "noex.handle_call"), s => s.ParentSpanId == clientB.SpanId);
        Assert.Equal(root.SpanId, clientA.ParentSpanId);
        Assert.Equal(serverB.SpanId, clientB.ParentSpanId);
        Assert.Equal((ActivityKind.Client, ActivityKind.Server), (clientA.Kind, serverB.Kind));
        Assert.Equal((ActivityKind.Client, ActivityKind.Server), (clientB.Kind, serverC.Kind));
        // Inside each handler, before and after its own await, the current activity is its server span.
        Assert.All(onB.Saw, s => Assert.Equal(serverB.SpanId, s!.SpanId));
        Assert.Equal(2, onB.Saw.Count);
        Assert.Equal(serverC.SpanId, Assert.Single(onC.Saw)!.SpanId);
    }

    [Fact]
    public async Task SpawnOnAnotherNode_IsAClientSpanWithTheSpawnsServerSpanUnderIt()
    {
        using var spans = new Spans();
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        b.Behaviors.Register("witness", () => new Witness());

        Activity root;
        using (root = s_test.StartActivity("root")!)
        {
            await a.SpawnAsync("witness", b.Id).Within();
        }

        await Wait.UntilAsync(() => spans.Of(root.TraceId, "noex.handle_spawn").Length == 1);
        var client = Assert.Single(spans.Of(root.TraceId, "noex.spawn"));
        var server = Assert.Single(spans.Of(root.TraceId, "noex.handle_spawn"));
        Assert.Equal(root.SpanId, client.ParentSpanId);
        Assert.Equal(client.SpanId, server.ParentSpanId);
        Assert.Equal((ActivityKind.Client, ActivityKind.Server), (client.Kind, server.Kind));
    }

    [Fact]
    public async Task LocalCall_HandlerRunsInASpanUnderTheCallersTrace()
    {
        using var spans = new Spans();
        await using var node = await Node.StartAsync(TestNodes.Options("solo", Secret));
        var witness = new Witness();
        var process = await node.Runtime.StartAsync(witness);

        Activity root;
        using (root = s_test.StartActivity("root")!)
        {
            await node.Runtime.CallAsync(process, "hello").Within();
        }

        var seen = Assert.Single(witness.Saw)!;
        Assert.Equal(root.TraceId, seen.TraceId);
        Assert.Equal(root.SpanId, seen.ParentSpanId);
        Assert.Equal(ActivityKind.Internal, seen.Kind);
    }

    [Fact]
    public async Task PeerWithoutTraceContext_GetsNone_AndStillAnswers()
    {
        using var spans = new Spans();
        await using var cluster = await TestCluster.StartAsync(2, Secret, o => o.Name == "b" ? o with { Protocol = new ProtocolOffer(1, 2, Capabilities.None) } : o);
        var (a, b) = cluster;
        var witness = new Witness();
        var process = await b.Runtime.StartAsync(witness);

        Activity root;
        using (root = s_test.StartActivity("root")!)
        {
            Assert.Equal("ok", (await a.Runtime.CallAsync(process, "hello").Within()).AsString());
        }

        Assert.Null(Assert.Single(witness.Saw)); // no context came, so b's handler runs in no span of that trace
        Assert.Single(spans.Of(root.TraceId, "noex.call"));
        Assert.Empty(spans.Of(root.TraceId, "noex.handle_call"));
    }

    [Fact]
    public async Task EachCallOutcome_MovesTheCallMetrics_OnBothSides()
    {
        var measured = new ConcurrentQueue<(string Instrument, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == NoexDiagnostics.MeterName && instrument.Name is "rpc.client.call.duration" or "rpc.server.call.duration" or "noex.rpc.calls")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => measured.Enqueue((i.Name, v, Tags(tags))));
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => measured.Enqueue((i.Name, v, Tags(tags))));
        listener.Start();
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var process = await b.Runtime.StartAsync(new Witness());

        await a.Runtime.CallAsync(process, "hello").Within();
        await Assert.ThrowsAnyAsync<CallTimeoutException>(() => a.Runtime.CallAsync(process, Value.Object(("op", "hang")), TimeSpan.FromMilliseconds(200)).AsTask().Within());
        var crashing = await b.Runtime.StartAsync(new Witness());
        await Assert.ThrowsAsync<CallFailedException>(() => a.Runtime.CallAsync(crashing, Value.Object(("op", "boom"))).AsTask().Within());
        await Assert.ThrowsAsync<NodeNotReachableException>(() => a.Runtime.CallAsync(new ProcessRef("gone@127.0.0.1:1", 1), "hello").AsTask().Within());

        string[] outcomes = ["ok", "timeout", "remote_error", "not_reachable"];
        Assert.All(outcomes, o => Assert.Contains(measured, m => m.Instrument == "noex.rpc.calls" && (string?)m.Tags["outcome"] == o));
        var toB = measured.Where(m => m.Instrument == "rpc.client.call.duration" && (string?)m.Tags["server.address"] == b.Id.ToString()).ToArray();
        Assert.Contains(toB, m => !m.Tags.ContainsKey("error.type") && m.Value > 0);
        Assert.Contains(toB, m => (string?)m.Tags.GetValueOrDefault("error.type") == "timeout" && m.Value >= 0.2);
        await Wait.UntilAsync(() => measured.Count(m => m.Instrument == "rpc.server.call.duration") >= 3);
        Assert.Contains(measured, m => m.Instrument == "rpc.server.call.duration" && (string?)m.Tags.GetValueOrDefault("error.type") == nameof(InvalidOperationException));
        Assert.Contains(measured, m => m.Instrument == "rpc.server.call.duration" && !m.Tags.ContainsKey("error.type"));
    }

    private static Dictionary<string, object?> Tags(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var all = new Dictionary<string, object?>();
        foreach (var tag in tags)
        {
            all[tag.Key] = tag.Value;
        }
        return all;
    }
}
