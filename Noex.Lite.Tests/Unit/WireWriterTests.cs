using System.Buffers;
using System.Text;

namespace Noex.Lite.Tests;

/// <summary>
/// The message writer every §5 message is written with: each field's bytes, one commit for the fixed fields, a value
/// after them, and no allocation into a warm frame writer.
/// </summary>
[Trait("Category", Category.Unit)]
public class WireWriterTests
{
    [Fact]
    public void Fields_AreWrittenLittleEndianAfterTheType()
    {
        var output = new ArrayBufferWriter<byte>();

        var writer = new WireWriter(output, 0x7f);
        writer.WriteByte(0xab);
        writer.WriteUInt16(0x1234);
        writer.WriteUInt32(0xf2345678);
        writer.WriteInt64(-2);
        writer.WriteUInt64(ulong.MaxValue);
        writer.WriteStr8("a\u00e9");
        writer.WriteStr8("");
        writer.Commit();

        Assert.Equal(
            "7F" + "AB" + "3412" + "785634F2" + "FEFFFFFFFFFFFFFF" + "FFFFFFFFFFFFFFFF" + "0361C3A9" + "00",
            Convert.ToHexString(output.WrittenSpan));
    }

    [Fact]
    public void Fields_AreCommittedOnlyByCommit()
    {
        var output = new ArrayBufferWriter<byte>();

        var writer = new WireWriter(output, 0x13);
        writer.WriteInt64(1);
        Assert.Equal(0, output.WrittenCount);
        writer.Commit();
        Assert.Equal(9, output.WrittenCount);
        writer.Commit(); // nothing more to commit
        Assert.Equal(9, output.WrittenCount);
    }

    [Fact]
    public void WriteValue_FollowsTheFieldsBeforeIt()
    {
        var output = new ArrayBufferWriter<byte>();

        var writer = new WireWriter(output, 0x13);
        writer.WriteInt64(1);
        writer.WriteValue(42);
        writer.Commit();

        Assert.Equal("13" + "0100000000000000" + "AA", Convert.ToHexString(output.WrittenSpan));
    }

    [Fact]
    public void Fields_WrittenAfterAValue_FollowIt()
    {
        var output = new ArrayBufferWriter<byte>();

        var writer = new WireWriter(output);
        writer.WriteValue(42);
        writer.WriteByte(1);
        writer.Commit();

        Assert.Equal("AA01", Convert.ToHexString(output.WrittenSpan));
    }

    [Fact]
    public void Fields_PastTheFirstSpan_AskForAnother()
    {
        var output = new ExactSpans();
        var name = new string('n', 100);

        var writer = new WireWriter(output, 0x10);
        writer.WriteInt64(0x0102030405060708);
        writer.WriteStr8(name); // reserves 1 + 3 × 101 bytes, more than the first span has left
        writer.WriteUInt32(9);
        writer.Commit();

        Assert.Equal(2, output.Spans);
        Assert.Equal("10" + "0807060504030201" + "64" + Convert.ToHexString(Encoding.ASCII.GetBytes(name)) + "09000000",
            Convert.ToHexString(output.Written.ToArray()));
    }

    [Fact]
    public void Write_IntoAWarmFrameWriter_AllocatesNothing()
    {
        using var frames = new FrameWriter(new byte[32]);
        var value = Value.Parse("""{"type":"get","key":"k1"}""");
        WriteOne(frames, value);
        frames.Clear();

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 100; i++)
        {
            WriteOne(frames, value);
            frames.Clear();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static void WriteOne(FrameWriter frames, Value value)
    {
        frames.BeginMessage();
        var writer = new WireWriter(frames, 0x10);
        writer.WriteInt64(1);
        writer.WriteInt64(2);
        writer.WriteUInt32(5000);
        writer.WriteValue(value);
        writer.Commit();
        frames.EndMessage();
        frames.Seal();
    }

    /// <summary>A buffer writer that hands out exactly the span asked for, and counts how many it handed out.</summary>
    private sealed class ExactSpans : IBufferWriter<byte>
    {
        private byte[] _span = [];

        public List<byte> Written { get; } = [];

        public int Spans { get; private set; }

        public void Advance(int count) => Written.AddRange(_span.AsSpan(0, count).ToArray());

        public Memory<byte> GetMemory(int sizeHint = 0) => throw new NotSupportedException();

        public Span<byte> GetSpan(int sizeHint = 0)
        {
            Spans++;
            return _span = new byte[Math.Max(sizeHint, 1)];
        }
    }
}
