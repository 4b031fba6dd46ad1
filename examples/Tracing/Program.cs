using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Noex.Lite;

// What a node's telemetry looks like: three nodes in this process, a request that crosses all three (a calls b, whose
// handler calls c), and what an ActivityListener and a MeterListener see. Nothing here is specific to the example: an
// OpenTelemetry SDK with AddSource/AddMeter(NoexDiagnostics...) would export the same spans and instruments.

var spans = new ConcurrentQueue<Activity>();
using var tracing = new ActivityListener
{
    ShouldListenTo = source => source.Name is NoexDiagnostics.ActivitySourceName or "Example",
    Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
    ActivityStopped = spans.Enqueue,
};
ActivitySource.AddActivityListener(tracing);
var readings = new ConcurrentDictionary<string, (long Count, double Sum)>();
using var metrics = new MeterListener
{
    InstrumentPublished = (instrument, listener) =>
    {
        if (instrument.Meter.Name == NoexDiagnostics.MeterName && instrument.Name is "rpc.client.call.duration" or "rpc.server.call.duration" or "noex.rpc.calls")
        {
            listener.EnableMeasurementEvents(instrument);
        }
    },
};
metrics.SetMeasurementEventCallback<double>((i, v, tags, _) => Read(i.Name, v, tags));
metrics.SetMeasurementEventCallback<long>((i, v, tags, _) => Read(i.Name, v, tags));
metrics.Start();

await using var a = await Node.StartAsync(Options("a"));
await using var b = await Node.StartAsync(Options("b", a.Id));
await using var c = await Node.StartAsync(Options("c", a.Id));
while (a.GetConnectedNodes().Count < 2 || b.GetConnectedNodes().Count < 2)
{
    await Task.Delay(20); // the mesh forms in a few round trips
}
var store = await c.Runtime.StartAsync(new Store());
var front = await b.Runtime.StartAsync(new Front(store));

using var example = new ActivitySource("Example");
ActivityTraceId trace;
using (var request = example.StartActivity("GET /price/apple")!)
{
    trace = request.TraceId;
    var price = await a.Runtime.CallAsync(front, "apple");
    Console.WriteLine($"a asked b for the price of apple; b asked c; the answer: {price}");
}
try
{
    await a.Runtime.CallAsync(front, "slow", TimeSpan.FromMilliseconds(100));
}
catch (CallTimeoutException e)
{
    Console.WriteLine($"a call that timed out, for the metrics: {e.Message}");
}

// The server spans end on their nodes a moment after the reply has reached a.
var deadline = DateTime.UtcNow.AddSeconds(10);
while (spans.Count(s => s.TraceId == trace) < 5 && DateTime.UtcNow < deadline)
{
    await Task.Delay(10);
}
Console.WriteLine();
Console.WriteLine($"The trace {trace}, as its spans nest (parent links across three nodes):");
var ofTrace = spans.Where(s => s.TraceId == trace).ToArray();
Print(ofTrace.Single(s => s.ParentSpanId == default), 1);
Console.WriteLine();
Console.WriteLine("A metrics reading (count, mean):");
foreach (var (key, (count, sum)) in readings.OrderBy(r => r.Key, StringComparer.Ordinal))
{
    Console.WriteLine(key.StartsWith("noex.rpc.calls", StringComparison.Ordinal)
        ? $"  {key}: {sum:0}"
        : $"  {key}: {count} call(s), mean {sum / count * 1000:0.000} ms");
}
return 0;

void Print(Activity span, int depth)
{
    var where = span.GetTagItem("server.address") ?? span.GetTagItem("noex.process") ?? "";
    Console.WriteLine($"{new string(' ', depth * 2)}{span.OperationName} ({span.Kind}) {where} {span.Duration.TotalMilliseconds:0.000} ms  span {span.SpanId}");
    foreach (var child in ofTrace.Where(s => s.ParentSpanId == span.SpanId).OrderBy(s => s.StartTimeUtc))
    {
        Print(child, depth + 1);
    }
}

void Read(string instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
{
    var key = instrument;
    foreach (var tag in tags)
    {
        if (tag.Key is "server.address" or "error.type" or "outcome" or "rpc.method")
        {
            key += $" {tag.Key}={tag.Value}";
        }
    }
    readings.AddOrUpdate(key, (1, value), (_, old) => (old.Count + 1, old.Sum + value));
}

static NodeOptions Options(string name, params NodeId[] seeds) => new()
{
    Name = name,
    Host = "127.0.0.1",
    Port = 0,
    ClusterSecret = "tracing-example",
    Seeds = [.. seeds.Select(s => s.ToString())],
};

/// <summary>The front end on b: asks the store on c, inside its own server span.</summary>
internal sealed class Front(ProcessRef store) : GenServer<int>
{
    protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

    protected override async ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state)
    {
        if (request.AsString() == "slow")
        {
            return CallResult<int>.NoReply(state); // never answers: the caller times out
        }
        var price = await Runtime.CallAsync(store, request);
        return CallResult<int>.WithReply(price, state + 1);
    }
}

/// <summary>The store on c.</summary>
internal sealed class Store : GenServer<int>
{
    protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

    protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
        new(CallResult<int>.WithReply(request.AsString() == "apple" ? 1.25 : 0.0, state));
}
