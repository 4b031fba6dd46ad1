using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;

namespace Noex.Lite;

/// <summary>Why a handshake failed (protocol.md §4.3). The first five travel in a REJECT message.</summary>
public enum HandshakeFailure : byte
{
    /// <summary>The peer speaks another protocol version.</summary>
    Version = 1,
    /// <summary>The node that answered is not the one that was dialled, or a HELLO was meant for another node.</summary>
    WrongNode = 2,
    /// <summary>A proof did not verify: the two nodes do not share the cluster secret.</summary>
    AuthFailed = 3,
    /// <summary>The acceptor has too many handshakes in progress.</summary>
    Busy = 4,
    /// <summary>A handshake message broke protocol.md §4.2.</summary>
    Malformed = 5,
    /// <summary>A connection between the two nodes already exists and wins (protocol.md §4.4).</summary>
    Duplicate = 16,
    /// <summary>The handshake did not finish before its deadline.</summary>
    Timeout = 17,
    /// <summary>TLS could not be negotiated: one side uses TLS and the other does not, or a certificate was refused.</summary>
    Tls = 18,
    /// <summary>The peer closed the connection during the handshake (often: it expects TLS, or is not a Noex.Lite node).</summary>
    PeerClosed = 19,
    /// <summary>The peer is connected to a newer incarnation of this node's id, which keeps the identity (protocol.md §4.3).</summary>
    Superseded = 20,
    /// <summary>The address dialled is this node's own listener: the id names a node that is gone from there.</summary>
    SelfDial = 21,
}

/// <summary>The WELCOME <c>status</c> byte (protocol.md §4.3).</summary>
internal enum WelcomeStatus : byte
{
    /// <summary>The connection is kept.</summary>
    Accepted = 0,
    /// <summary>Another connection between the two nodes wins (§4.4).</summary>
    Duplicate = 1,
    /// <summary>The acceptor holds a live connection to a newer incarnation of the dialer's id.</summary>
    Superseded = 2,
}

/// <summary>A connection's handshake failed; the connection is closed and no node-up follows.</summary>
public sealed class HandshakeException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="failure">Why.</param>
    /// <param name="byPeer">Whether the peer reported it (in a REJECT) rather than this node finding it.</param>
    /// <param name="message">A description naming the peer and the values involved.</param>
    public HandshakeException(HandshakeFailure failure, bool byPeer, string message)
        : base(message)
    {
        Failure = failure;
        ByPeer = byPeer;
    }

    /// <summary>Why the handshake failed.</summary>
    public HandshakeFailure Failure { get; }

    /// <summary>Whether the peer reported the failure in a REJECT message.</summary>
    public bool ByPeer { get; }

    /// <summary>The node on the other end, when known: the one dialled, or the one an accepted connection said it was.</summary>
    public NodeId? Peer { get; internal set; }

    /// <summary>Where an accepted connection came from (null for a dial: <see cref="Peer"/> names where it went).</summary>
    public System.Net.EndPoint? RemoteEndPoint { get; internal set; }
}

/// <summary>The keys of one connection, one per direction (protocol.md §4.2). Zero them when the connection ends.</summary>
/// <param name="Send">The key of the frames this node sends.</param>
/// <param name="Receive">The key of the frames this node receives.</param>
internal sealed record SessionKeys(byte[] Send, byte[] Receive);

/// <summary>The cluster secret turned into the handshake's key material once per node (protocol.md §4.1).</summary>
internal sealed class HandshakeSecret
{
    private static readonly byte[] s_salt = "noex-lite/v1"u8.ToArray();

    public HandshakeSecret(string? clusterSecret)
    {
        var ikm = Encoding.UTF8.GetBytes(clusterSecret ?? "");
        Prk = HKDF.Extract(HashAlgorithmName.SHA256, ikm, s_salt);
        AuthKey = HKDF.Expand(HashAlgorithmName.SHA256, Prk, 32, "noex-lite/v1 auth"u8.ToArray());
        CryptographicOperations.ZeroMemory(ikm);
    }

    public byte[] Prk { get; }

    public byte[] AuthKey { get; }
}

