using System.Buffers;
using System.Text;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace Noex.Lite.Bench;

// ValueCodec against System.Text.Json on the same data, in five classes, each with an STJ method as the baseline:
// - Encode: the same Value tree walked the same way, written by ValueWriter (binary) or by Utf8JsonWriter (JSON, validation
//   off), both into one reused ArrayBufferWriter.
// - Decode (materialise): ValueCodec.Decode to a Value tree, against JsonDocument.Parse (STJ's DOM, which is lazy: it
//   creates no strings, so the comparison favours STJ) and ValueJson.Parse (Utf8JsonReader building the identical Value).
// - Walk (streaming): ValueReader.Skip over the whole value, which checks every tag, length, UTF-8 string and float,
//   against a Utf8JsonReader reading every token (it checks the JSON grammar).
// - Dispatch (streaming): what a message dispatcher does: find "type", compare it with "get", read "key", skip the rest.
// - WriteCalls (streaming, small message only): the message written field by field with UTF-8 literals, no tree.
// The joined summary computes each Ratio against the baseline of its own category (Encode, Decode, Walk, Dispatch,
// WriteCalls) and payload. Payloads: the small message {"type":"get","key":"k1"}, a ~1 KB mixed message and a ~64 KB
// snapshot (BenchPayloads).
// Recorded figures: Noex.Lite.Bench/README.md, "Values".

[Config(typeof(BenchConfig))]
[BenchmarkCategory("Encode")]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ValueCodecEncodeBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(128 * 1024);
    private Utf8JsonWriter _json = null!;
    private Value _value;

    [Params("small", "medium", "large")]
    public string Payload { get; set; } = "small";

    [GlobalSetup]
    public void Setup()
    {
        _value = BenchPayloads.Get(Payload);
        _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true });
    }

    [Benchmark(Baseline = true)]
    public int Stj_Utf8JsonWriter()
    {
        _buffer.ResetWrittenCount();
        _json.Reset(_buffer);
        BenchPayloads.WriteJson(_json, _value);
        _json.Flush();
        return _buffer.WrittenCount;
    }

    [Benchmark]
    public int Noex_ValueWriter()
    {
        _buffer.ResetWrittenCount();
        ValueCodec.Encode(_value, _buffer);
        return _buffer.WrittenCount;
    }
}

[Config(typeof(BenchConfig))]
[BenchmarkCategory("Decode")]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ValueCodecDecodeBenchmarks
{
    private byte[] _binary = null!;
    private byte[] _json = null!;

    [Params("small", "medium", "large")]
    public string Payload { get; set; } = "small";

    [GlobalSetup]
    public void Setup()
    {
        var value = BenchPayloads.Get(Payload);
        _binary = ValueCodec.Encode(value);
        _json = Encoding.UTF8.GetBytes(value.ToString());
    }

    [Benchmark(Baseline = true)]
    public JsonValueKind Stj_JsonDocumentParse()
    {
        using var document = JsonDocument.Parse(_json);
        return document.RootElement.ValueKind;
    }

    [Benchmark]
    public Value Stj_Utf8JsonReaderToValue() => ValueJson.Parse(_json);

    [Benchmark]
    public Value Noex_Decode() => ValueCodec.Decode(_binary);
}

[Config(typeof(BenchConfig))]
[BenchmarkCategory("Walk")]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ValueCodecWalkBenchmarks
{
    private byte[] _binary = null!;
    private byte[] _json = null!;

    [Params("small", "medium", "large")]
    public string Payload { get; set; } = "small";

    [GlobalSetup]
    public void Setup()
    {
        var value = BenchPayloads.Get(Payload);
        _binary = ValueCodec.Encode(value);
        _json = Encoding.UTF8.GetBytes(value.ToString());
    }

    [Benchmark(Baseline = true)]
    public int Stj_Utf8JsonReader()
    {
        var reader = new Utf8JsonReader(_json);
        var tokens = 0;
        while (reader.Read())
        {
            tokens++;
        }
        return tokens;
    }

    [Benchmark]
    public int Noex_ValueReaderSkip()
    {
        var reader = new ValueReader(_binary);
        reader.Skip();
        return reader.Consumed;
    }
}

[Config(typeof(BenchConfig))]
[BenchmarkCategory("Dispatch")]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ValueCodecDispatchBenchmarks
{
    private byte[] _binary = null!;
    private byte[] _json = null!;

    [Params("small", "medium", "large")]
    public string Payload { get; set; } = "small";

    [GlobalSetup]
    public void Setup()
    {
        var value = BenchPayloads.Get(Payload);
        _binary = ValueCodec.Encode(value);
        _json = Encoding.UTF8.GetBytes(value.ToString());
    }

    [Benchmark(Baseline = true)]
    public int Stj_Utf8JsonReader()
    {
        var reader = new Utf8JsonReader(_json);
        var result = 0;
        reader.Read(); // StartObject
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("type"u8))
            {
                reader.Read();
                result += reader.ValueTextEquals("get"u8) ? 1 : 2;
            }
            else if (reader.ValueTextEquals("key"u8))
            {
                reader.Read();
                result += reader.ValueSpan.Length;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        return result;
    }

    [Benchmark]
    public int Noex_ValueReader()
    {
        var reader = new ValueReader(_binary);
        var result = 0;
        for (var count = reader.ReadObjectHeader(); count > 0; count--)
        {
            var name = reader.ReadPropertyName();
            if (name.SequenceEqual("type"u8))
            {
                result += reader.ValueTextEquals("get"u8) ? 1 : 2;
                reader.Skip();
            }
            else if (name.SequenceEqual("key"u8))
            {
                result += reader.ReadStringSpan().Length;
            }
            else
            {
                reader.Skip();
            }
        }
        return result;
    }
}

