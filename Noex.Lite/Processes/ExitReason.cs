namespace Noex.Lite;

/// <summary>The kinds of reason a process ends with, named as in OTP.</summary>
public enum ExitReasonKind : byte
{
    /// <summary><c>normal</c>: the process finished its work. Links ignore it; transient children are not restarted.</summary>
    Normal = 0,
    /// <summary><c>shutdown</c>: the process was asked to stop, usually by its supervisor.</summary>
    Shutdown,
    /// <summary><c>killed</c>: the process was killed without running its terminate callback.</summary>
    Killed,
    /// <summary><c>noproc</c>: the process did not exist (a monitor or link set on a process already gone).</summary>
    NoProc,
    /// <summary><c>noconnection</c>: the node that hosted the process is unreachable, or was lost.</summary>
    NoConnection,
    /// <summary><c>error</c>: the process failed; <see cref="ExitReason.Message"/> and <see cref="ExitReason.ErrorType"/> say how.</summary>
    Error,
}

/// <summary>Why a process ended: what terminate callbacks, exit signals, down notifications and lifecycle events carry.</summary>
/// <remarks>
/// Equality compares the kind, the message and the error type name, not the exception object, so a
/// reason rebuilt from the wire equals the local one. <see cref="Exception"/> is kept only on the node
/// where the failure happened.
/// </remarks>
public readonly struct ExitReason : IEquatable<ExitReason>
{
    private ExitReason(ExitReasonKind kind, string? message, string? errorType, Exception? exception)
    {
        Kind = kind;
        Message = message;
        ErrorType = errorType;
        Exception = exception;
    }

    /// <summary>The process finished its work.</summary>
    public static ExitReason Normal => default;

    /// <summary>The process was asked to stop.</summary>
    public static ExitReason Shutdown { get; } = new(ExitReasonKind.Shutdown, null, null, null);

    /// <summary>The process was killed.</summary>
    public static ExitReason Killed { get; } = new(ExitReasonKind.Killed, null, null, null);

    /// <summary>The process did not exist.</summary>
    public static ExitReason NoProc { get; } = new(ExitReasonKind.NoProc, null, null, null);

    /// <summary>The process's node is unreachable.</summary>
    public static ExitReason NoConnection { get; } = new(ExitReasonKind.NoConnection, null, null, null);

    /// <summary>Which reason this is.</summary>
    public ExitReasonKind Kind { get; }

    /// <summary>For <see cref="ExitReasonKind.Error"/>: what went wrong; otherwise null.</summary>
    public string? Message { get; }

    /// <summary>For <see cref="ExitReasonKind.Error"/>: the exception's type name (e.g. <c>InvalidOperationException</c>), if any.</summary>
    public string? ErrorType { get; }

    /// <summary>For a local failure: the exception that caused it; null for other kinds and for reasons from the wire.</summary>
    public Exception? Exception { get; }

    /// <summary>
    /// True unless the reason is <c>normal</c>, <c>shutdown</c> or <c>noproc</c>: a transient child is
    /// restarted only after an abnormal exit.
    /// </summary>
    public bool IsAbnormal => Kind is not (ExitReasonKind.Normal or ExitReasonKind.Shutdown or ExitReasonKind.NoProc);

    /// <summary>A failure described by an exception.</summary>
    /// <param name="exception">What was thrown.</param>
    public static ExitReason Error(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return new(ExitReasonKind.Error, exception.Message, exception.GetType().Name, exception);
    }

    /// <summary>A failure described by a message and, optionally, an error type name.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="errorType">The name of the error's type, or null.</param>
    public static ExitReason Error(string message, string? errorType = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        return new(ExitReasonKind.Error, message, errorType, null);
    }

    /// <summary>The reason as a value: <c>{"type":"normal"}</c>, or <c>{"type":"error","message":…,"errorType":…}</c>.</summary>
    public Value ToValue() => Kind == ExitReasonKind.Error
        ? Value.Object(("type", "error"), ("message", Message), ("errorType", ErrorType))
        : Value.Object(("type", KindName(Kind)));

    /// <inheritdoc/>
    public bool Equals(ExitReason other) =>
        Kind == other.Kind && string.Equals(Message, other.Message, StringComparison.Ordinal)
        && string.Equals(ErrorType, other.ErrorType, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is ExitReason other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Kind, Message, ErrorType);

    /// <summary>Its name (<c>normal</c>, <c>shutdown</c>, ...); errors read <c>error(Type: message)</c>.</summary>
    public override string ToString() => Kind == ExitReasonKind.Error
        ? ErrorType is null ? $"error({Message})" : $"error({ErrorType}: {Message})"
        : KindName(Kind);

    /// <summary>Compares two reasons by kind, message and error type.</summary>
    public static bool operator ==(ExitReason left, ExitReason right) => left.Equals(right);

    /// <summary>Compares two reasons by kind, message and error type.</summary>
    public static bool operator !=(ExitReason left, ExitReason right) => !left.Equals(right);

    private static string KindName(ExitReasonKind kind) => kind switch
    {
        ExitReasonKind.Normal => "normal",
        ExitReasonKind.Shutdown => "shutdown",
        ExitReasonKind.Killed => "killed",
        ExitReasonKind.NoProc => "noproc",
        ExitReasonKind.NoConnection => "noconnection",
        _ => "error",
    };
}
