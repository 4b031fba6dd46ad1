namespace Noex.Lite;

/// <summary>A spawn failed (remote or on the local node); catch a subclass to act on one cause.</summary>
/// <remarks>No process is left running after any of these: the spawning node stops whatever it started.</remarks>
public abstract class RemoteSpawnException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="behaviorName">The behaviour asked for.</param>
    /// <param name="nodeId">The node asked to spawn it, as <c>name@host:port</c>.</param>
    /// <param name="message">What failed.</param>
    protected RemoteSpawnException(string behaviorName, string nodeId, string message)
        : base(message)
    {
        BehaviorName = behaviorName;
        NodeId = nodeId;
    }

    /// <summary>The behaviour asked for.</summary>
    public string BehaviorName { get; }

    /// <summary>The node asked to spawn it, as <c>name@host:port</c>.</summary>
    public string NodeId { get; }
}

/// <summary>The target node has no behaviour of that name in its <see cref="BehaviorRegistry"/>.</summary>
public sealed class BehaviorNotFoundException : RemoteSpawnException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="behaviorName">The behaviour asked for.</param>
    /// <param name="nodeId">The node that does not know it.</param>
    public BehaviorNotFoundException(string behaviorName, string nodeId)
        : base(behaviorName, nodeId, $"Behavior '{behaviorName}' is not registered on {nodeId} (register it there with node.Behaviors.Register).")
    {
    }
}

/// <summary>The spawned process's init failed (or the behaviour's factory did); it was not left running.</summary>
public sealed class RemoteSpawnInitException : RemoteSpawnException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="behaviorName">The behaviour.</param>
    /// <param name="nodeId">The node where init ran.</param>
    /// <param name="reason">What init's failure said.</param>
    /// <param name="errorType">The name of the exception type init threw, when known.</param>
    public RemoteSpawnInitException(string behaviorName, string nodeId, string reason, string? errorType = null)
        : base(behaviorName, nodeId, $"Init of '{behaviorName}' on {nodeId} failed: {(errorType is null ? reason : $"{errorType}: {reason}")}")
    {
        Reason = reason;
        ErrorType = errorType;
    }

    /// <summary>What init's failure said.</summary>
    public string Reason { get; }

    /// <summary>The name of the exception type init threw, when known.</summary>
    public string? ErrorType { get; }
}

/// <summary>The spawned process's init did not finish within the init timeout; it was killed.</summary>
public sealed class RemoteSpawnInitTimeoutException : RemoteSpawnException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="behaviorName">The behaviour.</param>
    /// <param name="nodeId">The node where init ran.</param>
    /// <param name="timeout">The init timeout.</param>
    public RemoteSpawnInitTimeoutException(string behaviorName, string nodeId, TimeSpan timeout)
        : base(behaviorName, nodeId, $"Init of '{behaviorName}' on {nodeId} did not finish within {(long)timeout.TotalMilliseconds} ms (SpawnOptions.InitTimeout); the process was killed.")
    {
        Timeout = timeout;
    }

    /// <summary>The init timeout.</summary>
    public TimeSpan Timeout { get; }
}

/// <summary>No answer to a spawn within the spawn timeout; a late success is stopped.</summary>
public sealed class RemoteSpawnTimeoutException : RemoteSpawnException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="behaviorName">The behaviour.</param>
    /// <param name="nodeId">The node that did not answer in time.</param>
    /// <param name="timeout">The spawn timeout.</param>
    public RemoteSpawnTimeoutException(string behaviorName, string nodeId, TimeSpan timeout)
        : base(behaviorName, nodeId, $"Spawn of '{behaviorName}' on {nodeId} did not complete within {(long)timeout.TotalMilliseconds} ms (SpawnOptions.SpawnTimeout); anything it started is stopped.")
    {
        Timeout = timeout;
    }

    /// <summary>The spawn timeout.</summary>
    public TimeSpan Timeout { get; }
}

/// <summary>
/// The spawned process could not be registered under its name (<see cref="RegisteredName"/>; <see cref="Detail"/> says
/// why); the process was stopped.
/// </summary>
public sealed class RemoteSpawnRegistrationException : RemoteSpawnException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="behaviorName">The behaviour.</param>
    /// <param name="nodeId">The node that spawned it.</param>
    /// <param name="registeredName">The name that could not be registered.</param>
    /// <param name="registration">Where it was to be registered.</param>
    /// <param name="detail">Why (for example, who holds the name).</param>
    public RemoteSpawnRegistrationException(string behaviorName, string nodeId, string registeredName, SpawnRegistration registration, string detail)
        : base(behaviorName, nodeId, $"Spawn of '{behaviorName}' on {nodeId}: the {(registration == SpawnRegistration.Global ? "global" : "local")} name '{registeredName}' could not be registered: {detail}")
    {
        RegisteredName = registeredName;
        Registration = registration;
        Detail = detail;
    }

    /// <summary>Why the name could not be registered (for example, who holds it).</summary>
    public string Detail { get; }

    /// <summary>The name that could not be registered.</summary>
    public string RegisteredName { get; }

    /// <summary>Where it was to be registered.</summary>
    public SpawnRegistration Registration { get; }
}

/// <summary>A remote process did not end within the wait for a remote stop; the stop was still delivered.</summary>
public sealed class RemoteStopTimeoutException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="target">The remote process.</param>
    /// <param name="timeout">How long the stop waited.</param>
    public RemoteStopTimeoutException(ProcessRef target, TimeSpan timeout)
        : base($"Remote process {target} did not end within {(long)timeout.TotalMilliseconds} ms of being asked to stop (its terminate may be slow).")
    {
        Target = target;
        Timeout = timeout;
    }

    /// <summary>The remote process.</summary>
    public ProcessRef Target { get; }

    /// <summary>How long the stop waited.</summary>
    public TimeSpan Timeout { get; }
}
