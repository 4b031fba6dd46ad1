using System.Buffers;

namespace Noex.Lite.Tests;

/// <summary>The spawn and stop vectors of protocol.md §5.3: each reads as its meaning with our reader, and our writer gives its bytes.</summary>
[Trait("Category", Category.Conformance)]
public class SpawnMessageConformanceTests
{
    public static TheoryData<string> Messages => ProtocolVectors.NamesOfType("spawn-message");

    [Fact]
    public void Vectors_CoverEveryMessageType()
    {
        var types = ProtocolVectors.All.Where(v => v.Type == "spawn-message").Select(v => v.Bytes("hex")[0]).ToHashSet();

        Assert.Equal(Enumerable.Range(SpawnService.TypeSpawnRequest, 7).Select(t => (byte)t), types.Order());
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Conformance_SpawnMessage_ReadsAsItsMeaningAndWritesItsBytes(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var bytes = vector.Bytes("hex");
        var text = vector["meaning"];
        var valueAt = text.IndexOf(" value=", StringComparison.Ordinal);
        var words = (valueAt < 0 ? text : text[..valueAt]).Split(' ');
        var fields = words.Skip(1).Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1]);
        var value = valueAt >= 0 ? Value.Parse(text[(valueAt + 7)..]) : default;
        var written = new ArrayBufferWriter<byte>();

        Assert.True(SpawnService.TryParse(bytes, out var m), $"{name} does not read");
        switch (words[0])
        {
            case "spawn_request":
                Assert.Equal(SpawnService.TypeSpawnRequest, m.Type);
                Assert.Equal(long.Parse(fields["spawn_id"]), m.Id);
                Assert.Equal(uint.Parse(fields["spawn_timeout_ms"]), m.SpawnTimeoutMs);
                Assert.Equal(uint.Parse(fields["init_timeout_ms"]), m.InitTimeoutMs);
                Assert.Equal((SpawnRegistration)byte.Parse(fields["registration"]), m.Registration);
                Assert.Equal(fields["behavior"], m.Behavior);
                Assert.Equal(fields["name"], m.Name);
                Assert.Equal(value, m.Value);
                new SpawnService.SpawnRequestMessage(m.Id, TimeSpan.FromMilliseconds(m.SpawnTimeoutMs), TimeSpan.FromMilliseconds(m.InitTimeoutMs),
                    m.Registration, fields["behavior"], fields["name"].Length == 0 ? null : fields["name"], value).Write(written);
                break;
            case "spawn_reply":
                Assert.Equal(SpawnService.TypeSpawnReply, m.Type);
                Assert.Equal(long.Parse(fields["spawn_id"]), m.Id);
                Assert.Equal(long.Parse(fields["process_id"]), m.Target);
                new SpawnService.SpawnReplyMessage(m.Id, m.Target).Write(written);
                break;
            case "spawn_error":
                Assert.Equal(SpawnService.TypeSpawnError, m.Type);
                Assert.Equal(long.Parse(fields["spawn_id"]), m.Id);
                Assert.Equal(byte.Parse(fields["kind"]), m.Code);
                Assert.Equal(value, m.Value);
                new SpawnService.SpawnErrorMessage(m.Id, (SpawnService.ErrorKind)m.Code, value).Write(written);
                break;
            case "spawn_ack":
            case "spawn_cancel":
                Assert.Equal(words[0] == "spawn_ack" ? SpawnService.TypeSpawnAck : SpawnService.TypeSpawnCancel, m.Type);
                Assert.Equal(long.Parse(fields["spawn_id"]), m.Id);
                new IdMessage(m.Type, m.Id).Write(written);
                break;
            case "stop_request":
                Assert.Equal(SpawnService.TypeStopRequest, m.Type);
                Assert.Equal(long.Parse(fields["request_id"]), m.Id);
                Assert.Equal(long.Parse(fields["target"]), m.Target);
                Assert.Equal(uint.Parse(fields["timeout_ms"]), m.SpawnTimeoutMs);
                Assert.Equal(value, m.Reason.ToValue());
                new SpawnService.StopRequestMessage(m.Id, m.Target, TimeSpan.FromMilliseconds(m.SpawnTimeoutMs), m.Reason.ToValue()).Write(written);
                break;
            case "stop_reply":
                Assert.Equal(SpawnService.TypeStopReply, m.Type);
                Assert.Equal(long.Parse(fields["request_id"]), m.Id);
                Assert.Equal(byte.Parse(fields["result"]), m.Code);
                new SpawnService.StopReplyMessage(m.Id, (SpawnService.StopResult)m.Code).Write(written);
                break;
            default:
                throw new InvalidDataException($"vector {name}: unknown message '{words[0]}'");
        }
        Assert.Equal(bytes, written.WrittenSpan.ToArray());
    }

    /// <summary>Every proper prefix of every vector, and a few corrupted bodies, are refused (a protocol error), never a crash.</summary>
    [Fact]
    public void TryParse_TruncatedOrCorrupted_RefusedWithoutThrowing()
    {
        foreach (var vector in ProtocolVectors.All.Where(v => v.Type == "spawn-message"))
        {
            var bytes = vector.Bytes("hex");
            for (var length = 1; length < bytes.Length; length++)
            {
                Assert.False(SpawnService.TryParse(bytes.AsSpan(0, length), out _), $"{vector.Name} cut to {length} bytes was accepted");
            }
            var longer = bytes.Append((byte)0x80).ToArray();
            Assert.False(SpawnService.TryParse(longer, out _), $"{vector.Name} with a trailing byte was accepted");
        }
        var request = ProtocolVectors.Get("spawn-request-local").Bytes("hex");
        var badRegistration = (byte[])request.Clone();
        badRegistration[17] = 3;
        Assert.False(SpawnService.TryParse(badRegistration, out _));
        var longBehavior = (byte[])request.Clone();
        longBehavior[18] = 200; // runs past the end
        Assert.False(SpawnService.TryParse(longBehavior, out _));
        var badUtf8 = (byte[])request.Clone();
        badUtf8[19] = 0xff;
        Assert.False(SpawnService.TryParse(badUtf8, out _));
        var badResult = ProtocolVectors.Get("stop-reply-not-running").Bytes("hex");
        badResult[9] = 7;
        Assert.False(SpawnService.TryParse(badResult, out _));
        var badReason = ProtocolVectors.Get("stop-request-shutdown").Bytes("hex")[..21].Append((byte)0x2a).ToArray();
        Assert.False(SpawnService.TryParse(badReason, out _));
        Assert.False(SpawnService.TryParse([0x1f, 1, 0, 0, 0, 0, 0, 0, 0], out _));
    }
}