// Streaming encode of the small message, field by field with UTF-8 literals, as a dispatcher writes a reply: no Value tree.
[Config(typeof(BenchConfig))]
[BenchmarkCategory("WriteCalls")]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory, BenchmarkLogicalGroupRule.ByParams)]
[CategoriesColumn]
public class ValueCodecWriteCallsBenchmarks
{
    private readonly ArrayBufferWriter<byte> _buffer = new(1024);
    private Utf8JsonWriter _json = null!;

    [GlobalSetup]
    public void Setup() => _json = new Utf8JsonWriter(_buffer, new JsonWriterOptions { SkipValidation = true });

    [Benchmark(Baseline = true)]
    public int Stj_Utf8JsonWriter()
    {
        _buffer.ResetWrittenCount();
        _json.Reset(_buffer);
        _json.WriteStartObject();
        _json.WriteString("type"u8, "get"u8);
        _json.WriteString("key"u8, "k1"u8);
        _json.WriteEndObject();
        _json.Flush();
        return _buffer.WrittenCount;
    }

    [Benchmark]
    public int Noex_ValueWriter()
    {
        _buffer.ResetWrittenCount();
        var writer = new ValueWriter(_buffer);
        writer.WriteObjectHeader(2);
        writer.WritePropertyName("type"u8);
        writer.WriteString("get"u8);
        writer.WritePropertyName("key"u8);
        writer.WriteString("k1"u8);
        writer.Flush();
        return _buffer.WrittenCount;
    }
}

/// <summary>The benchmark payloads (the same shapes as the tests' corpus) and an STJ writer for them.</summary>
internal static class BenchPayloads
{
    public static Value Get(string name) => name switch
    {
        "small" => Value.Object(("type", "get"), ("key", "k1")),
        "medium" => Medium(),
        "large" => Large(),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "small, medium or large"),
    };

    // The same tree walk as ValueWriter.WriteValue, writing JSON through Utf8JsonWriter.
    public static void WriteJson(Utf8JsonWriter writer, Value value)
    {
        switch (value.Kind)
        {
            case ValueKind.Null:
                writer.WriteNullValue();
                break;
            case ValueKind.Bool:
                writer.WriteBooleanValue(value.AsBoolean());
                break;
            case ValueKind.Integer:
                writer.WriteNumberValue(value.AsInt64());
                break;
            case ValueKind.Float:
                writer.WriteNumberValue(value.AsDouble());
                break;
            case ValueKind.String:
                writer.WriteStringValue(value.AsString());
                break;
            case ValueKind.Binary:
                writer.WriteStartObject();
                writer.WriteString("__noex_type__"u8, "Binary"u8);
                writer.WriteBase64String("value"u8, value.AsBinary().Span);
                writer.WriteEndObject();
                break;
            case ValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in value.AsArray())
                {
                    WriteJson(writer, item);
                }
                writer.WriteEndArray();
                break;
            default:
                writer.WriteStartObject();
                foreach (var entry in value.AsObject())
                {
                    writer.WritePropertyName(entry.Key);
                    WriteJson(writer, entry.Value);
                }
                writer.WriteEndObject();
                break;
        }
    }

    private static Value Medium()
    {
        var items = new List<Value>();
        for (var i = 0; i < 8; i++)
        {
            items.Add(Value.Object(("id", i * 1000), ("name", "item-" + i), ("price", 9.99 + i), ("active", i % 2 == 0),
                ("tags", Value.Array("a", "bé", "中文")), ("note", Value.Null)));
        }
        return Value.Object(("type", "batch"), ("seq", 123456789L), ("items", Value.Array(items)),
            ("blob", Value.Binary(Enumerable.Range(0, 64).Select(i => (byte)i).ToArray())), ("text", new string('x', 100)));
    }

    private static Value Large()
    {
        var rows = new List<Value>();
        for (var i = 0; i < 700; i++)
        {
            rows.Add(Value.Object(("id", i), ("user", "user-" + i + "@example.com"), ("score", i * 1.25), ("flag", i % 3 == 0),
                ("big", (long)i << 40), ("neg", -i), ("label", "ünïcödé " + i)));
        }
        return Value.Object(("type", "snapshot"), ("rows", Value.Array(rows)));
    }
}
