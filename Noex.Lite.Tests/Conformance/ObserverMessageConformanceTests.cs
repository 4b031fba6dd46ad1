using System.Buffers;
using System.Buffers.Binary;

namespace Noex.Lite.Tests;

/// <summary>The observer-message vectors of protocol.md §5.6 (snapshots and reach queries): each reads as its meaning, and writing the meaning gives its bytes.</summary>
[Trait("Category", Category.Conformance)]
public class ObserverMessageConformanceTests
{
    public static TheoryData<string> Messages => ProtocolVectors.NamesOfType("observer-message");

    [Theory]
    [MemberData(nameof(Messages))]
    public void Conformance_ObserverMessage_ReadsAsItsMeaningAndWritesItsBytes(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var bytes = vector.Bytes("hex");
        var text = vector["meaning"];
        var valueAt = text.IndexOf(" value=", StringComparison.Ordinal);
        var head = (valueAt < 0 ? text : text[..valueAt]).Split(' ');
        var fields = head.Skip(1).Select(f => f.Split('=', 2)).ToDictionary(f => f[0], f => f[1]);
        var requestId = ulong.Parse(fields["request_id"]);
        var written = new ArrayBufferWriter<byte>();

        Assert.Equal(requestId, BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(1)));
        switch (head[0])
        {
            case "snapshot_request":
                Assert.Equal(MessageTypes.SnapshotRequest, bytes[0]);
                Assert.Equal(9, bytes.Length);
                new ClusterObserver.SnapshotRequest(requestId).Write(written);
                break;
            case "snapshot_reply":
                Assert.Equal(MessageTypes.SnapshotReply, bytes[0]);
                var value = Value.Parse(text[(valueAt + 7)..]);
                Assert.Equal(value, ValueCodec.Decode(bytes.AsSpan(9)));
                var stats = NodeStats.FromValue(value);
                Assert.Equal(value["node"].AsString(), stats.Node.ToString());
                Assert.Equal(value["process_count"].AsInt64(), stats.ProcessCount);
                new ClusterObserver.SnapshotReply(requestId, value).Write(written);
                break;
            case "reach_request":
                Assert.Equal(MessageTypes.ReachRequest, bytes[0]);
                Assert.Equal(fields["node"].Length, bytes[9]);
                Assert.Equal(fields["node"], System.Text.Encoding.UTF8.GetString(bytes.AsSpan(10)));
                new Reachability.ReachRequest(requestId, fields["node"]).Write(written);
                break;
            case "reach_reply":
                Assert.Equal(MessageTypes.ReachReply, bytes[0]);
                Assert.Equal(10, bytes.Length);
                Assert.Equal(byte.Parse(fields["status"]), bytes[9]);
                new Reachability.ReachReply(requestId, (ReachStatus)byte.Parse(fields["status"])).Write(written);
                break;
            default:
                throw new InvalidDataException($"vector {name}: unknown message '{head[0]}'");
        }
        Assert.Equal(Convert.ToHexString(bytes), Convert.ToHexString(written.WrittenSpan));
    }
}
