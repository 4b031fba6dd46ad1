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

/// <summary>A call got no reply within its timeout. The server may still process the request; its late reply is dropped.</summary>
public sealed class CallTimeoutException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The process that was called.</param>
    /// <param name="timeout">The timeout that passed.</param>
    public CallTimeoutException(ProcessRef target, TimeSpan timeout)
        : base($"Call to {target} timed out after {(long)timeout.TotalMilliseconds} ms (pass a longer timeout to CallAsync to wait longer).")
    {
        Target = target;
        Timeout = timeout;
    }

    /// <summary>The process that was called.</summary>
    public ProcessRef Target { get; }

    /// <summary>The timeout that passed.</summary>
    public TimeSpan Timeout { get; }
}

/// <summary>The target process does not exist, has ended, or ended before it handled the request.</summary>
public sealed class ServerNotRunningException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The process that was addressed.</param>
    /// <param name="reason">Why it ended, when known; null when it never existed or is long gone.</param>
    public ServerNotRunningException(ProcessRef target, ExitReason? reason = null)
        : base(reason is { } r ? $"Server {target} is not running (it exited: {r})." : $"Server {target} is not running.")
    {
        Target = target;
        Reason = reason;
    }

    /// <summary>The process that was addressed.</summary>
    public ProcessRef Target { get; }

    /// <summary>Why it ended, when known.</summary>
    public ExitReason? Reason { get; }
}

/// <summary>The handler of this call failed: the server crashed with <see cref="Reason"/> and the call got no reply.</summary>
/// <remarks>For a local call, <see cref="Exception.InnerException"/> is the exception the handler threw.</remarks>
public sealed class CallFailedException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The process that was called.</param>
    /// <param name="reason">The reason the server exited with.</param>
    public CallFailedException(ProcessRef target, ExitReason reason)
        : base($"Call to {target} failed: the server crashed with {reason}.", reason.Exception)
    {
        Target = target;
        Reason = reason;
    }

    /// <summary>The process that was called.</summary>
    public ProcessRef Target { get; }

    /// <summary>The reason the server exited with.</summary>
    public ExitReason Reason { get; }
}

/// <summary>A bounded mailbox with <see cref="MailboxOverflow.Reject"/> is full; the message was not queued.</summary>
public sealed class MailboxFullException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The process whose mailbox is full.</param>
    /// <param name="capacity">Its capacity.</param>
    public MailboxFullException(ProcessRef target, int capacity)
        : base($"The mailbox of {target} is full ({capacity} messages; raise StartOptions.MailboxCapacity or choose MailboxOverflow.DropNewest).")
    {
        Target = target;
        Capacity = capacity;
    }

    /// <summary>The process whose mailbox is full.</summary>
    public ProcessRef Target { get; }

    /// <summary>The mailbox capacity.</summary>
    public int Capacity { get; }
}

/// <summary>A process failed to start: its init threw or did not finish in time. The process was not left running.</summary>
public sealed class InitFailedException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The process that failed to start.</param>
    /// <param name="reason">Why: an error, or <see cref="ExitReasonKind.Killed"/> after a timeout.</param>
    /// <param name="message">What happened.</param>
    public InitFailedException(ProcessRef target, ExitReason reason, string message)
        : base(message, reason.Exception)
    {
        Target = target;
        Reason = reason;
    }

    /// <summary>The process that failed to start.</summary>
    public ProcessRef Target { get; }

    /// <summary>Why it failed.</summary>
    public ExitReason Reason { get; }
}

/// <summary>Init did not finish within the init timeout; the process was killed.</summary>
public sealed class InitTimeoutException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The process that failed to start.</param>
    /// <param name="timeout">The init timeout.</param>
    public InitTimeoutException(ProcessRef target, TimeSpan timeout)
        : base($"Init of {target} did not finish within {(long)timeout.TotalMilliseconds} ms (StartOptions.InitTimeout); the process was killed.")
    {
        Target = target;
        Timeout = timeout;
    }

    /// <summary>The process that failed to start.</summary>
    public ProcessRef Target { get; }

    /// <summary>The init timeout.</summary>
    public TimeSpan Timeout { get; }
}

/// <summary>A local name is already taken by a running process.</summary>
public sealed class AlreadyRegisteredException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="name">The name.</param>
    /// <param name="owner">The process that holds it.</param>
    public AlreadyRegisteredException(string name, ProcessRef owner)
        : base($"The name '{name}' is already registered to {owner}.")
    {
        Name = name;
        Owner = owner;
    }

    /// <summary>The name.</summary>
    public string Name { get; }

    /// <summary>The process that holds it.</summary>
    public ProcessRef Owner { get; }
}

/// <summary>No running process is registered under a local name.</summary>
public sealed class NotRegisteredException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="name">The name looked up.</param>
    public NotRegisteredException(string name)
        : base($"No process is registered as '{name}'.")
    {
        Name = name;
    }

    /// <summary>The name looked up.</summary>
    public string Name { get; }
}

/// <summary>A supervisor's children restarted more often than its intensity allows; the supervisor stopped.</summary>
public sealed class MaxRestartsExceededException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="supervisor">The supervisor.</param>
    /// <param name="maxRestarts">The allowed restarts.</param>
    /// <param name="within">The window they are counted in.</param>
    public MaxRestartsExceededException(ProcessRef supervisor, int maxRestarts, TimeSpan within)
        : base($"Supervisor {supervisor} exceeded {maxRestarts} restarts within {(long)within.TotalMilliseconds} ms and stopped.")
    {
        Supervisor = supervisor;
        MaxRestarts = maxRestarts;
        Within = within;
    }

    /// <summary>The supervisor.</summary>
    public ProcessRef Supervisor { get; }

    /// <summary>The allowed restarts.</summary>
    public int MaxRestarts { get; }

    /// <summary>The window they are counted in.</summary>
    public TimeSpan Within { get; }
}

/// <summary>A supervisor has no child with the given id, or was asked for something its strategy does not allow.</summary>
public sealed class SupervisorChildException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="supervisor">The supervisor.</param>
    /// <param name="message">What was wrong, naming the child id.</param>
    public SupervisorChildException(ProcessRef supervisor, string message)
        : base(message)
    {
        Supervisor = supervisor;
    }

    /// <summary>The supervisor.</summary>
    public ProcessRef Supervisor { get; }
}
