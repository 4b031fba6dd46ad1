using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Noex.Lite;

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
