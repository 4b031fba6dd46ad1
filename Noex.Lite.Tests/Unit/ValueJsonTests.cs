using System.Buffers;
using System.Text;
using System.Text.Json;

namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class ValueJsonTests
{
    [Theory]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData("-Infinity")]
    [InlineData("[NaN]")]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("[1,]")]
    [InlineData("{\"a\":1,}")]
    [InlineData("[1 /* c */]")]
    [InlineData("'a'")]
    [InlineData("{a:1}")]
    [InlineData("[1")]
    [InlineData("01")]
    [InlineData("\"\\x\"")]
    public void Parse_NotRfc8259_ThrowsInvalidJson(string json)
    {
        Assert.Equal(ValueCodecError.InvalidJson, Assert.Throws<ValueCodecException>(() => Value.Parse(json)).Error);
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("-1e400")]
    [InlineData("[1.0, 2e308]")]
    public void Parse_FloatBeyondBinary64_ThrowsNonFiniteNumber(string json)
    {
        Assert.Equal(ValueCodecError.NonFiniteNumber, Assert.Throws<ValueCodecException>(() => Value.Parse(json)).Error);
    }

    [Theory]
    [InlineData("9223372036854775808")]
    [InlineData("-9223372036854775809")]
    [InlineData("{\"a\":[99999999999999999999]}")]
    public void Parse_IntegerBeyond64Bits_ThrowsIntegerOverflow(string json)
    {
        Assert.Equal(ValueCodecError.IntegerOverflow, Assert.Throws<ValueCodecException>(() => Value.Parse(json)).Error);
    }

    [Fact]
    public void Parse_IntegerRangeAndFloatForms_KeepKinds()
    {
        Assert.Equal(long.MaxValue, Value.Parse("9223372036854775807").AsInt64());
        Assert.Equal(long.MinValue, Value.Parse("-9223372036854775808").AsInt64());
        Assert.Equal(ValueKind.Float, Value.Parse("9223372036854775808.0").Kind);
        Assert.Equal(ValueKind.Float, Value.Parse("1e2").Kind);
        Assert.Equal(ValueKind.Integer, Value.Parse("100").Kind);
        // Underflow is finite: it becomes 0.0, not an error.
        Assert.Equal(0.0, Value.Parse("1e-400").AsDouble());
    }

    [Theory]
    [InlineData("{\"a\":1,\"a\":2}", 7)]
    [InlineData("{\"a\":1,\"\\u0061\":2}", 7)]
    [InlineData("[{\"x\":{\"b\":1,\"c\":2,\"b\":3}}]", 19)]
    public void Parse_DuplicateKey_ThrowsDuplicateKeyAtTheKey(string json, long offset)
    {
        var e = Assert.Throws<ValueCodecException>(() => Value.Parse(json));
        Assert.Equal(ValueCodecError.DuplicateKey, e.Error);
        Assert.Equal(offset, e.Offset);
    }

    [Fact]
    public void Parse_Depth64_IsAcceptedAndDepth65Fails()
    {
        Assert.Equal(ValueKind.Array, Value.Parse(new string('[', 64) + new string(']', 64)).Kind);
        var e = Assert.Throws<ValueCodecException>(() => Value.Parse(new string('[', 65) + new string(']', 65)));
        Assert.Equal(ValueCodecError.DepthExceeded, e.Error);
        Assert.Equal(64, e.Offset);
        Assert.Equal(ValueCodecError.DepthExceeded, Assert.Throws<ValueCodecException>(() => ValueJson.Parse("{\"a\":{\"b\":[]}}"u8, maxDepth: 2)).Error);
        Assert.Equal(ValueKind.Object, ValueJson.Parse("{\"a\":{\"b\":[]}}", maxDepth: 3).Kind);
    }

    [Fact]
    public void Parse_100kOpenBrackets_ThrowsDepthExceededAndAllocatesLittle()
    {
        var json = Encoding.UTF8.GetBytes(new string('[', 100_000));
        Assert.Throws<ValueCodecException>(() => Value.Parse(json));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ValueCodecException>(() => Value.Parse(json));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(ValueCodecError.DepthExceeded, e.Error);
        Assert.InRange(allocated, 0, 64 * 1024);
        Assert.Equal(ValueCodecError.DepthExceeded, Assert.Throws<ValueCodecException>(() => Value.Parse(new string('{', 1) + string.Concat(Enumerable.Repeat("\"a\":{", 100_000)))).Error);
    }

    [Theory]
    [InlineData("1 2", 2)]
    [InlineData("{} {}", 3)]
    [InlineData("[]x", 2)]
    [InlineData("\"a\"\"b\"", 3)]
    [InlineData("null ,", 5)]
    public void Parse_ContentAfterTheValue_ThrowsTrailingBytes(string json, long offset)
    {
        var e = Assert.Throws<ValueCodecException>(() => Value.Parse(json));
        Assert.Equal(ValueCodecError.TrailingBytes, e.Error);
        Assert.Equal(offset, e.Offset);
    }

    [Fact]
    public void Parse_WhitespaceAroundTheValue_IsAccepted()
    {
        Assert.Equal(Value.Array(1), Value.Parse(" \t\r\n[1] \n"));
    }

    [Theory]
    [InlineData(new byte[] { 0x22, 0xFF, 0x22 })]
    [InlineData(new byte[] { 0x22, 0xC3, 0x28, 0x22 })]
    [InlineData(new byte[] { 0x22, 0xC0, 0xAF, 0x22 })]
    [InlineData(new byte[] { 0x22, 0xED, 0xA0, 0x80, 0x22 })]
    public void Parse_InvalidUtf8InString_ThrowsInvalidUtf8(byte[] json)
    {
        Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() => Value.Parse(json)).Error);
    }

    [Fact]
    public void Parse_InvalidUtf8InKey_ThrowsInvalidUtf8()
    {
        // Keys take the pooled path (no escapes); ill-formed UTF-8 there must fail as well, not become U+FFFD.
        var e = Assert.Throws<ValueCodecException>(() => Value.Parse(new byte[] { 0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D }));
        Assert.Equal(ValueCodecError.InvalidUtf8, e.Error);
        Assert.Equal(1, e.Offset);
    }

    [Theory]
    [InlineData("\"\\ud800\"")]
    [InlineData("\"\\udc00\"")]
    [InlineData("\"a\\ud83dx\"")]
    [InlineData("{\"\\ud800\":1}")]
    public void Parse_LoneSurrogateEscape_ThrowsInvalidUtf8(string json)
    {
        // A value's string must be well-formed Unicode, since the wire carries UTF-8 (protocol.md §2.2).
        Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() => Value.Parse(json)).Error);
    }

    [Fact]
    public void Parse_EscapedSurrogatePair_ReadsAndWritesAsUtf8()
    {
        var value = Value.Parse("\"\\ud83d\\ude00\\u00e9\"");
        Assert.Equal("😀é", value.AsString());
        Assert.Equal("\"😀é\"", value.ToString());
    }

    [Fact]
    public void ToJsonString_Escapes_AreExactlyTheSpecifiedOnes()
    {
        var value = Value.FromString("\"\\/\b\f\n\r\t\u0001\u001f\u007f\u2028\u2029<>&'é中😀\u00ad\ufeff\ue000");
        Assert.Equal("\"\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\\u001F\u007f\\u2028\\u2029<>&'é中😀\u00ad\ufeff\ue000\"", value.ToString());
        Assert.Equal(value, Value.Parse(value.ToString()));
    }

    [Fact]
    public void ToJsonString_Keys_AreEscapedLikeStrings()
    {
        Assert.Equal("{\"a\\\"b\\n\":1,\"😀\":2}", Value.Object(("a\"b\n", 1), ("😀", 2)).ToString());
    }

    [Theory]
    [InlineData(1.0, "1.0")]
    [InlineData(-0.0, "-0.0")]
    [InlineData(0.0, "0.0")]
    [InlineData(100.0, "100.0")]
    [InlineData(0.1, "0.1")]
    [InlineData(1e21, "1E+21")]
    [InlineData(1.5e300, "1.5E+300")]
    [InlineData(5e-324, "5E-324")]
    [InlineData(double.MaxValue, "1.7976931348623157E+308")]
    [InlineData(-123.456, "-123.456")]
    public void ToJsonString_Float_IsShortestAndReadsBackAsFloat(double number, string json)
    {
        Value value = number;
        Assert.Equal(json, value.ToString());
        var back = Value.Parse(json);
        Assert.Equal(ValueKind.Float, back.Kind);
        Assert.Equal(BitConverter.DoubleToInt64Bits(number), BitConverter.DoubleToInt64Bits(back.AsDouble()));
    }

    [Fact]
    public void ToJsonString_UnpairedSurrogate_ThrowsInvalidUtf8()
    {
        Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() => Value.FromString("a\ud800b").ToString()).Error);
        Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() => Value.Object(("\udc00", 1)).ToString()).Error);
    }

    [Fact]
    public void Parse_ByteOrderMarkBeforeTheValue_ThrowsInvalidJsonAtZero()
    {
        // protocol.md §2.2: RFC 8259 lets a reader skip a leading BOM; this protocol refuses it, so every reader agrees.
        var e = Assert.Throws<ValueCodecException>(() => Value.Parse([0xEF, 0xBB, 0xBF, (byte)'1']));
        Assert.Equal((ValueCodecError.InvalidJson, 0L), (e.Error, e.Offset));
        Assert.Equal(ValueCodecError.InvalidJson, Assert.Throws<ValueCodecException>(() => Value.Parse("\uFEFF[1]")).Error);
        Assert.Equal(ValueCodecError.InvalidJson, Assert.Throws<ValueCodecException>(() => Value.Parse(" \uFEFF1")).Error);
    }

    [Fact]
    public void ToJsonString_ByteOrderMarkInString_IsAnOrdinaryCharacter()
    {
        // protocol.md §1: U+FEFF is kept wherever it stands, first position included, and written as UTF-8.
        var value = Value.Parse("\"\\uFEFFa\uFEFF\"");
        Assert.Equal("\uFEFFa\uFEFF", value.AsString());
        Assert.Equal("\"\uFEFFa\uFEFF\"", value.ToString());
        Assert.Equal(value, Value.Parse(value.ToString()));
    }

    [Fact]
    public void Parse_BinaryMarker_InEitherOrderIsABlob()
    {
        var expected = Value.Binary([0, 1, 2, 255]);
        Assert.Equal(expected, Value.Parse("{\"__noex_type__\":\"Binary\",\"value\":\"AAEC/w==\"}"));
        Assert.Equal(expected, Value.Parse("{\"value\":\"AAEC/w==\",\"__noex_type__\":\"Binary\"}"));
        Assert.Equal("{\"__noex_type__\":\"Binary\",\"value\":\"AAEC/w==\"}", expected.ToString());
        Assert.Equal(Value.Binary([]), Value.Parse("{\"__noex_type__\":\"Binary\",\"value\":\"\"}"));
    }

    [Theory]
    [InlineData("{\"__noex_type__\":\"Binary\",\"value\":\"not base64!\"}")]
    [InlineData("{\"__noex_type__\":\"Binary\",\"value\":1}")]
    [InlineData("{\"__noex_type__\":\"Other\",\"value\":\"AA==\"}")]
    [InlineData("{\"__noex_type__\":\"Binary\",\"value\":\"AA==\",\"x\":1}")]
    [InlineData("{\"__noex_type__\":\"Binary\"}")]
    public void Parse_NotQuiteBinaryMarker_StaysAnObject(string json)
    {
        var value = Value.Parse(json);
        Assert.Equal(ValueKind.Object, value.Kind);
        Assert.Equal(json, value.ToString());
    }

    [Fact]
    public void Write_IntoUtf8JsonWriter_GivesTheSameTextInsideOtherTokens()
    {
        var value = Value.Object(("s", "é😀\n"), ("f", 1.0), ("b", Value.Binary([1])));
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartArray();
            ValueJson.Write(writer, value);
            ValueJson.Write(writer, 5);
            writer.WriteEndArray();
        }
        Assert.Equal("[" + value + ",5]", Encoding.UTF8.GetString(buffer.WrittenSpan));
        var direct = new ArrayBufferWriter<byte>();
        ValueJson.Write(direct, value);
        Assert.Equal(value.ToString(), Encoding.UTF8.GetString(direct.WrittenSpan));
    }

    [Fact]
    public void Parse_StringAndUtf8Overloads_Agree()
    {
        const string Json = "{\"a\":[1,2.5,\"中\",null,true,{}],\"b\":{\"c\":-7}}";
        Assert.Equal(Value.Parse(Json), Value.Parse(Encoding.UTF8.GetBytes(Json)));
        Assert.Equal(Json, Value.Parse(Json).ToString());
    }
}
