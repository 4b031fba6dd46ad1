using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Noex.Lite;

/// <summary>The base of every exception that Noex.Lite throws on purpose.</summary>
/// <remarks>
/// Catch <see cref="NoexException"/> to handle any library failure; catch a subclass to act on one kind.
/// Messages name what failed, where (byte offsets for wire errors) and, where one exists, the option to change.
/// </remarks>
public class NoexException : Exception
{
    /// <summary>Creates an exception with a message.</summary>
    /// <param name="message">What failed and why.</param>
    public NoexException(string message)
        : base(message)
    {
    }

    /// <summary>Creates an exception with a message and the exception that caused it.</summary>
    /// <param name="message">What failed and why.</param>
    /// <param name="innerException">The underlying failure.</param>
    public NoexException(string message, Exception? innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>What is wrong with a binary or JSON value (protocol.md §2, "Errors").</summary>
public enum ValueCodecError
{
    /// <summary>The input ended inside a value.</summary>
    Truncated = 1,
    /// <summary>A tag byte that protocol.md does not define.</summary>
    UnknownTag,
    /// <summary>A string or key is not well-formed UTF-8.</summary>
    InvalidUtf8,
    /// <summary>Arrays and objects are nested deeper than the configured maximum.</summary>
    DepthExceeded,
    /// <summary>A declared length or count cannot fit in the bytes that remain, or exceeds a configured limit.</summary>
    LengthExceedsInput,
    /// <summary>A valid but non-canonical encoding (an overlong varint, a long form where the short form is required).</summary>
    NonCanonical,
    /// <summary>Bytes remain after the top-level value.</summary>
    TrailingBytes,
    /// <summary>An object repeats a key.</summary>
    DuplicateKey,
    /// <summary>A NaN or an infinity, which JSON cannot carry.</summary>
    NonFiniteNumber,
    /// <summary>An integer outside the signed 64-bit range.</summary>
    IntegerOverflow,
    /// <summary>JSON text that is not well-formed.</summary>
    InvalidJson,
    /// <summary>A read asked for one kind of value and found another.</summary>
    UnexpectedKind,
}

/// <summary>A value could not be encoded or decoded; nothing was returned in its place.</summary>
public sealed class ValueCodecException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="error">What is wrong.</param>
    /// <param name="offset">The byte offset in the input where it was found, or -1 when not reading bytes.</param>
    /// <param name="message">A description naming what and where.</param>
    public ValueCodecException(ValueCodecError error, long offset, string message)
        : base(message)
    {
        Error = error;
        Offset = offset;
    }

    /// <summary>What is wrong.</summary>
    public ValueCodecError Error { get; }

    /// <summary>The byte offset in the input where the problem was found, or -1 when not reading bytes.</summary>
    public long Offset { get; }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static void Throw(ValueCodecError error, long offset, string detail) =>
        throw new ValueCodecException(error, offset, offset >= 0 ? $"{error} at byte {offset}: {detail}" : $"{error}: {detail}");
}

/// <summary>Why a frame was refused (protocol.md §3, "Errors"). Every frame error closes the connection.</summary>
public enum FrameError
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
public sealed class FrameException : NoexException
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
