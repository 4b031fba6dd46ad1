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
        var (dialer, acceptor) = HandshakeTests.Pair(secret, secret);

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
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void InvalidVector_FailsAtItsStepWithItsError(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var secret = new HandshakeSecret(vector["secret"]);
        var (dialer, acceptor) = HandshakeTests.Pair(secret, secret);
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
}
