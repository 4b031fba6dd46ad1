namespace Noex.Lite;

/// <summary>Why a frame was refused (protocol.md §3, "Errors"). Every frame error closes the connection.</summary>
internal enum FrameError
{
    /// <summary>The length prefix is below the smallest possible frame.</summary>
    TooShort = 1,
    /// <summary>The length prefix is above the configured maximum; nothing was allocated for it.</summary>
    TooLarge,
    /// <summary>The tag does not match: a corrupted, forged or reflected frame, or a wrong key.</summary>
    BadTag,
    /// <summary>The version byte is not one this node speaks.</summary>
    UnsupportedVersion,
    /// <summary>The kind byte is not defined.</summary>
    UnknownKind,
    /// <summary>A flag bit is set that this version does not define.</summary>
    UnknownFlags,
    /// <summary>The sequence number is not the next expected one: a replayed, reordered or dropped frame.</summary>
    SequenceMismatch,
    /// <summary>The payload's message lengths do not exactly fill it.</summary>
    MalformedPayload,
}

/// <summary>A peer sent a frame that breaks protocol.md; the connection it came on must be closed.</summary>
internal sealed class FrameException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="error">Why the frame was refused.</param>
    /// <param name="message">A description naming the offending field and values.</param>
    public FrameException(FrameError error, string message)
        : base(message)
    {
        Error = error;
    }

    /// <summary>Why the frame was refused.</summary>
    public FrameError Error { get; }
}
