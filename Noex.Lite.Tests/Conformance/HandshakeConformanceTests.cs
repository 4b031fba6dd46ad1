using System.Globalization;

namespace Noex.Lite.Tests;

/// <summary>
/// The handshake vectors of protocol.md §4: both sides of an accepted one produce its messages and session keys, and an
/// invalid one fails at its step with its error.
/// </summary>
[Trait("Category", Category.Conformance)]
public class HandshakeConformanceTests
{
    public static TheoryData<string> Accepted => ProtocolVectors.NamesOfType("handshake");

    public static TheoryData<string> Invalid => ProtocolVectors.NamesOfType("handshake-invalid");

    [Theory]
    [MemberData(nameof(Accepted))]
    public void AcceptedVector_BothSidesProduceItsMessagesAndKeys(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var secret = new HandshakeSecret(vector["secret"]);
        var dialer = Handshake.Dial(secret, HandshakeTests.A, HandshakeTests.DialerIncarnation, HandshakeTests.B, HandshakeTests.DialerNonce,
            Offer(vector, "dialer"), vector.Fields.GetValueOrDefault("fallback") == "yes");
        var acceptor = Handshake.Accept(secret, HandshakeTests.B, HandshakeTests.AcceptorIncarnation, HandshakeTests.AcceptorNonce,
            Offer(vector, "acceptor"));

        var hello = dialer.CreateHello();
        var challenge = acceptor.OnHello(hello);
        var proof = dialer.OnChallenge(challenge);
        acceptor.OnProof(proof);
        var welcome = acceptor.CreateWelcome(duplicate: false);
        dialer.OnWelcome(welcome);

        Assert.Equal(vector.Bytes("hello"), hello);
        Assert.Equal(vector.Bytes("challenge"), challenge);
        Assert.Equal(vector.Bytes("proof"), proof);
        Assert.Equal(vector.Bytes("welcome"), welcome);
        Assert.Equal(vector.Bytes("k_da"), dialer.Keys!.Send);
        Assert.Equal(vector.Bytes("k_da"), acceptor.Keys!.Receive);
        Assert.Equal(vector.Bytes("k_ad"), dialer.Keys.Receive);
        Assert.Equal(vector.Bytes("k_ad"), acceptor.Keys.Send);
        var settled = new Negotiated(byte.Parse(vector["version"], CultureInfo.InvariantCulture), Caps(vector["caps"]));
        Assert.Equal(settled, dialer.Negotiated);
        Assert.Equal(settled, acceptor.Negotiated);
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void InvalidVector_FailsAtItsStepWithItsError(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var secret = new HandshakeSecret(vector["secret"]);
        var dialer = Handshake.Dial(secret, HandshakeTests.A, HandshakeTests.DialerIncarnation, HandshakeTests.B, HandshakeTests.DialerNonce,
            Offer(vector, "dialer"));
        var acceptor = Handshake.Accept(secret, HandshakeTests.B, HandshakeTests.AcceptorIncarnation, HandshakeTests.AcceptorNonce,
            Offer(vector, "acceptor"));
        var expected = Enum.Parse<HandshakeFailure>(vector["error"]);

        var e = Assert.Throws<HandshakeException>(() =>
        {
            var challenge = acceptor.OnHello(vector.Bytes("hello"));
            if (vector["step"] == "challenge")
            {
                dialer.CreateHello();
                dialer.OnChallenge(vector.Bytes("challenge"));
                return;
            }
            Assert.Equal(vector.Bytes("challenge"), challenge);
            acceptor.OnProof(vector.Bytes("proof"));
        });

        Assert.Equal(expected, e.Failure);
    }

    /// <summary>A side's offer from <c>{side}_versions</c> (<c>1</c> or <c>1-2</c>) and <c>{side}_caps</c>; a side the
    /// vector does not describe offers what this build does.</summary>
    private static ProtocolOffer Offer(ProtocolVector vector, string side)
    {
        if (!vector.Fields.TryGetValue(side + "_versions", out var versions))
        {
            return ProtocolOffer.Current;
        }
        var range = versions.Split('-');
        var min = byte.Parse(range[0], CultureInfo.InvariantCulture);
        var max = byte.Parse(range[^1], CultureInfo.InvariantCulture);
        return new(min, max, Caps(vector.Fields.GetValueOrDefault(side + "_caps", "(none)")));
    }

    /// <summary>A capability set written as bit numbers (<c>0, 9, 63</c>) or <c>(none)</c>.</summary>
    private static Capabilities Caps(string text) =>
        text == "(none)"
            ? Capabilities.None
            : text.Split(',').Aggregate(Capabilities.None, (set, bit) => set | (Capabilities)(1UL << int.Parse(bit, CultureInfo.InvariantCulture)));
}
