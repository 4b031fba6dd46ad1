namespace Noex.Lite.Tests;

/// <summary>
/// The message reader every service reads its §5 messages with: each field at exactly its length, one byte short (false,
/// nothing consumed, no exception), and the str8 and value fields' failures.
/// </summary>
[Trait("Category", Category.Unit)]
public class WireReaderTests
{
    [Fact]
    public void TryReadByte_ExactAndShort()
    {
        var reader = new WireReader([0xab]);
        Assert.True(reader.TryReadByte(out var value));
        Assert.Equal(0xab, value);
        Assert.True(reader.End);

        Assert.False(reader.TryReadByte(out value));
        Assert.Equal(0, value);
    }

    [Fact]
    public void TryReadUInt16_ExactAndShort()
    {
        var reader = new WireReader([0x34, 0x12]);
        Assert.True(reader.TryReadUInt16(out var value));
        Assert.Equal(0x1234, value);
        Assert.True(reader.End);

        var shortReader = new WireReader([0x34]);
        Assert.False(shortReader.TryReadUInt16(out _));
        Assert.Equal(1, shortReader.Remaining);
    }

    [Fact]
    public void TryReadUInt32_ExactAndShort()
    {
        var reader = new WireReader([0x78, 0x56, 0x34, 0xf2]);
        Assert.True(reader.TryReadUInt32(out var value));
        Assert.Equal(0xf2345678u, value);
        Assert.True(reader.End);

        var shortReader = new WireReader([0x78, 0x56, 0x34]);
        Assert.False(shortReader.TryReadUInt32(out _));
        Assert.Equal(3, shortReader.Remaining);
    }

    [Fact]
    public void TryReadInt64_ExactAndShort()
    {
        var reader = new WireReader([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        Assert.True(reader.TryReadInt64(out var value));
        Assert.Equal(-2L, value);
        Assert.True(reader.End);

        var shortReader = new WireReader([1, 0, 0, 0, 0, 0, 0]);
        Assert.False(shortReader.TryReadInt64(out _));
        Assert.Equal(7, shortReader.Remaining);
    }

    [Fact]
    public void TryReadUInt64_ExactAndShort()
    {
        var reader = new WireReader([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        Assert.True(reader.TryReadUInt64(out var value));
        Assert.Equal(ulong.MaxValue, value);
        Assert.True(reader.End);

        var shortReader = new WireReader([1, 0, 0, 0, 0, 0, 0]);
        Assert.False(shortReader.TryReadUInt64(out _));
        Assert.Equal(7, shortReader.Remaining);
    }

    [Fact]
    public void TryReadStr8_ExactEmptyAndShort()
    {
        var reader = new WireReader([3, (byte)'a', 0xc3, 0xa9, 0]);
        Assert.True(reader.TryReadStr8(out var text));
        Assert.Equal("a\u00e9", text);
        Assert.True(reader.TryReadStr8(out var empty));
        Assert.Equal("", empty);
        Assert.True(reader.End);

        Assert.False(reader.TryReadStr8(out _)); // no length byte
        var shortReader = new WireReader([3, (byte)'a', (byte)'b']);
        Assert.False(shortReader.TryReadStr8(out text)); // a length past the end
        Assert.Equal("", text);
        Assert.Equal(3, shortReader.Remaining);
    }

    [Theory]
    [InlineData(new byte[] { 2, 0xc3, 0x28 })] // a lead byte without its continuation
    [InlineData(new byte[] { 2, 0xc0, 0xaf })] // an overlong '/'
    [InlineData(new byte[] { 3, 0xed, 0xa0, 0x80 })] // a surrogate
    [InlineData(new byte[] { 1, 0xff })]
    public void TryReadStr8_InvalidUtf8_IsRefusedAndNotConsumed(byte[] bytes)
    {
        var reader = new WireReader(bytes);

        Assert.False(reader.TryReadStr8(out var text));
        Assert.Equal("", text);
        Assert.Equal(bytes.Length, reader.Remaining);
    }

    [Fact]
    public void TryReadValue_TakesTheRest()
    {
        var value = Value.Parse("""{"type":"get","key":"k1"}""");
        var reader = new WireReader([7, .. ValueCodec.Encode(value)]);

        Assert.True(reader.TryReadByte(out _));
        Assert.True(reader.TryReadValue(out var read));
        Assert.Equal(value, read);
        Assert.True(reader.End);
    }

    [Fact]
    public void TryReadValue_NothingLeftOrMalformed_IsRefusedWithTheCodecsError()
    {
        var empty = new WireReader([]);
        Assert.False(empty.TryReadValue(out _));

        // An integer and a byte after it: a value runs to the end of its message, so the byte is an error.
        var trailing = new WireReader([0xaa, 0x00]);
        Assert.False(trailing.TryReadValue(out _, out var error, out var offset));
        Assert.Equal(ValueCodecError.TrailingBytes, error);
        Assert.Equal(1, offset);
        Assert.Equal(2, trailing.Remaining);
    }

    [Fact]
    public void Fields_ReadInOrder_LeaveTheRest()
    {
        var reader = new WireReader([1, 2, 0, 0, 0, 0, 0, 0, 0, 9, 9]);

        Assert.True(reader.TryReadByte(out var first));
        Assert.True(reader.TryReadInt64(out var second));
        Assert.Equal((1, 2L), (first, second));
        Assert.Equal([9, 9], reader.Rest.ToArray());
        Assert.False(reader.End);
    }

    public static TheoryData<string, string> BadTraces => new()
    {
        { "a trace id of zeros", "00000000000000000000000000000000 00f067aa0ba902b7 01 00" },
        { "a span id of zeros", "4bf92f3577b34da6a3ce929d0e0e4736 0000000000000000 01 00" },
        { "a trace state that is not ASCII", "4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 01 02 c3a9" },
        { "a trace state running past the end", "4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902b7 01 05 6162" },
        { "fewer than 25 bytes", "4bf92f3577b34da6a3ce929d0e0e4736 00f067aa0ba902" },
    };

    [Theory]
    [MemberData(nameof(BadTraces))]
    public void TraceContext_Malformed_IsRefused(string why, string hex)
    {
        var reader = new WireReader(Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal)));

        Assert.False(reader.TryReadTraceContext(out _), why);
    }

    [Fact]
    public void TraceContext_WrittenThenRead_IsTheSameContext_UnknownFlagsDropped_OverlongStateLeftOut()
    {
        var context = new System.Diagnostics.ActivityContext(System.Diagnostics.ActivityTraceId.CreateRandom(),
            System.Diagnostics.ActivitySpanId.CreateRandom(), System.Diagnostics.ActivityTraceFlags.Recorded, "a=1,b=2");
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new WireWriter(buffer);
        writer.WriteTraceContext(context);
        writer.WriteTraceContext(new System.Diagnostics.ActivityContext(context.TraceId, context.SpanId, context.TraceFlags, new string('x', 256)));
        writer.Commit();
        var bytes = buffer.WrittenSpan.ToArray();
        bytes[24] |= 0x80; // a flag bit W3C has not defined: ignored on receipt

        var reader = new WireReader(bytes);
        Assert.True(reader.TryReadTraceContext(out var first));
        Assert.True(reader.TryReadTraceContext(out var second));
        Assert.True(reader.End);
        Assert.Equal((context.TraceId, context.SpanId, context.TraceFlags, "a=1,b=2"), (first.TraceId, first.SpanId, first.TraceFlags, first.TraceState));
        Assert.True(first.IsRemote);
        Assert.Null(second.TraceState);
    }
}
