using System.Buffers;
using System.Globalization;

namespace Noex.Lite.Tests;

/// <summary>The global registry vectors of protocol.md §5.4: each message's bytes read as its meaning and are what our encoder writes.</summary>
[Trait("Category", Category.Conformance)]
public class GlobalRegistryConformanceTests
{
    public static TheoryData<string> Messages => ProtocolVectors.NamesOfType("registry-message");

    public static TheoryData<string> Stamps => ProtocolVectors.NamesOfType("registry-stamp");

    public static TheoryData<string> Clocks => ProtocolVectors.NamesOfType("registry-clock");

    [Theory]
    [MemberData(nameof(Clocks))]
    public void Conformance_NextStamp_IsTheOneItsVectorSays(string name)
    {
        var vector = ProtocolVectors.Get(name);

        var stamp = GlobalRegistry.NextStamp(long.Parse(vector["last"], CultureInfo.InvariantCulture), long.Parse(vector["wall"], CultureInfo.InvariantCulture));

        Assert.Equal(long.Parse(vector["stamp"], CultureInfo.InvariantCulture), stamp);
    }

    [Theory]
    [MemberData(nameof(Stamps))]
    public void Conformance_ClaimStamp_IsAcceptedOrRefusedAsItsVectorSays(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var incarnation = ulong.Parse(vector["registrar_start"], CultureInfo.InvariantCulture) << 16 | 0x2a;
        var error = GlobalRegistry.StampError(long.Parse(vector["stamp"], CultureInfo.InvariantCulture), incarnation,
            long.Parse(vector["receiver_clock"], CultureInfo.InvariantCulture), register: vector["message"] switch
            {
                "register" => true,
                "sync" => false,
                var other => throw new InvalidOperationException($"message '{other}' is neither register nor sync"),
            });

        Assert.Equal(vector["result"], error is null ? "accepted" : "refused");
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Conformance_RegistryMessage_ReadsAsItsMeaningAndWritesItsBytes(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var bytes = vector.Bytes("hex");
        var words = vector["meaning"].Split(' ');
        var fields = words.Skip(1).Select(f => f.Split('=', 2)).ToDictionary(f => f[0], f => f[1]);
        var body = new WireReader(bytes.AsSpan(1));
        var written = new ArrayBufferWriter<byte>();

        switch (words[0])
        {
            case "register":
                Assert.Equal(MessageTypes.Register, bytes[0]);
                Assert.True(GlobalRegistry.WireEntry.TryRead(ref body, out var entry));
                Assert.True(body.End);
                Assert.Equal(Entries(fields["entries"]), [entry]);
                new GlobalRegistry.RegisterMessage(entry.Name, entry.Target, entry.HostIncarnation, entry.Stamp).Write(written);
                break;
            case "unregister":
                Assert.Equal(MessageTypes.Unregister, bytes[0]);
                Assert.Equal(fields["name"], System.Text.Encoding.UTF8.GetString(bytes.AsSpan(2, bytes[1])));
                new GlobalRegistry.UnregisterMessage(fields["name"]).Write(written);
                break;
            case "process_ended":
                Assert.Equal(MessageTypes.ProcessEnded, bytes[0]);
                Assert.Equal(17, bytes.Length);
                new GlobalRegistry.ProcessEndedMessage(long.Parse(fields["process"], CultureInfo.InvariantCulture), ulong.Parse(fields["incarnation"], CultureInfo.InvariantCulture)).Write(written);
                break;
            case "sync":
                Assert.Equal(MessageTypes.Sync, bytes[0]);
                Assert.Equal(byte.Parse(fields["flags"], CultureInfo.InvariantCulture), bytes[1]);
                var count = bytes[2] | (bytes[3] << 8);
                var rest = new WireReader(bytes.AsSpan(4));
                var read = new List<GlobalRegistry.WireEntry>();
                for (var i = 0; i < count; i++)
                {
                    Assert.True(GlobalRegistry.WireEntry.TryRead(ref rest, out var e));
                    read.Add(e);
                }
                Assert.True(rest.End);
                Assert.Equal(Entries(fields["entries"]), read);
                new GlobalRegistry.SyncMessage(bytes[1], read, 0, read.Count).Write(written);
                break;
            case "digest":
                Assert.Equal(MessageTypes.Digest, bytes[0]);
                new GlobalRegistry.DigestMessage(int.Parse(fields["count"], CultureInfo.InvariantCulture), ulong.Parse(fields["sum"], CultureInfo.InvariantCulture)).Write(written);
                break;
            case "sync_request":
                new GlobalRegistry.SyncRequestMessage().Write(written);
                break;
            default:
                throw new InvalidDataException($"vector {name}: unknown message '{words[0]}'");
        }
        Assert.Equal(bytes, written.WrittenSpan.ToArray());
    }

    [Fact]
    public void WireEntry_EveryTruncation_IsRefusedWithoutThrowing()
    {
        var vector = ProtocolVectors.Get("registry-register");
        var bytes = vector.Bytes("hex").AsSpan(1).ToArray();
        for (var length = 0; length < bytes.Length; length++)
        {
            var body = new WireReader(bytes.AsSpan(0, length));
            Assert.False(GlobalRegistry.WireEntry.TryRead(ref body, out _), $"a {length}-byte prefix read as an entry");
        }
    }

    private static List<GlobalRegistry.WireEntry> Entries(string text) =>
        text.Length == 0
            ? []
            : text.Split(',').Select(e => e.Split('|')).Select(p => new GlobalRegistry.WireEntry(
                p[0],
                new ProcessRef(p[1], long.Parse(p[2], CultureInfo.InvariantCulture)),
                ulong.Parse(p[4], CultureInfo.InvariantCulture),
                long.Parse(p[3], CultureInfo.InvariantCulture))).ToList();
}