/// <summary>
/// One side of the handshake of protocol.md §4, without I/O: it takes the peer's messages and gives the bytes to send.
/// </summary>
/// <remarks>
/// Not thread-safe: one connection's read loop drives it. The caller reads whole messages with
/// <see cref="TryReadMessage"/> (which bounds them before anything is kept) and enforces the deadline.
/// </remarks>
internal sealed class Handshake
{
    /// <summary>The largest handshake message after its length field (protocol.md §4.2).</summary>
    public const int MaxMessageLength = 1024;

    public const int NonceLength = 32;
    private const int TagLength = 32;

    /// <summary>The most bytes of a capability set (256 capabilities), protocol.md §4.2.</summary>
    public const int MaxCapabilityBytes = 32;

    private static ReadOnlySpan<byte> Magic => "NOEX"u8;

    /// <summary>
    /// How a version-1 HELLO sent as a fallback ends its nonce, followed by the highest version its dialer speaks (the
    /// idea of TLS 1.3's downgrade sentinel): an acceptor that speaks that version too knows the REJECT that caused the
    /// fallback was forged, and refuses (protocol.md §4.6).
    /// </summary>
    private static ReadOnlySpan<byte> DowngradeSentinel => "DOWNGRD"u8;

    private readonly HandshakeSecret _secret;
    private readonly NodeId _local;
    private readonly ulong _incarnation;
    private readonly byte[] _nonce;
    private readonly bool _isDialer;
    private readonly ProtocolOffer _offer;
    private readonly bool _fallback;
    private readonly ArrayBufferWriter<byte> _transcript = new(512);
    private NodeId? _expectedPeer;
    private int _step;

    private Handshake(HandshakeSecret secret, NodeId local, ulong incarnation, ReadOnlySpan<byte> nonce, bool isDialer, NodeId? expectedPeer,
        ProtocolOffer offer, bool fallback)
    {
        if (nonce.Length != NonceLength)
        {
            throw new ArgumentException($"A nonce is {NonceLength} bytes, not {nonce.Length}.", nameof(nonce));
        }
        if (offer.Min < 1 || offer.Min > offer.Max || offer.Max > ProtocolOffer.Newest)
        {
            throw new ArgumentException($"Versions {offer.Min}–{offer.Max} are not a range within 1–{ProtocolOffer.Newest}.", nameof(offer));
        }
        _secret = secret;
        _local = local;
        _incarnation = incarnation;
        _nonce = nonce.ToArray();
        _isDialer = isDialer;
        _expectedPeer = expectedPeer;
        _offer = offer;
        _fallback = fallback && offer.Max > 1;
        if (_fallback)
        {
            DowngradeSentinel.CopyTo(_nonce.AsSpan(NonceLength - 8));
            _nonce[^1] = offer.Max;
        }
    }

    /// <summary>The peer's id, known once its HELLO or CHALLENGE was read.</summary>
    public NodeId? PeerId { get; private set; }

    /// <summary>The peer's incarnation, known once its HELLO or CHALLENGE was read.</summary>
    public ulong PeerIncarnation { get; private set; }

    /// <summary>The session keys, once the handshake succeeded.</summary>
    public SessionKeys? Keys { get; private set; }

    /// <summary>The version and capabilities of the connection, known once the CHALLENGE was made or read.</summary>
    public Negotiated Negotiated { get; private set; }

    /// <summary>
    /// Starts the dialer's side; <paramref name="nonce"/> is fresh randomness except in the vector tests.
    /// <paramref name="offer"/> defaults to <see cref="ProtocolOffer.Current"/>; <paramref name="fallback"/> sends a
    /// version-1 HELLO marked as a fallback, after a version-1 node refused the newer one (protocol.md §4.6).
    /// </summary>
    public static Handshake Dial(HandshakeSecret secret, NodeId local, ulong incarnation, NodeId target, ReadOnlySpan<byte> nonce,
        ProtocolOffer? offer = null, bool fallback = false) =>
        new(secret, local, incarnation, nonce, isDialer: true, target, offer ?? ProtocolOffer.Current, fallback);

    /// <summary>Starts the acceptor's side; <paramref name="offer"/> defaults to <see cref="ProtocolOffer.Current"/>.</summary>
    public static Handshake Accept(HandshakeSecret secret, NodeId local, ulong incarnation, ReadOnlySpan<byte> nonce, ProtocolOffer? offer = null) =>
        new(secret, local, incarnation, nonce, isDialer: false, null, offer ?? ProtocolOffer.Current, fallback: false);

