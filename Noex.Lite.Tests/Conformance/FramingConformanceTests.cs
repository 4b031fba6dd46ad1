using System.Buffers;
using System.Globalization;

namespace Noex.Lite.Tests;

/// <summary>Checks every <c>frame</c> and <c>frame-invalid</c> vector of protocol.md §3.5 as §1.1 says.</summary>
[Trait("Category", Category.Conformance)]
public class FramingConformanceTests
{
    public static TheoryData<string> FrameVectors => ProtocolVectors.NamesOfType("frame");

    public static TheoryData<string> InvalidFrameVectors => ProtocolVectors.NamesOfType("frame-invalid");

    [Fact]
    public void Vectors_ProtocolMd_CoverEveryFrameError()
    {
        var errors = ProtocolVectors.All.Where(v => v.Type == "frame-invalid").Select(v => Enum.Parse<FrameError>(v["error"])).ToHashSet();
        Assert.Equal(Enum.GetValues<FrameError>().Order(), errors.Order());
        Assert.True(ProtocolVectors.All.Count(v => v.Type == "frame") >= 3);
    }

    [Theory]
    [MemberData(nameof(FrameVectors))]
    public void Seal_FrameVector_GivesHex(string name)
    {
        var v = ProtocolVectors.Get(name);
        using var writer = new FrameWriter(v.Bytes("key"), ulong.Parse(v["seq"], CultureInfo.InvariantCulture));
        foreach (var message in Messages(v))
        {
            writer.WriteMessage(message);
        }
        writer.Seal();

        Assert.Equal(Convert.ToHexString(v.Bytes("hex")), Convert.ToHexString(writer.WrittenSpan));
    }

    [Theory]
    [MemberData(nameof(FrameVectors))]
    public void TryRead_FrameVector_GivesMessages(string name)
    {
        var v = ProtocolVectors.Get(name);
        var hex = v.Bytes("hex");
        var seq = ulong.Parse(v["seq"], CultureInfo.InvariantCulture);
        using var reader = new FrameReader(v.Bytes("key"), seq);
        hex.CopyTo(reader.GetMemory(hex.Length));
        reader.Advance(hex.Length);

        Assert.Equal(OperationStatus.Done, reader.TryRead(out var frame));
        Assert.Equal(seq, frame.Seq);
        var read = new List<string>();
        foreach (var message in frame)
        {
            read.Add(Convert.ToHexString(message));
        }
        Assert.Equal(Messages(v).Select(Convert.ToHexString), read);
        Assert.Equal(OperationStatus.NeedMoreData, reader.TryRead(out _));

        // The stateless core, with the static HMAC, agrees.
        Assert.Equal(OperationStatus.Done, Framing.TryReadFrame(hex, v.Bytes("key"), seq, Framing.DefaultMaxFrameLength, out _, out var consumed, out _));
        Assert.Equal(hex.Length, consumed);
    }

    [Theory]
    [MemberData(nameof(InvalidFrameVectors))]
    public void TryRead_InvalidFrameVector_FailsWithNamedError(string name)
    {
        var v = ProtocolVectors.Get(name);
        var hex = v.Bytes("hex");
        var seq = ulong.Parse(v["seq"], CultureInfo.InvariantCulture);
        var max = v.Fields.TryGetValue("max", out var m) ? int.Parse(m, CultureInfo.InvariantCulture) : Framing.DefaultMaxFrameLength;
        var expected = Enum.Parse<FrameError>(v["error"]);
        using var reader = new FrameReader(v.Bytes("key"), seq, max);
        hex.CopyTo(reader.GetMemory(hex.Length));
        reader.Advance(hex.Length);

        Assert.Equal(OperationStatus.InvalidData, reader.TryRead(out _));
        Assert.Equal(expected, reader.Error);
        Assert.Equal(OperationStatus.InvalidData, Framing.TryReadFrame(hex, v.Bytes("key"), seq, max, out _, out _, out var error));
        Assert.Equal(expected, error);
    }

    private static IEnumerable<byte[]> Messages(ProtocolVector v) =>
        v["messages"].Trim() == "(none)" ? [] : v["messages"].Split(',').Select(ProtocolVectors.Hex);
}
