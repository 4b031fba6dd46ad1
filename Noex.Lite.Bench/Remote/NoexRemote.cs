using System.Diagnostics;

namespace Noex.Lite.Bench.Remote;

/// <summary>
/// The Noex.Lite scenarios of the remote benchmark: a two-node cluster (this process and the server process) with a
/// cluster secret, and a GenServer on the server that answers <c>{"type":"get","key":"k1"}</c> with an integer. Each
/// runs twice: with the default scheduling, and with <see cref="NodeOptions.UnsafePreferInlineScheduling"/> on both
/// nodes (scenarios prefixed <c>inline-</c>).
/// </summary>
public static class NoexRemote
{
    private const string Secret = "bench-secret-0123456789abcdef";
    private static readonly Value s_get = Value.Parse("""{"type":"get","key":"k1"}""");
    private static readonly Value s_count = Value.Parse("""{"type":"count"}""");
    private static readonly Value s_inc = Value.Parse("""{"type":"inc","key":"k1"}""");
    private static readonly KvRequest s_typedGet = new KvGet("k1");

    /// <summary>The server process: a node hosting the store; prints "LISTENING &lt;port&gt; &lt;node id&gt; &lt;process id&gt;".</summary>
    public static async Task RunServerAsync(bool inline)
    {
        await using var node = await Node.StartAsync(Options("server", inline));
        var store = await node.Runtime.StartAsync(new Store());
        var typedStore = await node.Runtime.StartAsync(new TypedStore());
        Console.WriteLine($"LISTENING {node.ListenPort} {node.Id} {store.Id} {typedStore.Id}");
        Console.Out.Flush();
        await Task.Run(() => Console.In.ReadToEnd());
    }