    /// <summary>Draws a node's incarnation: start time in Unix milliseconds (high 48 bits) and 16 random bits.</summary>
    public static ulong NewIncarnation(TimeProvider time) =>
        ((ulong)time.GetUtcNow().ToUnixTimeMilliseconds() << 16) | (ushort)RandomNumberGenerator.GetInt32(0x10000);

    /// <summary>
    /// Finds one whole handshake message at the start of <paramref name="buffer"/>. A length above
    /// <see cref="MaxMessageLength"/> or below 1 is <see cref="OperationStatus.InvalidData"/>, decided from the two length
    /// bytes alone.
    /// </summary>
    public static OperationStatus TryReadMessage(ReadOnlySpan<byte> buffer, out int consumed)
    {
        consumed = 0;
        if (buffer.Length < 2)
        {
            return OperationStatus.NeedMoreData;
        }
        var length = BinaryPrimitives.ReadUInt16LittleEndian(buffer);
        if (length is < 1 or > MaxMessageLength)
        {
            return OperationStatus.InvalidData;
        }
        if (buffer.Length < 2 + length)
        {
            return OperationStatus.NeedMoreData;
        }
        consumed = 2 + length;
        return OperationStatus.Done;
    }

    /// <summary>The dialer's first message.</summary>
    public byte[] CreateHello()
    {
        Expect(_isDialer && _step == 0, "HELLO");
        _step = 1;
        // A version-1 HELLO is the whole of what a version-1 node reads; a later one appends the range and capabilities.
        var version = _fallback ? (byte)1 : _offer.Max;
        var message = Build(0x01, body =>
        {
            body.Write(Magic);
            body.WriteByte(version);
            body.WriteByte(0);
            body.Write(_nonce);
            WriteUInt64(body, _incarnation);
            WriteStr8(body, _local.ToString());
            WriteStr8(body, _expectedPeer!.ToString());
            if (version > 1)
            {
                body.WriteByte(_offer.Min);
                WriteCapabilities(body, _offer.Capabilities);
            }
        });
        _transcript.Write(message);
        return message;
    }

    /// <summary>The acceptor reads a HELLO and answers with a CHALLENGE.</summary>
    /// <exception cref="HandshakeException">The HELLO is malformed, of another version, or meant for another node; send
    /// <see cref="CreateReject"/> with its failure, then close.</exception>
    public byte[] OnHello(ReadOnlySpan<byte> message)
    {
        Expect(!_isDialer && _step == 0, "HELLO");
        var reader = Open(message, 0x01);
        if (!reader.TryRead(4, out var magic) || !magic.SequenceEqual(Magic))
        {
            Fail(HandshakeFailure.Malformed, "the first message is not a Noex.Lite HELLO (no \"NOEX\" magic)");
        }
        var version = ReadVersionAndFlags(ref reader);
        if (version > 1 && _offer.Max == 1)
        {
            // An offer of version 1 alone stands for a build from before negotiation, which reads no later HELLO.
            Fail(HandshakeFailure.Version, $"the HELLO is of version {version}; this node speaks version 1 only");
        }
        var nonce = reader.Read(NonceLength); // the peer's nonce reaches the keys through the transcript
        var incarnation = reader.ReadUInt64();
        var from = reader.ReadNodeId("from");
        var to = reader.ReadNodeId("to");
        byte min = 1;
        var offered = Capabilities.None;
        if (version == 1)
        {
            reader.End();
            if (nonce[^8..^1].SequenceEqual(DowngradeSentinel) && nonce[^1] > 1 && _offer.Max > 1)
            {
                Fail(HandshakeFailure.Version, $"{from} fell back to version 1 though both speak a later version: the REJECT that made it fall back was not this node's (a downgrade)");
            }
        }
        else
        {
            min = reader.ReadByte();
            if (min < 1 || min > version)
            {
                Fail(HandshakeFailure.Malformed, $"the HELLO offers versions {min}–{version}, which is not a range");
            }
            offered = reader.ReadCapabilities();
            // What follows belongs to later versions' HELLO: it is in the transcript, and this version ignores it.
        }
        var chosen = Math.Min(version, _offer.Max);
        if (chosen < Math.Max(min, _offer.Min))
        {
            Fail(HandshakeFailure.Version, $"no common protocol version: {from} speaks {min}–{version}, this node {_offer.Min}–{_offer.Max}");
        }
        if (to != _local)
        {
            Fail(HandshakeFailure.WrongNode, $"{from} dialled {to}, but this node is {_local}");
        }
        if (from == _local)
        {
            // This node never dials itself: a HELLO from its own id is a copy of it or an impostor.
            Fail(HandshakeFailure.WrongNode, $"a HELLO from this node's own id {from}");
        }
        PeerId = from;
        PeerIncarnation = incarnation;
        Negotiated = new(chosen, chosen > 1 ? offered & _offer.Capabilities : Capabilities.None);
        _transcript.Write(message);
        _step = 1;
        var challenge = Build(0x02, body =>
        {
            body.WriteByte(chosen);
            body.WriteByte(0);
            body.Write(_nonce);
            WriteUInt64(body, _incarnation);
            WriteStr8(body, _local.ToString());
            if (chosen > 1)
            {
                WriteCapabilities(body, _offer.Capabilities);
            }
        });
        _transcript.Write(challenge);
        return challenge;
    }

