using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>
/// What ended a connection, as a short token that code, logs and metrics can all match on: <c>kind</c>, or
/// <c>kind:detail</c> where the kind has several (which frame error, which message type, which socket error). The same
/// token is a node-down's and a connection-closed event's <c>Cause</c>, the log's <c>cause</c> field, and, split at the
/// colon, the <c>kind</c> and <c>error</c> tags of <c>noex.protocol.refused</c>. README.md, "Observability", lists them.
/// </summary>
/// <remarks>
/// Tokens are built only when a connection ends (rare), and their details come from closed sets (enum names, a message
/// type byte), so a metric tagged with them has bounded cardinality.
/// </remarks>
internal static class ConnectionCause
{
    /// <summary>The peer closed its end without a goodbye (<see cref="NodeDownReason.ConnectionClosed"/>).</summary>
    public const string EndOfStream = "end_of_stream";

    /// <summary>The peer said goodbye (<see cref="NodeDownReason.GracefulShutdown"/>).</summary>
    public const string Goodbye = "goodbye";

    /// <summary>Nothing arrived for the silence bound (<see cref="NodeDownReason.HeartbeatTimeout"/>).</summary>
    public const string Silence = "silence";

    /// <summary>Bytes kept arriving but a frame did not complete within its deadline (protocol.md §6).</summary>
    public const string FrameDeadline = "frame_deadline";

    /// <summary>A newer incarnation of the peer connected (<see cref="NodeDownReason.Restarted"/>).</summary>
    public const string NewIncarnation = "new_incarnation";

    /// <summary>This node is stopping (<see cref="NodeDownReason.LocalShutdown"/>).</summary>
    public const string Stopping = "stopping";

    /// <summary>The kind of a frame that broke protocol.md §3: <c>frame:BadTag</c>, <c>frame:TooLarge</c>, ...</summary>
    public const string FrameKind = "frame";

    /// <summary>The kind of a fragment that broke protocol.md §5.1: <c>fragment:Stalled</c>, ...</summary>
    public const string FragmentKind = "fragment";

    /// <summary>The kind of a message whose body is malformed: <c>message:0x10</c> (its type).</summary>
    public const string MessageKind = "message";

    /// <summary>The kind of a global name claim whose stamp its registrar could not have made: <c>stamp:register</c>,
    /// <c>stamp:sync</c> (protocol.md §5.4).</summary>
    public const string StampKind = "stamp";

    private static readonly string[] s_types = [.. Enumerable.Range(0, 256).Select(t => $"0x{t:x2}")];

    /// <summary>A message type as the causes and tags spell it, <c>0x10</c>, without allocating.</summary>
    public static string TypeText(byte type) => s_types[type];

    /// <summary>The cause of a malformed message of <paramref name="type"/>.</summary>
    public static string Message(byte type) => $"{MessageKind}:{s_types[type]}";

    /// <summary>The cause when the closer names none: from the exception behind it, else from the reason.</summary>
    public static string Of(NodeDownReason reason, Exception? error) => error switch
    {
        FrameException e => $"{FrameKind}:{e.Error}",
        FragmentException e => $"{FragmentKind}:{e.Error}",
        SocketException e => $"socket:{e.SocketErrorCode}",
        IOException { InnerException: SocketException e } => $"socket:{e.SocketErrorCode}",
        IOException => "io",
        ObjectDisposedException => "disposed",
        // A handler's bug on the read thread: its type says where to look.
        not null => $"exception:{error.GetType().Name}",
        null => reason switch
        {
            NodeDownReason.ConnectionClosed => EndOfStream,
            NodeDownReason.GracefulShutdown => Goodbye,
            NodeDownReason.HeartbeatTimeout => Silence,
            NodeDownReason.Restarted => NewIncarnation,
            NodeDownReason.LocalShutdown => Stopping,
            _ => reason.ToString(),
        },
    };

    /// <summary>A cause's kind and detail (the detail empty when it has none), for the tags of a metric.</summary>
    public static (string Kind, string Detail) Split(string cause)
    {
        var colon = cause.IndexOf(':', StringComparison.Ordinal);
        return colon < 0 ? (cause, "") : (cause[..colon], cause[(colon + 1)..]);
    }
}
