using System.Globalization;

namespace Noex.Lite;

/// <summary>
/// A message does not fit in a frame (protocol.md §6): nothing of it was sent, and the connection goes on. For a call,
/// cast or reply it says how large the value is, what its message's envelope adds, the limit, and how much to cut.
/// </summary>
public sealed class MessageTooLargeException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="messageLength">How large the message was found to be (at least this when written in parts).</param>
    /// <param name="maxMessageLength">The largest message a frame carries.</param>
    /// <param name="maxFrameLength">The frame limit it follows from (<see cref="NodeOptions.MaxFrameLength"/>).</param>
    /// <param name="valueLength">The encoded length of the message's value, when the message carries one.</param>
    /// <param name="envelopeLength">The bytes the message adds before its value (type and fixed fields).</param>
    public MessageTooLargeException(long messageLength, int maxMessageLength, int maxFrameLength, long? valueLength = null, int? envelopeLength = null)
        : base(Describe(messageLength, maxMessageLength, maxFrameLength, valueLength, envelopeLength))
    {
        MessageLength = messageLength;
        MaxMessageLength = maxMessageLength;
        MaxFrameLength = maxFrameLength;
        ValueLength = valueLength;
        EnvelopeLength = envelopeLength;
    }

    /// <summary>How large the message is: its envelope and its value.</summary>
    public long MessageLength { get; }

    /// <summary>The largest message a frame carries: <see cref="MaxFrameLength"/> less the framing's own bytes.</summary>
    public int MaxMessageLength { get; }

    /// <summary>The frame limit (<see cref="NodeOptions.MaxFrameLength"/>).</summary>
    public int MaxFrameLength { get; }

    /// <summary>The encoded length of the value the message carries, when it carries one.</summary>
    public long? ValueLength { get; }

    /// <summary>What the message adds before its value: its type byte and fixed fields (a call's id, target and timeout).</summary>
    public int? EnvelopeLength { get; }

    /// <summary>How many bytes must go from the value (or the message) for it to fit.</summary>
    public long Excess => MessageLength - MaxMessageLength;

    /// <summary>The same failure, seen by the code that was writing the message's value.</summary>
    internal MessageTooLargeException WithValue(long valueLength, int envelopeLength) =>
        new(envelopeLength + valueLength, MaxMessageLength, MaxFrameLength, valueLength, envelopeLength);

    private static string Describe(long message, int max, int frame, long? value, int? envelope)
    {
        var c = CultureInfo.InvariantCulture;
        var limit = string.Format(c, "a message may be at most {0:N0} bytes (the maximum frame length, {1:N0}, less {2} bytes of framing; " +
            "NodeOptions.MaxFrameLength sets it on both nodes)", max, frame, frame - max);
        return value is { } v && envelope is { } e
            ? string.Format(c, "The value is {0:N0} bytes encoded, and its message's envelope (type and fixed fields) adds {1}: {2}. " +
                "Cut the value by at least {3:N0} bytes, or send it in parts.", v, e, limit, message - max)
            : string.Format(c, "A message of {0:N0} bytes does not fit in a frame: {1}. Cut at least {2:N0} bytes.", message, limit, message - max);
    }
}
