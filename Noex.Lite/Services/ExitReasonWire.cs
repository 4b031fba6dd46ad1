using System.Diagnostics.CodeAnalysis;

namespace Noex.Lite;

/// <summary>
/// An exit reason on the wire (protocol.md §5.5): a kind byte, and for <c>error</c> a value
/// <c>{"message": text, "errorType": text or null}</c>. It is always the last field of its message, so the value runs
/// to the end of the message. The same error value is the detail of a failed call (§5.2) and of a failed spawn (§5.3).
/// </summary>
/// <remarks>
/// Readers accept exactly the shape <see cref="ErrorDetail"/> writes: both keys, in that order, and no other. A value
/// has one encoding (§2.1), so a reason then has one encoding too, and a peer that writes another shape finds out at once
/// (its message is malformed) instead of having its extra keys silently dropped.
/// </remarks>
internal static class ExitReasonWire
{
    /// <summary>Writes <paramref name="reason"/>.</summary>
    public static void Write(ref WireWriter writer, ExitReason reason)
    {
        writer.WriteByte((byte)reason.Kind);
        if (reason.Kind == ExitReasonKind.Error)
        {
            writer.WriteValue(ErrorDetail(reason.Message ?? "", reason.ErrorType));
        }
    }

    /// <summary>An error's value: <c>{"message": text, "errorType": text or null}</c>, in that order.</summary>
    public static Value ErrorDetail(string message, string? errorType) =>
        Value.Object(("message", message), ("errorType", errorType));

    /// <summary>Reads an error's value written by <see cref="ErrorDetail"/>; false for any other value: another key order, a
    /// missing or extra key, a message that is not text, or an error type that is neither text nor null.</summary>
    public static bool TryReadErrorDetail(Value detail, [NotNullWhen(true)] out string? message, out string? errorType)
    {
        if (!detail.HasExactKeys("message", "errorType"))
        {
            message = errorType = null;
            return false;
        }
        var fields = detail.AsObject();
        return TryReadErrorFields(fields[0].Value, fields[1].Value, out message, out errorType);
    }

    /// <summary>Reads the two fields of an error's value, wherever their object puts them: a text, and a text or null.</summary>
    public static bool TryReadErrorFields(Value message, Value errorType, [NotNullWhen(true)] out string? text, out string? type)
    {
        type = null;
        return message.TryGetString(out text) && (errorType.IsNull || errorType.TryGetString(out type));
    }

    /// <summary>Reads a reason that fills <paramref name="source"/> exactly; false when it is malformed.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ExitReason reason)
    {
        var reader = new WireReader(source);
        return TryRead(ref reader, out reason);
    }

    /// <summary>Reads a reason that fills the rest of <paramref name="reader"/>'s message; false when it is malformed: another
    /// kind, a missing or extra byte, or an error value of another shape (<see cref="TryReadErrorDetail"/>).</summary>
    public static bool TryRead(ref WireReader reader, out ExitReason reason)
    {
        reason = default;
        if (!reader.TryReadByte(out var kind))
        {
            return false;
        }
        switch ((ExitReasonKind)kind)
        {
            case ExitReasonKind.Normal or ExitReasonKind.Shutdown or ExitReasonKind.Killed or ExitReasonKind.NoProc or ExitReasonKind.NoConnection
                when reader.End:
                reason = (ExitReasonKind)kind switch
                {
                    ExitReasonKind.Shutdown => ExitReason.Shutdown,
                    ExitReasonKind.Killed => ExitReason.Killed,
                    ExitReasonKind.NoProc => ExitReason.NoProc,
                    ExitReasonKind.NoConnection => ExitReason.NoConnection,
                    _ => ExitReason.Normal,
                };
                return true;
            case ExitReasonKind.Error when reader.TryReadValue(out var detail) && TryReadErrorDetail(detail, out var message, out var errorType):
                reason = ExitReason.Error(message, errorType);
                return true;
            default:
                return false;
        }
    }
}
