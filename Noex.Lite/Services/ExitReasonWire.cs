namespace Noex.Lite;

/// <summary>
/// An exit reason on the wire (protocol.md §5.5): a kind byte, and for <c>error</c> a value
/// <c>{"message": text, "errorType": text or null}</c>. It is always the last field of its message, so the value runs
/// to the end of the message.
/// </summary>
internal static class ExitReasonWire
{
    /// <summary>Writes <paramref name="reason"/>.</summary>
    public static void Write(ref WireWriter writer, ExitReason reason)
    {
        writer.WriteByte((byte)reason.Kind);
        if (reason.Kind == ExitReasonKind.Error)
        {
            writer.WriteValue(Value.Object(("message", reason.Message ?? ""), ("errorType", reason.ErrorType)));
        }
    }

    /// <summary>Reads a reason that fills <paramref name="source"/> exactly; false when it is malformed.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ExitReason reason)
    {
        var reader = new WireReader(source);
        return TryRead(ref reader, out reason);
    }

    /// <summary>Reads a reason that fills the rest of <paramref name="reader"/>'s message; false when it is malformed: another
    /// kind, a missing or extra byte, or an error value of another shape.</summary>
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
            case ExitReasonKind.Error when reader.TryReadValue(out var detail):
                if (!detail.TryGetProperty("message", out var message) || !message.TryGetString(out var text))
                {
                    return false;
                }
                string? errorType = null;
                if (detail.TryGetProperty("errorType", out var type) && !type.IsNull && !type.TryGetString(out errorType))
                {
                    return false;
                }
                reason = ExitReason.Error(text, errorType);
                return true;
            default:
                return false;
        }
    }
}
