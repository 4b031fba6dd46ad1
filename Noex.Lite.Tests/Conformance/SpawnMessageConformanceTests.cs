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

        Assert.Equal(Enumerable.Range(MessageTypes.SpawnRequest, 8).Select(t => (byte)t), types.Order());
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
        var fields = words.Skip(1).Select(f => f.Split('=', 2)).ToDictionary(f => f[0], f => f[1]);
        var value = valueAt >= 0 ? Value.Parse(text[(valueAt + 7)..]) : default;
        var written = new ArrayBufferWriter<byte>();

        var body = new WireReader(bytes.AsSpan(1));
        switch (words[0])
        {
            case "spawn_request" or "traced_spawn_request":
                var traced = words[0] == "traced_spawn_request";
                Assert.Equal(traced ? MessageTypes.TracedSpawnRequest : MessageTypes.SpawnRequest, bytes[0]);
                Assert.True(SpawnService.SpawnRequestMessage.TryRead(ref body, traced, out var request), $"{name} does not read");
                if (traced)
                {
                    Assert.Equal(fields["trace_id"], request.Trace.TraceId.ToHexString());
                    Assert.Equal(fields["span_id"], request.Trace.SpanId.ToHexString());
                    Assert.Equal(fields["trace_flags"], ((int)request.Trace.TraceFlags).ToString(System.Globalization.CultureInfo.InvariantCulture));
                    Assert.Equal(fields["trace_state"], request.Trace.TraceState ?? "(none)");
                }
                Assert.Equal(long.Parse(fields["spawn_id"]), request.SpawnId);
                Assert.Equal(uint.Parse(fields["spawn_timeout_ms"]), request.SpawnTimeoutMs);
                Assert.Equal(uint.Parse(fields["init_timeout_ms"]), request.InitTimeoutMs);
                Assert.Equal((SpawnRegistration)byte.Parse(fields["registration"]), request.Registration);
                Assert.Equal(fields["behavior"], request.Behavior);
                Assert.Equal(fields["name"], request.Name);
                Assert.Equal(value, request.Args);
                request.Write(written);
                break;
            case "spawn_reply":
                Assert.Equal(MessageTypes.SpawnReply, bytes[0]);
                Assert.True(body.TryReadInt64(out var spawnId));
                Assert.True(body.TryReadInt64(out var processId));
                Assert.Equal(long.Parse(fields["spawn_id"]), spawnId);
                Assert.Equal(long.Parse(fields["process_id"]), processId);
                new SpawnService.SpawnReplyMessage(spawnId, processId).Write(written);
                break;
            case "spawn_error":
                Assert.Equal(MessageTypes.SpawnError, bytes[0]);
                Assert.True(body.TryReadInt64(out var failedId));
                Assert.True(body.TryReadByte(out var kind));
                Assert.True(body.TryReadValue(out var detail));
                Assert.Equal(long.Parse(fields["spawn_id"]), failedId);
                Assert.Equal(byte.Parse(fields["kind"]), kind);
                Assert.Equal(value, detail);
                Assert.True(SpawnService.IsSpawnErrorDetail((SpawnService.ErrorKind)kind, detail), $"{name}: not the shape of its kind");
                new SpawnService.SpawnErrorMessage(failedId, (SpawnService.ErrorKind)kind, value).Write(written);
                break;
            case "spawn_ack":
            case "spawn_cancel":
                Assert.Equal(words[0] == "spawn_ack" ? MessageTypes.SpawnAck : MessageTypes.SpawnCancel, bytes[0]);
                Assert.True(body.TryReadInt64(out var ackedId));
                Assert.Equal(long.Parse(fields["spawn_id"]), ackedId);
                new IdMessage(bytes[0], ackedId).Write(written);
                break;
            case "stop_request":
                Assert.Equal(MessageTypes.StopRequest, bytes[0]);
                Assert.True(SpawnService.StopRequestMessage.TryRead(ref body, out var stop), $"{name} does not read");
                Assert.Equal(long.Parse(fields["request_id"]), stop.RequestId);
                Assert.Equal(long.Parse(fields["target"]), stop.Target);
                Assert.Equal(uint.Parse(fields["timeout_ms"]), stop.TimeoutMs);
                Assert.Equal(value, stop.Reason.ToValue());
                stop.Write(written);
                break;
            case "stop_reply":
                Assert.Equal(MessageTypes.StopReply, bytes[0]);
                Assert.True(body.TryReadInt64(out var requestId));
                Assert.True(body.TryReadByte(out var result));
                Assert.Equal(long.Parse(fields["request_id"]), requestId);
                Assert.Equal(byte.Parse(fields["result"]), result);
                new SpawnService.StopReplyMessage(requestId, (SpawnService.StopResult)result).Write(written);
                break;
            default:
                throw new InvalidDataException($"vector {name}: unknown message '{words[0]}'");
        }
        Assert.True(body.End);
        Assert.Equal(bytes, written.WrittenSpan.ToArray());
    }

    /// <summary>Every proper prefix of every vector, and a few corrupted bodies, are refused (a protocol error), never a crash.</summary>
    [Fact]
    public async Task OnMessage_TruncatedOrCorrupted_RefusedWithoutThrowing()
    {
        await using var node = await Node.StartAsync(TestNodes.Options("m", "spawn-tests"));
        var spawns = (IClusterService)node.Runtime.RemoteStops!;
        // Refused before the connection is looked at (none is needed to judge the bytes).
        bool Reads(byte[] message) => spawns.OnMessage(null!, message);

        foreach (var vector in ProtocolVectors.All.Where(v => v.Type == "spawn-message"))
        {
            var bytes = vector.Bytes("hex");
            for (var length = 1; length < bytes.Length; length++)
            {
                Assert.False(Reads(bytes[..length]), $"{vector.Name} cut to {length} bytes was accepted");
            }
            var longer = bytes.Append((byte)0x80).ToArray();
            Assert.False(Reads(longer), $"{vector.Name} with a trailing byte was accepted");
        }
        var request = ProtocolVectors.Get("spawn-request-local").Bytes("hex");
        var badRegistration = (byte[])request.Clone();
        badRegistration[17] = 3;
        Assert.False(Reads(badRegistration));
        var longBehavior = (byte[])request.Clone();
        longBehavior[18] = 200; // runs past the end
        Assert.False(Reads(longBehavior));
        var badUtf8 = (byte[])request.Clone();
        badUtf8[19] = 0xff;
        Assert.False(Reads(badUtf8));
        var badResult = ProtocolVectors.Get("stop-reply-not-running").Bytes("hex");
        badResult[9] = 7;
        Assert.False(Reads(badResult));
        var badReason = ProtocolVectors.Get("stop-request-shutdown").Bytes("hex")[..21].Append((byte)0x2a).ToArray();
        Assert.False(Reads(badReason));
        Assert.False(Reads([0x1f, 1, 0, 0, 0, 0, 0, 0, 0]));
    }
}