    /// <summary>The dialer reads the CHALLENGE and answers with its PROOF.</summary>
    /// <exception cref="HandshakeException">The CHALLENGE is malformed, of another version, from another node than the one
    /// dialled, or a REJECT.</exception>
    public byte[] OnChallenge(ReadOnlySpan<byte> message)
    {
        Expect(_isDialer && _step == 1, "CHALLENGE");
        var reader = Open(message, 0x02);
        var version = ReadVersionAndFlags(ref reader);
        var sent = _fallback ? 1 : _offer.Max;
        if (version < _offer.Min || version > sent)
        {
            Fail(HandshakeFailure.Version, $"the CHALLENGE chose version {version}, outside the {_offer.Min}–{sent} this node offered");
        }
        reader.Read(NonceLength);
        var incarnation = reader.ReadUInt64();
        var from = reader.ReadNodeId("from");
        var offered = version > 1 ? reader.ReadCapabilities() : Capabilities.None;
        reader.End();
        if (from != _expectedPeer)
        {
            Fail(HandshakeFailure.WrongNode, $"dialled {_expectedPeer}, but {from} answered");
        }
        PeerId = from;
        PeerIncarnation = incarnation;
        Negotiated = new(version, offered & _offer.Capabilities);
        _transcript.Write(message);
        _step = 2;
        var proof = Build(0x03, body => body.Write(Tag("noex-lite/v1 dialer"u8, [], SHA256.HashData(_transcript.WrittenSpan))));
        _transcript.Write(proof);
        return proof;
    }

    /// <summary>
    /// The acceptor reads the PROOF. When it verifies, the caller decides whether to keep the connection and calls
    /// <see cref="CreateWelcome(WelcomeStatus)"/>.
    /// </summary>
    /// <exception cref="HandshakeException">The PROOF does not verify (<see cref="HandshakeFailure.AuthFailed"/>) or is
    /// malformed.</exception>
    public void OnProof(ReadOnlySpan<byte> message)
    {
        Expect(!_isDialer && _step == 1, "PROOF");
        var reader = Open(message, 0x03);
        var tag = reader.Read(TagLength);
        reader.End();
        var t1 = SHA256.HashData(_transcript.WrittenSpan);
        if (!CryptographicOperations.FixedTimeEquals(tag, Tag("noex-lite/v1 dialer"u8, [], t1)))
        {
            Fail(HandshakeFailure.AuthFailed, $"{PeerId} did not prove it knows the cluster secret");
        }
        _transcript.Write(message);
        _step = 2;
    }

    /// <summary>The acceptor's last message: accepted (and the keys are set) or duplicate (close after sending).</summary>
    public byte[] CreateWelcome(bool duplicate) => CreateWelcome(duplicate ? WelcomeStatus.Duplicate : WelcomeStatus.Accepted);

    /// <summary>The acceptor's last message with its status; only <see cref="WelcomeStatus.Accepted"/> sets the keys.</summary>
    public byte[] CreateWelcome(WelcomeStatus welcomeStatus)
    {
        Expect(!_isDialer && _step == 2, "WELCOME");
        _step = 3;
        var duplicate = welcomeStatus != WelcomeStatus.Accepted;
        var status = (byte)welcomeStatus;
        var t2 = SHA256.HashData(_transcript.WrittenSpan);
        var welcome = Build(0x04, body =>
        {
            body.WriteByte(status);
            body.Write(Tag("noex-lite/v1 acceptor"u8, [status], t2));
        });
        if (!duplicate)
        {
            Keys = DeriveKeys(t2);
        }
        return welcome;
    }

