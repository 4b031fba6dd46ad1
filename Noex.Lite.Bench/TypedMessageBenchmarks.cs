using System.Buffers;
using System.Text.Json;
using BenchmarkDotNet.Attributes;

namespace Noex.Lite.Bench;

/// <summary>The sample order every codec benchmark writes and reads.</summary>
internal static class SampleOrder
{
    public static readonly Order Value = new(
        "ord-20261203-0042", "ACME Corp", new Address("1 Main Street", "Springfield", "12345"),
        [new OrderLine("SKU-1", 2, 9.99), new OrderLine("SKU-22", 1, 120.5), new OrderLine("SKU-333", 10, 0.25)],
        142.98, true, OrderStatus.Shipped, null);
}

/// <summary>
/// Writing a typical record: the generated value contract straight into a reused buffer, against System.Text.Json's own
/// source-generated serializer into a reused UTF-8 writer (the baseline), and against building a <see cref="Value"/> tree
/// and encoding that (what a value-level sender pays).
/// </summary>
[Config(typeof(BenchConfig))]
public class TypedEncodeBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private readonly ValueContract<Order> _contract = ValueContracts.Get<Order>();
    private Utf8JsonWriter _json = null!;

    [GlobalSetup]
    public void Setup() => _json = new Utf8JsonWriter(_buffer);

    [Benchmark(Baseline = true, Description = "System.Text.Json (source-generated) to UTF-8")]
    public int SystemTextJson()
    {
        _buffer.ResetWrittenCount();
        _json.Reset(_buffer);
        JsonSerializer.Serialize(_json, SampleOrder.Value, BenchJsonContext.Default.Order);
        return _buffer.WrittenCount;
    }

    [Benchmark(Description = "Value contract (generated) to the value codec")]
    public int Contract()
    {
        _buffer.ResetWrittenCount();
        var writer = new ValueWriter(_buffer);
        _contract.Write(ref writer, SampleOrder.Value);
        writer.Flush();
        return _buffer.WrittenCount;
    }
}

/// <summary>Reading a typical record back: the generated contract from the value codec against System.Text.Json's
/// source-generated deserializer from UTF-8 JSON (the baseline). Both allocate the same objects: the order, its address,
/// its lines and their strings.</summary>
[Config(typeof(BenchConfig))]
public class TypedDecodeBenchmarks
{
    private readonly ValueContract<Order> _contract = ValueContracts.Get<Order>();
    private byte[] _json = null!;
    private byte[] _encoded = null!;

    [GlobalSetup]
    public void Setup()
    {
        _json = JsonSerializer.SerializeToUtf8Bytes(SampleOrder.Value, BenchJsonContext.Default.Order);
        var buffer = new ArrayBufferWriter<byte>();
        var writer = new ValueWriter(buffer);
        _contract.Write(ref writer, SampleOrder.Value);
        writer.Flush();
        _encoded = buffer.WrittenSpan.ToArray();
    }

    [Benchmark(Baseline = true, Description = "System.Text.Json (source-generated) from UTF-8")]
    public Order? SystemTextJson() => JsonSerializer.Deserialize(_json, BenchJsonContext.Default.Order);

    [Benchmark(Description = "Value contract (generated) from the value codec")]
    public Order Contract()
    {
        var reader = new ValueReader(_encoded);
        return _contract.Read(ref reader);
    }

    [Benchmark(Description = "Value tree from the value codec (value-level receiver)")]
    public Value ValueTree() => ValueCodec.Decode(_encoded);
}

/// <summary>
/// A local call, value-level (the baseline) against typed with a family request and a <see cref="long"/> reply: the typed
/// request object is the caller's (made once here), so any allocation shown is the library's. 100 sequential calls per
/// invocation; the figures are per call.
/// </summary>
[Config(typeof(BenchConfig))]
public class TypedLocalCallBenchmarks
{
    private const int Calls = 100;
    private static readonly Value s_get = Value.Parse("""{"type":"get","key":"k1"}""");
    private static readonly KvRequest s_typedGet = new KvGet("k1");
    private ProcessRuntime _runtime = null!;
    private ProcessRef _valueStore;
    private ProcessRef _typedStore;

    [GlobalSetup]
    public async Task Setup()
    {
        _runtime = new ProcessRuntime();
        _valueStore = await _runtime.StartAsync(new Remote.NoexRemote.Store());
        _typedStore = await _runtime.StartAsync(new Remote.NoexRemote.TypedStore());
    }

    [GlobalCleanup]
    public async Task Cleanup() => await _runtime.DisposeAsync();

    [Benchmark(Baseline = true, OperationsPerInvoke = Calls, Description = "CallAsync(Value) to a value-level server")]
    public async Task<long> ValueCall()
    {
        long sum = 0;
        for (var i = 0; i < Calls; i++)
        {
            sum += (await _runtime.CallAsync(_valueStore, s_get)).AsInt64();
        }
        return sum;
    }

    [Benchmark(OperationsPerInvoke = Calls, Description = "CallAsync<KvRequest, long> to a typed server")]
    public async Task<long> TypedCall()
    {
        long sum = 0;
        for (var i = 0; i < Calls; i++)
        {
            sum += await _runtime.CallAsync<KvRequest, long>(_typedStore, s_typedGet);
        }
        return sum;
    }
}
