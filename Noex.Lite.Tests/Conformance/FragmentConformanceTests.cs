using System.Buffers;
using System.Buffers.Binary;

namespace Noex.Lite.Tests;

/// <summary>The fragment vectors of protocol.md §5.1: each reads as its meaning and is what the writer produces; each invalid one fails with its error.</summary>
[Trait("Category", Category.Conformance)]
public class FragmentConformanceTests
{
    public static TheoryData<string> Valid => ProtocolVectors.NamesOfType("fragment");

    public static TheoryData<string> Invalid => ProtocolVectors.NamesOfType("fragment-invalid");

    [Theory]
    [MemberData(nameof(Valid))]
    public void Vector_ReadsAsItsMeaningAndWritesItsBytes(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var bytes = vector.Bytes("hex");
        var fields = vector["meaning"].Split(' ').Skip(1).Select(f => f.Split('=', 2)).ToDictionary(f => f[0], f => f[1]);
        var total = int.Parse(fields["total"]);
        var offset = int.Parse(fields["offset"]);
        var chunk = Convert.FromHexString(fields["chunk"]);

        Assert.Equal(Fragments.Type, bytes[0]);
        Assert.Equal((uint)total, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(1)));
        Assert.Equal((uint)offset, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(5)));
        Assert.Equal(chunk, bytes[Fragments.HeaderSize..]);
        var message = new byte[total];
        chunk.CopyTo(message, offset);
        var written = new ArrayBufferWriter<byte>();
        Assert.Equal(chunk.Length, Fragments.Write(written, message, offset));
        Assert.Equal(bytes, written.WrittenSpan.ToArray());
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void InvalidVector_FailsWithItsError(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var max = vector.Fields.TryGetValue("max", out var m) ? int.Parse(m) - Framing.SingleMessageOverhead : FragmentTests.MaxMessage;
        using var assembler = new FragmentAssembler(max);
        var error = Assert.Throws<FragmentException>(() =>
        {
            foreach (var part in vector["hex"].Split(','))
            {
                assembler.Accept(ProtocolVectors.Hex(part), out _);
            }
        });
        Assert.Equal(Enum.Parse<FragmentError>(vector["error"]), error.Error);
    }
}
