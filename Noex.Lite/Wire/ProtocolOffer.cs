namespace Noex.Lite;

/// <summary>
/// The optional features of the protocol a connection may use (protocol.md §4.6). Each is a bit of the handshake's
/// capability set; a connection uses the ones both sides offered, and a peer's bits this build does not know are
/// ignored, so that a newer peer can offer more.
/// </summary>
[Flags]
internal enum Capabilities : ulong
{
    /// <summary>Nothing beyond protocol version 1.</summary>
    None = 0,

    /// <summary>Bit 0, <c>trace_context</c>: calls and casts may carry the caller's W3C trace context (traced_call
    /// <c>0x11</c>, traced_cast <c>0x15</c>, protocol.md §5.2).</summary>
    TraceContext = 1UL << 0,

    /// <summary>Bit 1, <c>link_ack</c>: every link is answered by a link_ack (<c>0x2F</c>, protocol.md §5.5), which
    /// <see cref="ProcessRuntime.LinkAsync"/> waits for.</summary>
    LinkAck = 1UL << 1,

    /// <summary>Bit 2, <c>reach</c>: a node may ask whether the receiver is connected to a third node (reach_request
    /// <c>0x32</c>, reach_reply <c>0x33</c>, protocol.md §5.6), which distributed supervision asks before it concludes
    /// that a node it cannot reach is gone.</summary>
    Reach = 1UL << 2,
}

/// <summary>The protocol versions and capabilities one side of a handshake offers (protocol.md §4.2, §4.6).</summary>
/// <param name="Min">The lowest version it accepts.</param>
/// <param name="Max">The highest version it speaks.</param>
/// <param name="Capabilities">The capabilities it offers (only with version 2 and later).</param>
internal readonly record struct ProtocolOffer(byte Min, byte Max, Capabilities Capabilities)
{
    /// <summary>The highest protocol version this build speaks.</summary>
    public const byte Newest = 2;

    /// <summary>Every capability this build implements.</summary>
    public const Capabilities Implemented = Capabilities.TraceContext | Capabilities.LinkAck | Capabilities.Reach;

    /// <summary>What this build offers: versions 1 and 2, every capability it implements.</summary>
    public static ProtocolOffer Current => new(1, Newest, Implemented);

    /// <summary>What a version-1-only build (the protocol before negotiation) offers: kept as a mode for the mixed-version
    /// tests.</summary>
    public static ProtocolOffer Version1 => new(1, 1, Capabilities.None);
}

/// <summary>What a handshake settled for its connection: the version both sides speak and the capabilities both
/// offered.</summary>
/// <param name="Version">The protocol version.</param>
/// <param name="Capabilities">The capabilities in use.</param>
internal readonly record struct Negotiated(byte Version, Capabilities Capabilities);
