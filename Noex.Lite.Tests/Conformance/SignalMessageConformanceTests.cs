using System.Buffers;

namespace Noex.Lite.Tests;

/// <summary>
/// The monitor and link vectors of protocol.md §5.5 (<c>type: signal-message</c>): each vector's bytes read as its
/// meaning with our decoder and are what our encoder writes. Malformed bodies: <see cref="RemoteSignalMalformedTests"/>.
/// </summary>
[Trait("Category", Category.Conformance)]
public class SignalMessageConformanceTests
{
    public static TheoryData<string> Messages => ProtocolVectors.NamesOfType("signal-message");

    /// <summary>The meaning's name and fields; <c>message=</c> (an error's text) runs to the end of the line.</summary>
    internal static (string Name, Dictionary<string, string> Fields) Parse(string meaning)
    {
        var fields = new Dictionary<string, string>();
        var messageAt = meaning.IndexOf(" message=", StringComparison.Ordinal);
        if (messageAt >= 0)
        {
            fields["message"] = meaning[(messageAt + 9)..];
            meaning = meaning[..messageAt];
        }
        var parts = meaning.Split(' ');
        foreach (var field in parts.Skip(1))
        {
            var at = field.IndexOf('=');
            fields[field[..at]] = field[(at + 1)..];
        }
        return (parts[0], fields);
    }

    internal static ExitReason ReasonOf(Dictionary<string, string> fields) => fields["reason"] switch
    {
        "normal" => ExitReason.Normal,
        "shutdown" => ExitReason.Shutdown,
        "killed" => ExitReason.Killed,
        "noproc" => ExitReason.NoProc,
        "noconnection" => ExitReason.NoConnection,
        "error" => ExitReason.Error(fields["message"], fields.GetValueOrDefault("errorType")),
        var other => throw new InvalidDataException($"unknown reason {other}"),
    };

    internal static byte[] Write(string name, Dictionary<string, string> f)
    {
        var written = new ArrayBufferWriter<byte>();
        long L(string key) => long.Parse(f[key]);
        switch (name)
        {
            case "monitor":
                new RemoteMonitor.MonitorMessage(L("monitor_id"), L("watcher"), L("target")).Write(written);
                break;
            case "monitor_ack":
                new RemoteMonitor.MonitorAckMessage(L("monitor_id"), noproc: L("status") == 1).Write(written);
                break;
            case "demonitor":
                new IdMessage(MessageTypes.Demonitor, L("monitor_id")).Write(written);
                break;
            case "down":
                new RemoteMonitor.DownMessage(L("monitor_id"), ReasonOf(f)).Write(written);
                break;
            case "link":
                new RemoteLink.LinkMessage(MessageTypes.Link, L("from"), L("to")).Write(written);
                break;
            case "unlink":
                new RemoteLink.LinkMessage(MessageTypes.Unlink, L("from"), L("to")).Write(written);
                break;
            case "link_ack":
                new RemoteLink.LinkAckMessage(L("from"), L("to"), noproc: L("status") == 1).Write(written);
                break;
            case "exit":
                new RemoteLink.ExitMessage(L("from"), L("to"), link: L("link") == 1, ReasonOf(f)).Write(written);
                break;
            default:
                throw new InvalidDataException($"unknown message '{name}'");
        }
        return written.WrittenSpan.ToArray();
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Conformance_SignalMessage_ReadsAsItsMeaningAndWritesItsBytes(string vectorName)
    {
        var vector = ProtocolVectors.Get(vectorName);
        var bytes = vector.Bytes("hex");
        var (name, fields) = Parse(vector["meaning"]);

        // Read: the fixed fields at their offsets, and the reason with the decoder the layers use.
        switch (bytes[0])
        {
            case MessageTypes.Monitor:
                Assert.Equal(("monitor", 25), (name, bytes.Length));
                Assert.Equal(long.Parse(fields["monitor_id"]), BitConverter.ToInt64(bytes, 1));
                Assert.Equal(long.Parse(fields["watcher"]), BitConverter.ToInt64(bytes, 9));
                Assert.Equal(long.Parse(fields["target"]), BitConverter.ToInt64(bytes, 17));
                break;
            case MessageTypes.MonitorAck:
                Assert.Equal(("monitor_ack", 10), (name, bytes.Length));
                Assert.Equal(long.Parse(fields["monitor_id"]), BitConverter.ToInt64(bytes, 1));
                Assert.Equal(byte.Parse(fields["status"]), bytes[9]);
                break;
            case MessageTypes.Demonitor:
                Assert.Equal(("demonitor", 9), (name, bytes.Length));
                Assert.Equal(long.Parse(fields["monitor_id"]), BitConverter.ToInt64(bytes, 1));
                break;
            case MessageTypes.Down:
                Assert.Equal("down", name);
                Assert.Equal(long.Parse(fields["monitor_id"]), BitConverter.ToInt64(bytes, 1));
                Assert.True(ExitReasonWire.TryRead(bytes.AsSpan(9), out var downReason));
                Assert.Equal(ReasonOf(fields), downReason);
                break;
            case MessageTypes.Link:
            case MessageTypes.Unlink:
                Assert.Equal((bytes[0] == MessageTypes.Link ? "link" : "unlink", 17), (name, bytes.Length));
                Assert.Equal(long.Parse(fields["from"]), BitConverter.ToInt64(bytes, 1));
                Assert.Equal(long.Parse(fields["to"]), BitConverter.ToInt64(bytes, 9));
                break;
            case MessageTypes.Exit:
                Assert.Equal("exit", name);
                Assert.Equal(long.Parse(fields["from"]), BitConverter.ToInt64(bytes, 1));
                Assert.Equal(long.Parse(fields["to"]), BitConverter.ToInt64(bytes, 9));
                Assert.Equal(byte.Parse(fields["link"]), bytes[17]);
                Assert.True(ExitReasonWire.TryRead(bytes.AsSpan(18), out var exitReason));
                Assert.Equal(ReasonOf(fields), exitReason);
                break;
            case MessageTypes.LinkAck:
                Assert.Equal(("link_ack", 18), (name, bytes.Length));
                Assert.Equal(long.Parse(fields["from"]), BitConverter.ToInt64(bytes, 1));
                Assert.Equal(long.Parse(fields["to"]), BitConverter.ToInt64(bytes, 9));
                Assert.Equal(byte.Parse(fields["status"]), bytes[17]);
                break;
            default:
                throw new InvalidDataException($"vector {vectorName}: type 0x{bytes[0]:x2} is not a §5.5 message");
        }

        Assert.Equal(bytes, Write(name, fields));
    }
}