    public static async Task<List<ScenarioResult>> RunClientAsync(string serverLine, int outstanding, TimeSpan duration, bool inline, bool stats = false,
        int serverPid = 0, bool typedFirst = false)
    {
        var prefix = inline ? "inline-" : "";
        using var counters = stats ? new TransportStats(serverPid) : null;
        var parts = serverLine.Split(' ');
        var store = new ProcessRef(parts[0], long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture));
        var typedStore = new ProcessRef(parts[0], long.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture));
        await using var node = await Node.StartAsync(Options("client", inline) with { Seeds = [parts[0]] });
        var deadline = Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency;
        while (!node.IsConnected(NodeId.Parse(parts[0])))
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                throw new TimeoutException("the client node did not connect to the server node");
            }
            await Task.Delay(10);
        }
        // Value and typed calls take turns going first, round by round: whichever runs second inherits the first's warm
        // (or busy) thread pool, which moved call-1 by 10-25% in a fixed order.
        var results = new List<ScenarioResult>();
        foreach (var callers in new[] { 1, outstanding })
        {
            var value = () => CallsAsync(node.Runtime, store, $"{prefix}call-{callers}", callers, duration, counters);
            var typed = () => CallsAsync(node.Runtime, typedStore, $"{prefix}typed-call-{callers}", callers, duration, counters, typed: true);
            results.Add(await (typedFirst ? typed : value)());
            results.Add(await (typedFirst ? value : typed)());
        }
        results.Add(await WarmCastsAsync(node, store, $"{prefix}cast", 1_000_000, counters));
        return results;
    }

    private static NodeOptions Options(string name, bool inline) => new()
    {
        Name = name,
        Host = "127.0.0.1",
        Port = 0,
        ClusterSecret = Secret,
        UnsafePreferInlineScheduling = inline,
    };

    private static async Task<ScenarioResult> CallsAsync(ProcessRuntime runtime, ProcessRef store, string scenario, int callers, TimeSpan duration,
        TransportStats? counters, bool typed = false)
    {
        // Warm up (JIT tiers, pools, TCP windows), then measure; each caller records into its own preallocated samples.
        await RunCallersAsync(runtime, store, callers, Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2, null, typed);
        var recorders = Enumerable.Range(0, callers).Select(_ => new LatencyRecorder((1 << 20) / callers)).ToArray();
        var snapshot = counters?.Snapshot();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        var ops = await RunCallersAsync(runtime, store, callers, started + (long)(duration.TotalSeconds * Stopwatch.Frequency), recorders, typed);
        var elapsed = Stopwatch.GetElapsedTime(started);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        if (counters is not null)
        {
            TransportStats.Print(scenario, snapshot!.Value, counters.Snapshot(), ops);
        }
        var merged = LatencyRecorder.Merge(recorders);
        return new ScenarioResult(scenario, callers, ops / elapsed.TotalSeconds, merged.PercentileMicros(0.50), merged.PercentileMicros(0.99), (double)allocated / ops);
    }

    /// <summary>Callers in a loop until <paramref name="until"/>: value-level ones (a get value, an integer value back) or
    /// typed ones (the same get as a <see cref="KvRequest"/> made once, a <see cref="long"/> back).</summary>
    private static async Task<long> RunCallersAsync(ProcessRuntime runtime, ProcessRef store, int callers, long until, LatencyRecorder[]? recorders,
        bool typed)
    {
        var total = 0L;
        await Task.WhenAll(Enumerable.Range(0, callers).Select(async i =>
        {
            var count = 0L;
            while (Stopwatch.GetTimestamp() < until)
            {
                var start = Stopwatch.GetTimestamp();
                if (typed)
                {
                    await runtime.CallAsync<KvRequest, long>(store, s_typedGet);
                }
                else
                {
                    await runtime.CallAsync(store, s_get);
                }
                recorders?[i].Record(Stopwatch.GetTimestamp() - start);
                count++;
            }
            Interlocked.Add(ref total, count);
        }));
        return total;
    }

    /// <summary>
    /// A first flood of casts warms up what the call scenarios do not reach (the outbound queue's buffers grow to the
    /// flood's high-water mark once and are reused); its figures are printed as a note, the second flood is the result.
    /// </summary>
    private static async Task<ScenarioResult> WarmCastsAsync(Node node, ProcessRef store, string scenario, int count, TransportStats? counters)
    {
        var cold = await CastsAsync(node, store, scenario, count, null);
        Console.WriteLine($"({scenario}, first flood: {cold.OpsPerSecond:N0} casts/s, {cold.AllocBytesPerOp:0.0} B/cast)");
        var warm = await CastsAsync(node, store, scenario, count, counters);
        // Each round's own figure: with --rounds the table shows only medians, which hide a round that allocated.
        Console.WriteLine($"({scenario}, second flood: {warm.OpsPerSecond:N0} casts/s, {warm.AllocBytesPerOp:0.00} B/cast)");
        return warm;
    }

    private static async Task<ScenarioResult> CastsAsync(Node node, ProcessRef store, string scenario, int count, TransportStats? counters)
    {
        var before = (await node.Runtime.CallAsync(store, s_count)).AsInt64();
        var snapshot = counters?.Snapshot();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        var waited = 0L;
        for (var i = 0; i < count; i++)
        {
            // The node's default policy (Wait): a full outbound queue holds the producer until the write loop drains it.
            var cast = node.Runtime.CastAsync(store, s_inc);
            if (!cast.IsCompleted)
            {
                waited++;
            }
            if (!await cast)
            {
                throw new InvalidOperationException($"cast {i} was not delivered: the connection closed");
            }
        }
        var enqueued = Stopwatch.GetElapsedTime(started);
        var after = (await node.Runtime.CallAsync(store, s_count, TimeSpan.FromMinutes(5))).AsInt64();
        var elapsed = Stopwatch.GetElapsedTime(started);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        if (counters is not null)
        {
            TransportStats.Print(scenario, snapshot!.Value, counters.Snapshot(), count);
            // Whether the sender or the receiver limits the rate: the time to queue every cast against the time until
            // the server has handled them all.
            Console.WriteLine($"  {scenario}: all queued after {enqueued.TotalMilliseconds:N0} ms, all handled after {elapsed.TotalMilliseconds:N0} ms");
        }
        if (after - before != count)
        {
            throw new InvalidOperationException($"the server counted {after - before} casts of {count}");
        }
        if (waited > 0)
        {
            Console.WriteLine($"({scenario}: the outbound queue was full {waited:N0} times; the sender waited)");
        }
        return new ScenarioResult(scenario, 1, count / elapsed.TotalSeconds, 0, 0, (double)allocated / count);
    }

    /// <summary>Answers get with an integer and counts casts.</summary>
    internal sealed class Store : GenServer<long>
    {
        protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) => new(0L);

        protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long state) =>
            new(CallResult<long>.WithReply(request.TryGetProperty("key", out _) ? 42 : state, state));

        protected override ValueTask<long> HandleCastAsync(Value message, long state) => new(state + 1);
    }

    /// <summary>The same store, typed: the same wire shapes, read straight into <see cref="KvRequest"/>s.</summary>
    internal sealed class TypedStore : GenServer<long, KvRequest, long, KvRequest>
    {
        protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) => new(0L);

        protected override ValueTask<CallResult<long, long>> HandleCallAsync(KvRequest request, CallFrom<long> from, long state) =>
            new(Reply(request is KvGet ? 42 : state, state));

        protected override ValueTask<long> HandleCastAsync(KvRequest message, long state) => new(state + 1);
    }
}
