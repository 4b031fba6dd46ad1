using BenchmarkDotNet.Attributes;

namespace Noex.Lite.Bench;

/// <summary>
/// A connection's outbound queue under a cast flood, without a socket: <see cref="Depth"/> casts encoded into the queue
/// as <see cref="RemoteCall.CastAsync"/> does, then drained batch by batch as the write loop does
/// (<see cref="OutboundQueue.TakeBatch"/>, sealing and signing each, then <see cref="OutboundQueue.FinishBatch"/>). The
/// figures are per flood (divide by <see cref="Depth"/>; OperationsPerInvoke cannot follow a parameter). Must be 0 B once
/// warm at every depth: a flood 1,000 casts deep fits one batch, one 50,000 deep (about 2 MB) many.
/// </summary>
[Config(typeof(BenchConfig))]
public class OutboundQueueBenchmarks
{
    private static readonly Value s_inc = Value.Parse("""{"type":"inc","key":"k1"}""");
    private OutboundQueue _queue = null!;

    /// <summary>How many casts queue up before the sender drains them.</summary>
    [Params(1_000, 50_000)]
    public int Depth { get; set; }

    [GlobalSetup]
    public void Setup() =>
        _queue = new OutboundQueue(Enumerable.Range(0, 32).Select(i => (byte)i).ToArray(), new NodeOptions { Name = "bench" });

    [GlobalCleanup]
    public void Cleanup() => _queue.Dispose();

    /// <summary>A flood of <see cref="Depth"/> casts queued, then sent.</summary>
    [Benchmark]
    public long FloodThenDrain()
    {
        for (var i = 0; i < Depth; i++)
        {
            _queue.TryEnqueue(new RemoteCall.CastMessage(7, s_inc), force: false, out _);
        }
        long bytes = 0;
        while (_queue.TakeBatch(out _) is { } batch)
        {
            bytes += batch.WrittenSpan.Length;
            _queue.FinishBatch(batch);
        }
        return bytes;
    }
}
