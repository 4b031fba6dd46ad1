using System.Diagnostics;

namespace Noex.Lite.Bench.Remote;

/// <summary>
/// The scenarios of `remote --peer`, driven the way <see cref="NoexRemote"/> drives Noex.Lite's: each peer supplies its
/// own "call the store" and "tell the store" and this runs them with the same warm-up, callers, timing and counting, so
/// the figures differ only by what the framework does.
/// </summary>
public static class PeerScenarios
{
    /// <summary>How many casts the cast scenario sends before its confirming request.</summary>
    public const int CastCount = 1_000_000;

    /// <summary>How long one request may take; the frameworks' usual per-request timeout, as Noex.Lite's default.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How long the request that confirms the casts may take: it waits behind a million messages.</summary>
    public static readonly TimeSpan ConfirmTimeout = TimeSpan.FromMinutes(5);

    /// <summary>call-1 and call-N for one peer: the request loop in <paramref name="callers"/> concurrent callers.</summary>
    public static async Task<ScenarioResult> CallsAsync(string scenario, int callers, TimeSpan duration, Func<Task> call)
    {
        // Warm up (JIT tiers, pools, connections), then measure; each caller records into its own preallocated samples.
        await RunCallersAsync(call, callers, Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2, null);
        var recorders = Enumerable.Range(0, callers).Select(_ => new LatencyRecorder((1 << 20) / callers)).ToArray();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        var ops = await RunCallersAsync(call, callers, started + (long)(duration.TotalSeconds * Stopwatch.Frequency), recorders);
        var elapsed = Stopwatch.GetElapsedTime(started);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        var merged = LatencyRecorder.Merge(recorders);
        return new ScenarioResult(scenario, callers, ops / elapsed.TotalSeconds, merged.PercentileMicros(0.50), merged.PercentileMicros(0.99), (double)allocated / ops);
    }

    private static async Task<long> RunCallersAsync(Func<Task> call, int callers, long until, LatencyRecorder[]? recorders)
    {
        var total = 0L;
        await Task.WhenAll(Enumerable.Range(0, callers).Select(async i =>
        {
            var count = 0L;
            while (Stopwatch.GetTimestamp() < until)
            {
                var start = Stopwatch.GetTimestamp();
                await call();
                recorders?[i].Record(Stopwatch.GetTimestamp() - start);
                count++;
            }
            Interlocked.Add(ref total, count);
        }));
        return total;
    }

    /// <summary>
    /// The cast scenario: <see cref="CastCount"/> tells, then a request for the store's count that confirms they all
    /// arrived; the clock stops when that answer is in.
    /// </summary>
    public static async Task<ScenarioResult> CastsAsync(string scenario, Action cast, Func<TimeSpan, Task<long>> countOnServer)
    {
        var before = await countOnServer(CallTimeout);
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < CastCount; i++)
        {
            cast();
        }
        var after = await countOnServer(ConfirmTimeout);
        // Both frameworks keep messages from one sender to one receiver in order, so the first answer should already
        // count them all; should it not, ask again (bounded) and say so, rather than report a figure for lost casts.
        var extra = 0;
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (after - before < CastCount && Stopwatch.GetTimestamp() < deadline)
        {
            extra++;
            await Task.Delay(1);
            after = await countOnServer(ConfirmTimeout);
        }
        var elapsed = Stopwatch.GetElapsedTime(started);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        if (after - before != CastCount)
        {
            throw new InvalidOperationException($"{scenario}: the server counted {after - before} casts of {CastCount}");
        }
        if (extra > 0)
        {
            Console.WriteLine($"({scenario}: the confirming request overtook some casts; {extra} more requests were needed)");
        }
        return new ScenarioResult(scenario, 1, CastCount / elapsed.TotalSeconds, 0, 0, (double)allocated / CastCount);
    }

    /// <summary>Fails loudly when a peer's store answers a get with anything but the benchmark's integer.</summary>
    public static void CheckAnswer(string peer, long answer)
    {
        if (answer != 42)
        {
            throw new InvalidOperationException($"{peer}: the store answered get with {answer}, expected 42");
        }
    }
}
