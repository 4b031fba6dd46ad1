using System.Text;
using BenchmarkDotNet.Attributes;
using CommunityToolkit.HighPerformance.Buffers;

namespace Noex.Lite.Bench;

/// <summary>
/// Decoding the short strings that messages repeat (keys, type tags): the library's own lock-free cache against
/// CommunityToolkit's <see cref="StringPool"/> and a plain decode, over the same UTF-8 inputs, half hits of one key set.
/// </summary>
[Config(typeof(BenchConfig))]
public class StringInterningBenchmarks
{
    private static readonly byte[][] s_inputs = new[] { "type", "get", "key", "value", "counter", "name", "inc", "node@10.0.0.1:4369" }
        .Select(s => Encoding.UTF8.GetBytes(s)).ToArray();

    [Benchmark(Baseline = true, OperationsPerInvoke = 8)]
    public int StringCacheGet()
    {
        var total = 0;
        foreach (var input in s_inputs)
        {
            total += StringCache.Get(input).Length;
        }
        return total;
    }

    [Benchmark(OperationsPerInvoke = 8)]
    public int StringPoolGetOrAdd()
    {
        var total = 0;
        foreach (var input in s_inputs)
        {
            total += StringPool.Shared.GetOrAdd(input, Encoding.UTF8).Length;
        }
        return total;
    }

    [Benchmark(OperationsPerInvoke = 8)]
    public int DecodeEachTime()
    {
        var total = 0;
        foreach (var input in s_inputs)
        {
            total += Encoding.UTF8.GetString(input).Length;
        }
        return total;
    }
}
