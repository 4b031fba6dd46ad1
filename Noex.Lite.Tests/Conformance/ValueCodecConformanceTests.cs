using System.Globalization;
using System.Text;

namespace Noex.Lite.Tests;

/// <summary>Checks the value vectors of protocol.md §2.3 exactly as §1.1 says.</summary>
[Trait("Category", Category.Conformance)]
public class ValueCodecConformanceTests
{
    public static TheoryData<string> ValueVectors => ProtocolVectors.NamesOfType("value");

    public static TheoryData<string> InvalidValueVectors => ProtocolVectors.NamesOfType("value-invalid");

    public static TheoryData<string> InvalidJsonVectors => ProtocolVectors.NamesOfType("json-invalid");

    public static TheoryData<string> JsonReadVectors => ProtocolVectors.NamesOfType("json-read");

    public static TheoryData<string> JsonWriteVectors => ProtocolVectors.NamesOfType("json-write");

    [Theory]
    [MemberData(nameof(ValueVectors))]
    public void Encode_ValueVector_GivesHex(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var value = Value.Parse(vector["json"]);
        Assert.Equal(Convert.ToHexString(vector.Bytes("hex")), Convert.ToHexString(ValueCodec.Encode(value)));
    }

    [Theory]
    [MemberData(nameof(ValueVectors))]
    public void Decode_ValueVector_GivesJsonExactly(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var value = ValueCodec.Decode(vector.Bytes("hex"));
        Assert.Equal(vector["json"], value.ToString());
        Assert.Equal(Value.Parse(vector["json"]), value);
    }

    [Theory]
    [MemberData(nameof(ValueVectors))]
    public void ReaderSkip_ValueVector_ConsumesExactlyTheValue(string name)
    {
        var bytes = ProtocolVectors.Get(name).Bytes("hex");
        var reader = new ValueReader(bytes);
        reader.Skip();
        Assert.True(reader.IsAtEnd);
        Assert.Equal(bytes.Length, reader.Consumed);
    }

    [Theory]
    [MemberData(nameof(InvalidValueVectors))]
    public void Decode_InvalidValueVector_FailsWithNamedError(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var expected = Enum.Parse<ValueCodecError>(vector["error"]);
        // §2.1 says where each failure is reported, so the offset is part of the contract, not a diagnostic.
        var expectedOffset = long.Parse(vector["offset"], CultureInfo.InvariantCulture);
        var e = Assert.Throws<ValueCodecException>(() => ValueCodec.Decode(vector.Bytes("hex")));
        Assert.Equal((expected, expectedOffset), (e.Error, e.Offset));
        Assert.False(ValueCodec.TryDecode(vector.Bytes("hex"), out _, out var error, out var offset));
        Assert.Equal((expected, expectedOffset), (error, offset));
    }

    [Theory]
    [MemberData(nameof(JsonReadVectors))]
    public void Parse_JsonReadVector_GivesTheValueOfHex(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var expected = Convert.ToHexString(vector.Bytes("hex"));
        Assert.Equal(expected, Convert.ToHexString(ValueCodec.Encode(Value.Parse(vector["json"]))));
        Assert.Equal(expected, Convert.ToHexString(ValueCodec.Encode(Value.Parse(Encoding.UTF8.GetBytes(vector["json"])))));
    }

    [Theory]
    [MemberData(nameof(JsonWriteVectors))]
    public void Decode_JsonWriteVector_WritesJsonExactly(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var value = ValueCodec.Decode(vector.Bytes("hex"));
        Assert.Equal(vector["json"], value.ToString());
        // One way: the text reads as another value (the vector exists to show that).
        Assert.NotEqual(Convert.ToHexString(vector.Bytes("hex")), Convert.ToHexString(ValueCodec.Encode(Value.Parse(vector["json"]))));
    }

    [Theory]
    [MemberData(nameof(InvalidJsonVectors))]
    public void Parse_InvalidJsonVector_FailsWithNamedError(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var expected = Enum.Parse<ValueCodecError>(vector["error"]);
        // `utf8` gives the text as bytes, for characters that cannot be seen in the document (a byte order mark).
        var utf8 = vector.Fields.ContainsKey("utf8") ? vector.Bytes("utf8") : Encoding.UTF8.GetBytes(vector["json"]);
        Assert.Equal(expected, Assert.Throws<ValueCodecException>(() => Value.Parse(Encoding.UTF8.GetString(utf8))).Error);
        Assert.Equal(expected, Assert.Throws<ValueCodecException>(() => Value.Parse(utf8)).Error);
    }

    [Fact]
    public void Vectors_EveryBinaryDecoderError_HasAnInvalidVector()
    {
        // Every error the binary decoder can produce; UnexpectedKind comes only from typed streaming reads and
        // InvalidJson only from JSON text.
        var covered = ProtocolVectors.All.Where(v => v.Type == "value-invalid").Select(v => Enum.Parse<ValueCodecError>(v["error"])).ToHashSet();
        var expected = Enum.GetValues<ValueCodecError>().Where(e => e is not (ValueCodecError.UnexpectedKind or ValueCodecError.InvalidJson));
        Assert.All(expected, e => Assert.Contains(e, covered));
    }

    [Fact]
    public void Vectors_EveryTagKind_HasAValueVector()
    {
        var firstTags = ProtocolVectors.All.Where(v => v.Type == "value").Select(v => v.Bytes("hex")[0]).ToHashSet();
        foreach (var tag in new byte[] { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x20, 0x3f, 0x80, 0xff })
        {
            Assert.Contains(tag, firstTags);
        }
    }
}
