namespace Noex.Lite;

/// <summary>A call got no reply within its timeout. The server may still process the request; its late reply is dropped.</summary>
public class CallTimeoutException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The process that was called.</param>
    /// <param name="timeout">The timeout that passed.</param>
    public CallTimeoutException(ProcessRef target, TimeSpan timeout)
        : this(target, timeout, $"Call to {target} timed out after {(long)timeout.TotalMilliseconds} ms (pass a longer timeout to CallAsync to wait longer).")
    {
    }

    /// <summary>Creates the exception with its own message (for subclasses).</summary>
    /// <param name="target">The process that was called.</param>
    /// <param name="timeout">The timeout that passed.</param>
    /// <param name="message">The message.</param>
    protected CallTimeoutException(ProcessRef target, TimeSpan timeout, string message)
        : base(message)
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
public class ServerNotRunningException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The process that was addressed.</param>
    /// <param name="reason">Why it ended, when known; null when it never existed or is long gone.</param>
    public ServerNotRunningException(ProcessRef target, ExitReason? reason = null)
        : this(target, reason, reason is { } r ? $"Server {target} is not running (it exited: {r})." : $"Server {target} is not running.")
    {
    }

    /// <summary>Creates the exception with its own message (for subclasses).</summary>
    /// <param name="target">The process that was addressed.</param>
    /// <param name="reason">Why it ended, when known.</param>
    /// <param name="message">The message.</param>
    protected ServerNotRunningException(ProcessRef target, ExitReason? reason, string message)
        : base(message)
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
        : base($"The mailbox of {target} is full ({capacity} messages; raise StartOptions.MailboxCapacity or the node's MailboxCapacity, or choose MailboxOverflow.DropNewest).")
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

/// <summary>A call to a process on another node got no reply within its timeout; the node stayed connected.</summary>
public sealed class RemoteCallTimeoutException : CallTimeoutException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The remote process that was called.</param>
    /// <param name="timeout">The timeout that passed.</param>
    public RemoteCallTimeoutException(ProcessRef target, TimeSpan timeout)
        : base(target, timeout, $"Remote call to {target} timed out after {(long)timeout.TotalMilliseconds} ms (its node is connected; the server may be busy).")
    {
    }
}

/// <summary>The process on another node that a call or stop addressed does not exist or has ended.</summary>
public sealed class RemoteServerNotRunningException : ServerNotRunningException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The remote process that was addressed.</param>
    /// <param name="detail">What its node said.</param>
    public RemoteServerNotRunningException(ProcessRef target, string detail)
        : base(target, null, $"Remote server {target} is not running: {detail}")
    {
    }
}

/// <summary>
/// The server refused a request it cannot read: it does not fit the type the server's typed handler takes (its
/// <see cref="Exception.InnerException"/> is then the <see cref="MessageContractException"/> naming the type and
/// field, for a local call; a remote call carries its text), or it could not be encoded. The server process goes on.
/// </summary>
public sealed class BadRequestException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The process called.</param>
    /// <param name="detail">What is wrong with the request.</param>
    /// <param name="innerException">The failure behind it, when local.</param>
    public BadRequestException(ProcessRef target, string detail, Exception? innerException = null)
        : base($"{target} refused the request: {detail}", innerException)
    {
        Target = target;
        Detail = detail;
    }

    /// <summary>The process called.</summary>
    public ProcessRef Target { get; }

    /// <summary>What is wrong with the request, e.g. <c>Put.ttl: expected an integer, found a string</c>.</summary>
    public string Detail { get; }
}
