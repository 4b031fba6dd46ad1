using System.Buffers;

namespace Noex.Lite;

/// <summary>
/// An exit reason on the wire (protocol.md §5.5): a kind byte, and for <c>error</c> a value
/// <c>{"message": text, "errorType": text or null}</c>. It is always the last field of its message, so the value runs
/// to the end of the message.
/// </summary>
internal static class ExitReasonWire
{
    /// <summary>Writes <paramref name="reason"/>.</summary>
    public static void Write(IBufferWriter<byte> writer, ExitReason reason)
    {
        var span = writer.GetSpan(1);
        span[0] = (byte)reason.Kind;
        writer.Advance(1);
        if (reason.Kind == ExitReasonKind.Error)
        {
            ValueCodec.Encode(Value.Object(("message", reason.Message ?? ""), ("errorType", reason.ErrorType)), writer);
        }
    }

    /// <summary>Reads a reason that fills <paramref name="source"/> exactly; false when it is malformed.</summary>
    public static bool TryRead(ReadOnlySpan<byte> source, out ExitReason reason)
    {
        reason = default;
        if (source.IsEmpty)
        {
            return false;
        }
        var kind = (ExitReasonKind)source[0];
        switch (kind)
        {
            case ExitReasonKind.Normal:
            case ExitReasonKind.Shutdown:
            case ExitReasonKind.Killed:
            case ExitReasonKind.NoProc:
            case ExitReasonKind.NoConnection:
                if (source.Length != 1)
                {
                    return false;
                }
                reason = kind switch
                {
                    ExitReasonKind.Shutdown => ExitReason.Shutdown,
                    ExitReasonKind.Killed => ExitReason.Killed,
                    ExitReasonKind.NoProc => ExitReason.NoProc,
                    ExitReasonKind.NoConnection => ExitReason.NoConnection,
                    _ => ExitReason.Normal,
                };
                return true;
            case ExitReasonKind.Error:
                if (!ValueCodec.TryDecode(source[1..], out var detail, out _, out _)
                    || !detail.TryGetProperty("message", out var message) || !message.TryGetString(out var text))
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
