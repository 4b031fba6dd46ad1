using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class HandshakeTests
{
    private static readonly NodeId s_a = NodeId.Parse("a@127.0.0.1:4001");
    private static readonly NodeId s_b = NodeId.Parse("b@127.0.0.1:4002");
    private static readonly byte[] s_dialerNonce = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] s_acceptorNonce = Enumerable.Range(32, 32).Select(i => (byte)i).ToArray();
    internal const ulong DialerIncarnation = 0x0000018c00000001;
    internal const ulong AcceptorIncarnation = 0x0000018c00000002;

    /// <summary>The dialer of protocol.md's handshake vectors (§4.5).</summary>
    internal static NodeId A => s_a;

    /// <summary>The acceptor of protocol.md's handshake vectors.</summary>
    internal static NodeId B => s_b;

    internal static byte[] DialerNonce => s_dialerNonce;

    internal static byte[] AcceptorNonce => s_acceptorNonce;

    [Fact]
    public void Handshake_FreshNonces_GiveFreshKeysThatMatchAcrossSides()
    {
        var secret = new HandshakeSecret("s3cret");
        var first = Complete(secret, secret);
        var second = Complete(secret, secret);

        Assert.Equal(first.Dialer.Keys!.Send, first.Acceptor.Keys!.Receive);
        Assert.Equal(first.Dialer.Keys.Receive, first.Acceptor.Keys.Send);
        Assert.NotEqual(first.Dialer.Keys.Send, first.Dialer.Keys.Receive);
        Assert.NotEqual(first.Dialer.Keys.Send, second.Dialer.Keys!.Send);
        Assert.Equal(s_a, first.Acceptor.PeerId);
        Assert.Equal(DialerIncarnation, first.Acceptor.PeerIncarnation);
        Assert.Equal(s_b, first.Dialer.PeerId);
        Assert.Equal(AcceptorIncarnation, first.Dialer.PeerIncarnation);
    }

    [Fact]
    public void OnProof_WrongSecret_FailsWithAuthFailedAndNoKeys()
    {
        var (dialer, acceptor) = Pair(new HandshakeSecret("one"), new HandshakeSecret("two"));
        var proof = dialer.OnChallenge(acceptor.OnHello(dialer.CreateHello()));

        var e = Assert.Throws<HandshakeException>(() => acceptor.OnProof(proof));

        Assert.Equal(HandshakeFailure.AuthFailed, e.Failure);
        Assert.Null(acceptor.Keys);
        Assert.DoesNotContain("one", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OnWelcome_AcceptorWithoutTheSecret_FailsWithAuthFailed()
    {
        // An impostor acceptor that accepts any proof still cannot produce a WELCOME the dialer verifies.
        var (dialer, impostor) = Pair(new HandshakeSecret("real"), new HandshakeSecret("guess"));
        var proof = dialer.OnChallenge(impostor.OnHello(dialer.CreateHello()));
        var forged = ForgeWelcomeWithoutProofCheck(impostor, proof);

        var e = Assert.Throws<HandshakeException>(() => dialer.OnWelcome(forged));

        Assert.Equal(HandshakeFailure.AuthFailed, e.Failure);
        Assert.Null(dialer.Keys);
    }

    [Fact]
    public void OnProof_ProofReplayedFromAnotherSession_FailsBecauseTheNonceIsFresh()
    {
        var secret = new HandshakeSecret("s");
        var recorded = Complete(secret, secret).Proof;
        var acceptor = Handshake.Accept(secret, s_b, AcceptorIncarnation, RandomNumberGenerator.GetBytes(32));
        var (dialer, _) = Pair(secret, secret);
        acceptor.OnHello(dialer.CreateHello());

        var e = Assert.Throws<HandshakeException>(() => acceptor.OnProof(recorded));

        Assert.Equal(HandshakeFailure.AuthFailed, e.Failure);
    }

    [Fact]
    public void OnProof_ChallengeTamperedInTransit_FailsBecauseTheTranscriptDiffers()
    {
        var secret = new HandshakeSecret("s");
        var (dialer, acceptor) = Pair(secret, secret);
        var challenge = acceptor.OnHello(dialer.CreateHello());
        challenge[10] ^= 0x01; // a bit of the acceptor's nonce

        var proof = dialer.OnChallenge(challenge);

        Assert.Equal(HandshakeFailure.AuthFailed, Assert.Throws<HandshakeException>(() => acceptor.OnProof(proof)).Failure);
    }

    [Fact]
    public void OnHello_MeantForAnotherNode_FailsWithWrongNode()
    {
        var secret = new HandshakeSecret("s");
        var dialer = Handshake.Dial(secret, s_a, DialerIncarnation, NodeId.Parse("c@127.0.0.1:4002"), s_dialerNonce);
        var acceptor = Handshake.Accept(secret, s_b, AcceptorIncarnation, s_acceptorNonce);

        var e = Assert.Throws<HandshakeException>(() => acceptor.OnHello(dialer.CreateHello()));

        Assert.Equal(HandshakeFailure.WrongNode, e.Failure);
        Assert.Contains("c@127.0.0.1:4002", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OnHello_FromTheAcceptorsOwnId_IsRefused()
    {
        // A node never dials itself: a HELLO from its own id (a copy of it, or an impostor) must not make it "join" itself.
        var secret = new HandshakeSecret("s");
        var dialer = Handshake.Dial(secret, s_b, DialerIncarnation, s_b, s_dialerNonce);
        var acceptor = Handshake.Accept(secret, s_b, AcceptorIncarnation, s_acceptorNonce);

        var e = Assert.Throws<HandshakeException>(() => acceptor.OnHello(dialer.CreateHello()));

        Assert.Equal(HandshakeFailure.WrongNode, e.Failure);
        Assert.Contains("own id", e.Message, StringComparison.Ordinal);
        Assert.Null(acceptor.PeerId);
    }

    [Fact]
    public void OnChallenge_AnsweredByAnotherNode_FailsWithWrongNode()
    {
        var secret = new HandshakeSecret("s");
        var dialer = Handshake.Dial(secret, s_a, DialerIncarnation, s_b, s_dialerNonce);
        var other = Handshake.Accept(secret, NodeId.Parse("c@127.0.0.1:4002"), AcceptorIncarnation, s_acceptorNonce);
        dialer.CreateHello();
        // Re-address the HELLO so that "c" accepts it, as a node at a recycled seed address would.
        var readdressed = Handshake.Dial(secret, s_a, DialerIncarnation, NodeId.Parse("c@127.0.0.1:4002"), s_dialerNonce).CreateHello();
        var challenge = other.OnHello(readdressed);

        var e = Assert.Throws<HandshakeException>(() => dialer.OnChallenge(challenge));

        Assert.Equal(HandshakeFailure.WrongNode, e.Failure);
    }

    [Fact]
    public void OnHello_NewerHelloAtAVersion1OnlyNode_FailsWithVersion()
    {
        // A build from before negotiation reads no HELLO but version 1: this is what makes a newer dialer fall back.
        var secret = new HandshakeSecret("s");
        var dialer = Handshake.Dial(secret, s_a, DialerIncarnation, s_b, s_dialerNonce);
        var acceptor = Handshake.Accept(secret, s_b, AcceptorIncarnation, s_acceptorNonce, ProtocolOffer.Version1);

        Assert.Equal(HandshakeFailure.Version, Assert.Throws<HandshakeException>(() => acceptor.OnHello(dialer.CreateHello())).Failure);
    }

    [Fact]
    public void OnHello_LaterVersionWithMoreBytesAndUnknownCapabilities_SettlesOnVersion2AndTheKnownCapabilities()
    {
        // A version-3 HELLO is read by the version 2 layout (§4.6): the bytes after caps and the capability bits this
        // build cannot know (64 and up, here bit 200) are ignored, and the connection uses version 2.
        var secret = new HandshakeSecret("s");
        var acceptor = Handshake.Accept(secret, s_b, AcceptorIncarnation, s_acceptorNonce,
            new ProtocolOffer(1, 2, (Capabilities)0b1010));
        var caps = new byte[26];
        caps[0] = 0b0110;
        caps[25] = 0x01; // bit 200
        var body = new List<byte>();
        body.AddRange("NOEX"u8.ToArray());
        body.AddRange(new byte[] { 3, 0 });
        body.AddRange(s_dialerNonce);
        body.AddRange(BitConverter.GetBytes(DialerIncarnation));
        body.Add(16);
        body.AddRange("a@127.0.0.1:4001"u8.ToArray());
        body.Add(16);
        body.AddRange("b@127.0.0.1:4002"u8.ToArray());
        body.Add(1); // min_version
        body.Add((byte)caps.Length);
        body.AddRange(caps);
        body.AddRange(new byte[] { 0xde, 0xad }); // a field of version 3
        var hello = new byte[] { 0, 0, 0x01 }.Concat(body).ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(hello, (ushort)(hello.Length - 2));

        var challenge = acceptor.OnHello(hello);

        Assert.Equal(new Negotiated(2, (Capabilities)0b0010), acceptor.Negotiated);
        Assert.Equal(2, challenge[3]);
    }

    [Fact]
    public void Handshake_Version2DialerAndVersion1OnlyAcceptorViaFallback_SettleOnVersion1WithNoCapabilities()
    {
        var secret = new HandshakeSecret("s");
        var offer = new ProtocolOffer(1, 2, (Capabilities)1);
        var dialer = Handshake.Dial(secret, s_a, DialerIncarnation, s_b, RandomNumberGenerator.GetBytes(32), offer, fallback: true);
        var acceptor = Handshake.Accept(secret, s_b, AcceptorIncarnation, RandomNumberGenerator.GetBytes(32), ProtocolOffer.Version1);

        acceptor.OnProof(dialer.OnChallenge(acceptor.OnHello(dialer.CreateHello())));
        dialer.OnWelcome(acceptor.CreateWelcome(duplicate: false));

        Assert.Equal(new Negotiated(1, Capabilities.None), dialer.Negotiated);
        Assert.Equal(new Negotiated(1, Capabilities.None), acceptor.Negotiated);
        Assert.Equal(dialer.Keys!.Send, acceptor.Keys!.Receive);
    }

    [Fact]
    public void OnChallenge_VersionTheDialerDidNotOffer_FailsWithVersion()
    {
        // A fallback HELLO offers version 1 only; a CHALLENGE choosing 2 answers something this dialer did not send.
        var secret = new HandshakeSecret("s");
        var fallback = Handshake.Dial(secret, s_a, DialerIncarnation, s_b, s_dialerNonce, fallback: true);
        fallback.CreateHello();
        var newer = Handshake.Dial(secret, s_a, DialerIncarnation, s_b, s_dialerNonce);
        var challenge = Handshake.Accept(secret, s_b, AcceptorIncarnation, s_acceptorNonce).OnHello(newer.CreateHello());

        Assert.Equal(HandshakeFailure.Version, Assert.Throws<HandshakeException>(() => fallback.OnChallenge(challenge)).Failure);
    }

    [Fact]
    public void OnWelcome_Duplicate_FailsWithDuplicateAndNoKeys()
    {
        var secret = new HandshakeSecret("s");
        var (dialer, acceptor) = Pair(secret, secret);
        acceptor.OnProof(dialer.OnChallenge(acceptor.OnHello(dialer.CreateHello())));

        var welcome = acceptor.CreateWelcome(duplicate: true);
        var e = Assert.Throws<HandshakeException>(() => dialer.OnWelcome(welcome));

        Assert.Equal(HandshakeFailure.Duplicate, e.Failure);
        Assert.Null(dialer.Keys);
        Assert.Null(acceptor.Keys);
    }

    [Fact]
    public void OnChallenge_Reject_ReportsThePeersReason()
    {
        var (dialer, _) = Pair(new HandshakeSecret("s"), new HandshakeSecret("s"));
        dialer.CreateHello();

        var e = Assert.Throws<HandshakeException>(() => dialer.OnChallenge(Handshake.CreateReject(HandshakeFailure.Busy)));

        Assert.Equal(HandshakeFailure.Busy, e.Failure);
        Assert.True(e.ByPeer);
    }

    [Fact]
    public void Messages_TruncatedOrExtendedAtEveryByte_FailAsMalformedNeverOtherwise()
    {
        var secret = new HandshakeSecret("s");
        var run = Complete(secret, secret);
        foreach (var (message, feed) in new (byte[], Action<byte[]>)[]
        {
            (run.Hello, m => Pair(secret, secret).Acceptor.OnHello(m)),
            (run.Challenge, m => { var d = Pair(secret, secret).Dialer; d.CreateHello(); d.OnChallenge(m); }),
        })
        {
            for (var cut = 3; cut < message.Length; cut++)
            {
                var truncated = message[..cut];
                BinaryPrimitives.WriteUInt16LittleEndian(truncated, (ushort)(cut - 2));
                var e = Assert.Throws<HandshakeException>(() => feed(truncated));
                Assert.True(e.Failure is HandshakeFailure.Malformed or HandshakeFailure.WrongNode, $"cut at {cut}: {e.Failure}");
            }
        }
        // A CHALLENGE is laid out by the version it chose, so a byte after it is malformed; a version 2 HELLO's extra
        // bytes belong to later versions and are ignored (§4.6), while a version 1 HELLO has none to spare.
        var extended = run.Challenge.Append((byte)0).ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(extended, (ushort)(extended.Length - 2));
        var dialer = Pair(secret, secret).Dialer;
        dialer.CreateHello();
        Assert.Equal(HandshakeFailure.Malformed, Assert.Throws<HandshakeException>(() => dialer.OnChallenge(extended)).Failure);
        var version1 = Handshake.Dial(secret, s_a, DialerIncarnation, s_b, s_dialerNonce, ProtocolOffer.Version1).CreateHello().Append((byte)0).ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(version1, (ushort)(version1.Length - 2));
        Assert.Equal(HandshakeFailure.Malformed, Assert.Throws<HandshakeException>(() => Pair(secret, secret).Acceptor.OnHello(version1)).Failure);
    }

    [Fact]
    public void OnHello_RandomBytes_NeverCrashOnlyTypedFailures()
    {
        var random = new Random(7);
        var secret = new HandshakeSecret("s");
        for (var i = 0; i < 5000; i++)
        {
            var body = new byte[random.Next(1, 120)];
            random.NextBytes(body);
            var message = new byte[body.Length + 2];
            BinaryPrimitives.WriteUInt16LittleEndian(message, (ushort)body.Length);
            body.CopyTo(message, 2);
            if (random.Next(2) == 0)
            {
                message[2] = 0x01; // mostly HELLOs, so parsing goes deep
            }
            try
            {
                Pair(secret, secret).Acceptor.OnHello(message);
            }
            catch (HandshakeException)
            {
            }
        }
    }

    [Theory]
    [InlineData(new byte[] { }, OperationStatus.NeedMoreData, 0)]
    [InlineData(new byte[] { 3 }, OperationStatus.NeedMoreData, 0)]
    [InlineData(new byte[] { 0, 0 }, OperationStatus.InvalidData, 0)]
    [InlineData(new byte[] { 0x01, 0x04 }, OperationStatus.InvalidData, 0)]
    [InlineData(new byte[] { 0x00, 0x04 }, OperationStatus.NeedMoreData, 0)]
    [InlineData(new byte[] { 2, 0, 5, 1, 9 }, OperationStatus.Done, 4)]
    public void TryReadMessage_DecidesFromTheLengthAlone(byte[] buffer, OperationStatus status, int consumed)
    {
        Assert.Equal(status, Handshake.TryReadMessage(buffer, out var used));
        Assert.Equal(consumed, used);
    }

    [Fact]
    public void NewIncarnation_LaterStart_IsGreater()
    {
        var early = Handshake.NewIncarnation(new FixedTime(DateTimeOffset.FromUnixTimeMilliseconds(1_000)));
        var late = Handshake.NewIncarnation(new FixedTime(DateTimeOffset.FromUnixTimeMilliseconds(1_001)));

        Assert.True(late > early);
        Assert.Equal(1_000UL, early >> 16);
    }

    /// <summary>A dialer a and an acceptor b with the ids, incarnations and nonces of protocol.md's handshake vectors.</summary>
    internal static (Handshake Dialer, Handshake Acceptor) Pair(HandshakeSecret dialerSecret, HandshakeSecret acceptorSecret) =>
        (Handshake.Dial(dialerSecret, s_a, DialerIncarnation, s_b, s_dialerNonce),
         Handshake.Accept(acceptorSecret, s_b, AcceptorIncarnation, s_acceptorNonce));

    private static (Handshake Dialer, Handshake Acceptor, byte[] Hello, byte[] Challenge, byte[] Proof) Complete(HandshakeSecret d, HandshakeSecret a)
    {
        var dialer = Handshake.Dial(d, s_a, DialerIncarnation, s_b, RandomNumberGenerator.GetBytes(32));
        var acceptor = Handshake.Accept(a, s_b, AcceptorIncarnation, RandomNumberGenerator.GetBytes(32));
        var hello = dialer.CreateHello();
        var challenge = acceptor.OnHello(hello);
        var proof = dialer.OnChallenge(challenge);
        acceptor.OnProof(proof);
        dialer.OnWelcome(acceptor.CreateWelcome(duplicate: false));
        return (dialer, acceptor, hello, challenge, proof);
    }

    private static byte[] ForgeWelcomeWithoutProofCheck(Handshake impostor, byte[] proof)
    {
        try
        {
            impostor.OnProof(proof);
        }
        catch (HandshakeException)
        {
            // The impostor's own check fails; a real attacker would skip it. Build its WELCOME by hand.
        }
        var welcome = new byte[36];
        BinaryPrimitives.WriteUInt16LittleEndian(welcome, 34);
        welcome[2] = 0x04;
        RandomNumberGenerator.Fill(welcome.AsSpan(4));
        return welcome;
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }
}
