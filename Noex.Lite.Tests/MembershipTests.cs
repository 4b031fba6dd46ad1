using System.Buffers;

namespace Noex.Lite.Tests;

public class MembershipTests
{
    public static TheoryData<string> Messages => ProtocolVectors.NamesOfType("message");

    [Theory]
    [MemberData(nameof(Messages))]
    public void Conformance_ClusterMessage_ReadsAsItsMeaningAndWritesItsBytes(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var bytes = vector.Bytes("hex");
        var meaning = vector["meaning"].Split(' ');
        var fields = meaning.Skip(1).Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1]);
        var written = new ArrayBufferWriter<byte>();

        switch (meaning[0])
        {
            case "gossip":
                var (uptime, processCount, known) = ControlMessages.ReadGossip(bytes.AsSpan(1));
                Assert.Equal(ControlMessages.Gossip, bytes[0]);
                Assert.Equal(long.Parse(fields["uptime_ms"]), (long)uptime.TotalMilliseconds);
                Assert.Equal(int.Parse(fields["process_count"]), processCount);
                Assert.Equal(fields["ids"].Split(','), known.Select(k => k.ToString()));
                new ControlMessages.GossipMessage(uptime, processCount, known).Write(written);
                break;
            case "goodbye":
                new ControlMessages.GoodbyeMessage().Write(written);
                break;
            default:
                throw new InvalidDataException($"vector {name}: unknown message '{meaning[0]}'");
        }
        Assert.Equal(bytes, written.WrittenSpan.ToArray());
    }

    [Theory]
    [InlineData("")]
    [InlineData("cd 5f 01 00 00 00 00 00 03 00 00 00")]
    [InlineData("cd 5f 01 00 00 00 00 00 03 00 00 00 ff ff 00")]
    [InlineData("cd 5f 01 00 00 00 00 00 03 00 00 00 01 00 06 61 40 62 3a 31")]
    [InlineData("cd 5f 01 00 00 00 00 00 03 00 00 00 01 00 03 6e 6f 21")]
    [InlineData("cd 5f 01 00 00 00 00 00 03 00 00 00 00 00 99")]
    public void ReadGossip_Malformed_ThrowsFormatExceptionBeforeAllocatingForTheClaim(string hex)
    {
        Assert.Throws<FormatException>(() => ControlMessages.ReadGossip(ProtocolVectors.Hex(hex)));
    }

    [Fact]
    public void MarkUpAndDown_RaiseEachTransitionOnce()
    {
        var membership = new Membership(NodeId.Parse("a@h:1"), TimeProvider.System);
        var b = NodeId.Parse("b@h:2");

        Assert.True(membership.Learn(b));
        Assert.False(membership.Learn(b));
        Assert.False(membership.Learn(NodeId.Parse("a@h:1")));
        Assert.NotNull(membership.MarkUp(b, 7));
        Assert.Null(membership.MarkUp(b, 7));
        Assert.NotNull(membership.MarkUp(b, 8)); // a new incarnation is a new node-up
        Assert.True(membership.MarkDown(b));
        Assert.False(membership.MarkDown(b));
        Assert.Equal(NodeStatus.Disconnected, membership.GetNode(b)!.Status);
    }
}