    /// <summary>The dialer reads the WELCOME; on success the keys are set.</summary>
    /// <exception cref="HandshakeException">The tag does not verify, the acceptor keeps another connection
    /// (<see cref="HandshakeFailure.Duplicate"/>), the message is malformed, or it is a REJECT.</exception>
    public void OnWelcome(ReadOnlySpan<byte> message)
    {
        Expect(_isDialer && _step == 2, "WELCOME");
        var reader = Open(message, 0x04);
        var status = reader.ReadByte();
        var tag = reader.Read(TagLength);
        reader.End();
        var t2 = SHA256.HashData(_transcript.WrittenSpan);
        if (!CryptographicOperations.FixedTimeEquals(tag, Tag("noex-lite/v1 acceptor"u8, [status], t2)))
        {
            Fail(HandshakeFailure.AuthFailed, $"{PeerId} did not prove it knows the cluster secret");
        }
        _step = 3;
        switch (status)
        {
            case 0:
                Keys = DeriveKeys(t2);
                break;
            case (byte)WelcomeStatus.Duplicate:
                Fail(HandshakeFailure.Duplicate, $"{PeerId} keeps the other connection between the two nodes");
                break;
            case (byte)WelcomeStatus.Superseded:
                Fail(HandshakeFailure.Superseded, $"{PeerId} is connected to a newer incarnation of this node's id: another process claims it (or this one restarted while an older one still runs)");
                break;
            default:
                Fail(HandshakeFailure.Malformed, $"WELCOME status {status} is not defined");
                break;
        }
    }

    /// <summary>A REJECT message with the given reason (only the reasons of protocol.md §4.3 travel).</summary>
    public static byte[] CreateReject(HandshakeFailure failure) =>
        Build(0x05, body => body.WriteByte(failure is >= HandshakeFailure.Version and <= HandshakeFailure.Malformed ? (byte)failure : (byte)HandshakeFailure.Malformed));

    private SessionKeys DeriveKeys(byte[] t2)
    {
        var dialerToAcceptor = HKDF.Expand(HashAlgorithmName.SHA256, _secret.Prk, 32, [.. "noex-lite/v1 data D>A"u8, .. t2]);
        var acceptorToDialer = HKDF.Expand(HashAlgorithmName.SHA256, _secret.Prk, 32, [.. "noex-lite/v1 data A>D"u8, .. t2]);
        return _isDialer ? new(dialerToAcceptor, acceptorToDialer) : new(acceptorToDialer, dialerToAcceptor);
    }

    private byte[] Tag(ReadOnlySpan<byte> label, ReadOnlySpan<byte> status, ReadOnlySpan<byte> transcriptHash)
    {
        var input = new byte[label.Length + status.Length + transcriptHash.Length];
        label.CopyTo(input);
        status.CopyTo(input.AsSpan(label.Length));
        transcriptHash.CopyTo(input.AsSpan(label.Length + status.Length));
        return HMACSHA256.HashData(_secret.AuthKey, input);
    }

    private MessageReader Open(ReadOnlySpan<byte> message, byte expectedType)
    {
        // The caller found the message with TryReadMessage, so the length field is consistent with the span.
        if (message.Length < 3 || BinaryPrimitives.ReadUInt16LittleEndian(message) != message.Length - 2)
        {
            Fail(HandshakeFailure.Malformed, "a handshake message's length does not match its bytes");
        }
        var type = message[2];
        if (type == 0x05)
        {
            var reason = message.Length == 4 ? (HandshakeFailure)message[3] : HandshakeFailure.Malformed;
            throw new HandshakeException(reason, byPeer: true, $"{PeerId?.ToString() ?? _expectedPeer?.ToString() ?? "the peer"} rejected the handshake: {reason}");
        }
        if (type != expectedType)
        {
            Fail(HandshakeFailure.Malformed, $"expected handshake message type {expectedType}, got {type}");
        }
        return new MessageReader(message[3..]);
    }

