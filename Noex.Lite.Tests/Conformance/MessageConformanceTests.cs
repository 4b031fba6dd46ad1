using System.Buffers;

namespace Noex.Lite.Tests;

/// <summary>The message vectors of protocol.md §5: each message's bytes read as its meaning and are what our encoder writes.</summary>
[Trait("Category", Category.Conformance)]
public class MessageConformanceTests
{
    public static TheoryData<string> Messages => ProtocolVectors.NamesOfType("message");

    [Theory]
    [MemberData(nameof(Messages))]
    public void Conformance_ClusterMessage_ReadsAsItsMeaningAndWritesItsBytes(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var bytes = vector.Bytes("hex");
        var meaning = vector["meaning"].Split(' ');
        // key=value pairs; a value (JSON) may hold spaces, so everything after "value=" is the value.
        var text = vector["meaning"];
        var valueAt = text.IndexOf(" value=", StringComparison.Ordinal);
        var fields = (valueAt < 0 ? text : text[..valueAt]).Split(' ').Skip(1).Select(f => f.Split('=', 2)).ToDictionary(f => f[0], f => f[1]);
        if (valueAt >= 0)
        {
            fields["value"] = text[(valueAt + 7)..];
        }
        var written = new ArrayBufferWriter<byte>();

        switch (meaning[0])
        {
            case "gossip":
                Assert.True(ControlMessages.TryReadGossip(bytes.AsSpan(1), out var gossip, out _));
                var (uptime, processCount, known) = gossip;
                Assert.Equal(MessageTypes.Gossip, bytes[0]);
                Assert.Equal(long.Parse(fields["uptime_ms"]), (long)uptime.TotalMilliseconds);
                Assert.Equal(int.Parse(fields["process_count"]), processCount);
                Assert.Equal(fields["ids"].Split(','), known.Select(k => k.ToString()));
                new ControlMessages.GossipMessage(uptime, processCount, known).Write(written);
                break;
            case "goodbye":
                new ControlMessages.GoodbyeMessage().Write(written);
                break;
            case "call":
                new RemoteCall.CallMessage(long.Parse(fields["call_id"]), long.Parse(fields["target"]), TimeSpan.FromMilliseconds(int.Parse(fields["timeout_ms"])), Value.Parse(fields["value"])).Write(written);
                Assert.Equal(Value.Parse(fields["value"]), ValueCodec.Decode(bytes.AsSpan(21)));
                break;
            case "cast":
                new RemoteCall.CastMessage(long.Parse(fields["target"]), Value.Parse(fields["value"])).Write(written);
                Assert.Equal(Value.Parse(fields["value"]), ValueCodec.Decode(bytes.AsSpan(9)));
                break;
            case "traced_call" or "traced_cast":
                var call = meaning[0] == "traced_call";
                var body = new WireReader(bytes.AsSpan(1));
                long callId = 0;
                Assert.True(!call || body.TryReadInt64(out callId));
                Assert.True(body.TryReadInt64(out var target));
                Assert.True(!call || body.TryReadUInt32(out _));
                Assert.True(body.TryReadTraceContext(out var trace));
                Assert.Equal(fields["trace_id"], trace.TraceId.ToHexString());
                Assert.Equal(fields["span_id"], trace.SpanId.ToHexString());
                Assert.Equal(fields["trace_flags"], ((int)trace.TraceFlags).ToString(System.Globalization.CultureInfo.InvariantCulture));
                Assert.Equal(fields["trace_state"], trace.TraceState ?? "(none)");
                Assert.True(body.TryReadValue(out var carried) && body.End);
                Assert.Equal(Value.Parse(fields["value"]), carried);
                if (call)
                {
                    new RemoteCall.TracedCallMessage(callId, target, TimeSpan.FromMilliseconds(int.Parse(fields["timeout_ms"])), trace, carried).Write(written);
                }
                else
                {
                    new RemoteCall.TracedCastMessage(target, trace, carried).Write(written);
                }
                break;
            case "reply":
                new RemoteCall.ReplyMessage(long.Parse(fields["call_id"]), Value.Parse(fields["value"])).Write(written);
                break;
            case "call_error":
                // Read: the detail is the meaning's value, of the exact shape its kind calls for (§5.2).
                Assert.Equal(Value.Parse(fields["value"]), ValueCodec.Decode(bytes.AsSpan(10)));
                Assert.True(RemoteCall.IsCallErrorDetail((RemoteCall.ErrorKind)bytes[9], ValueCodec.Decode(bytes.AsSpan(10))));
                new RemoteCall.CallErrorMessage(long.Parse(fields["call_id"]), (RemoteCall.ErrorKind)byte.Parse(fields["kind"]), Value.Parse(fields["value"])).Write(written);
                break;
            default:
                throw new InvalidDataException($"vector {name}: unknown message '{meaning[0]}'");
        }
        Assert.Equal(bytes, written.WrittenSpan.ToArray());
    }
}