    private static byte ReadVersionAndFlags(ref MessageReader reader)
    {
        var version = reader.ReadByte();
        if (version == 0)
        {
            Fail(HandshakeFailure.Version, "the peer names protocol version 0, which does not exist");
        }
        var flags = reader.ReadByte();
        if (flags != 0)
        {
            // Versions add capabilities, never flags, so a flag is malformed in every version.
            Fail(HandshakeFailure.Malformed, $"handshake flags 0x{flags:x2} are not defined");
        }
        return version;
    }

    /// <summary>Writes a capability set: a u8 count of bytes, then the bitmap without trailing zero bytes.</summary>
    private static void WriteCapabilities(MemoryStream stream, Capabilities capabilities)
    {
        Span<byte> bitmap = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bitmap, (ulong)capabilities);
        var length = 8;
        while (length > 0 && bitmap[length - 1] == 0)
        {
            length--;
        }
        stream.WriteByte((byte)length);
        stream.Write(bitmap[..length]);
    }

    private void Expect(bool valid, string what)
    {
        if (!valid)
        {
            throw new InvalidOperationException($"The {(_isDialer ? "dialer" : "acceptor")} cannot handle {what} at step {_step}.");
        }
    }

    private static byte[] Build(byte type, Action<MemoryStream> writeBody)
    {
        var stream = new MemoryStream(128);
        stream.Write([0, 0, type]);
        writeBody(stream);
        var bytes = stream.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(bytes, (ushort)(bytes.Length - 2));
        return bytes;
    }

    private static void WriteUInt64(MemoryStream stream, ulong value)
    {
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, value);
        stream.Write(bytes);
    }

    private static void WriteStr8(MemoryStream stream, string text)
    {
        var bytes = new ArrayBufferWriter<byte>();
        var writer = new WireWriter(bytes);
        writer.WriteStr8(text);
        writer.Commit();
        // A node id longer than a str8 holds (NodeId allows up to 324 characters) fails this dial or accept here, as it
        // always has, rather than go out with a length byte that wrapped.
        _ = checked((byte)(bytes.WrittenCount - 1));
        stream.Write(bytes.WrittenSpan);
    }

    [DoesNotReturn]
    private static void Fail(HandshakeFailure failure, string message) =>
        throw new HandshakeException(failure, byPeer: false, $"Handshake failed ({failure}): {message}");

    /// <summary>Reads a handshake body; every shortfall is <see cref="HandshakeFailure.Malformed"/>.</summary>
    private ref struct MessageReader
    {
        private ReadOnlySpan<byte> _rest;

        public MessageReader(ReadOnlySpan<byte> body) => _rest = body;

        public bool TryRead(int count, out ReadOnlySpan<byte> bytes)
        {
            if (_rest.Length < count)
            {
                bytes = default;
                return false;
            }
            bytes = _rest[..count];
            _rest = _rest[count..];
            return true;
        }

        public ReadOnlySpan<byte> Read(int count)
        {
            if (!TryRead(count, out var bytes))
            {
                Fail(HandshakeFailure.Malformed, "a handshake message ends early");
            }
            return bytes;
        }

        public byte ReadByte() => Read(1)[0];

        public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Read(8));

        /// <summary>A capability set: capabilities past the 64 this build could know are ignored (§4.6).</summary>
        public Capabilities ReadCapabilities()
        {
            var length = ReadByte();
            if (length > MaxCapabilityBytes)
            {
                Fail(HandshakeFailure.Malformed, $"a capability set of {length} bytes is longer than {MaxCapabilityBytes}");
            }
            var bitmap = Read(length);
            Span<byte> known = stackalloc byte[8];
            known.Clear();
            bitmap[..Math.Min(8, bitmap.Length)].CopyTo(known);
            return (Capabilities)BinaryPrimitives.ReadUInt64LittleEndian(known);
        }

        public NodeId ReadNodeId(string field)
        {
            var str8 = new WireReader(_rest);
            if (!str8.TryReadStr8(out var decoded))
            {
                Fail(HandshakeFailure.Malformed, $"'{field}' is not a str8 of UTF-8 (it ends early or is ill-formed)");
            }
            _rest = str8.Rest;
            if (!NodeId.TryParse(decoded, out var id))
            {
                Fail(HandshakeFailure.Malformed, $"'{field}' is not a node id: '{decoded}'");
            }
            return id;
        }

        public readonly void End()
        {
            if (!_rest.IsEmpty)
            {
                Fail(HandshakeFailure.Malformed, $"{_rest.Length} bytes follow the end of a handshake message");
            }
        }
    }
}
