namespace Noex.Lite;

/// <summary>A distributed supervisor operation failed; the subclasses say why.</summary>
public class DistributedSupervisorException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="supervisorId">The supervisor.</param>
    /// <param name="message">What failed.</param>
    /// <param name="inner">The cause, if any.</param>
    public DistributedSupervisorException(string supervisorId, string message, Exception? inner = null)
        : base($"Distributed supervisor {supervisorId}: {message}", inner)
    {
        SupervisorId = supervisorId;
    }

    /// <summary>The supervisor.</summary>
    public string SupervisorId { get; }
}

/// <summary>A child id is already in use.</summary>
/// <param name="supervisorId">The supervisor.</param>
/// <param name="childId">The id.</param>
public sealed class DistributedDuplicateChildException(string supervisorId, string childId)
    : DistributedSupervisorException(supervisorId, $"a child with id '{childId}' already exists")
{
    /// <summary>The id.</summary>
    public string ChildId { get; } = childId;
}

/// <summary>No child has the id.</summary>
/// <param name="supervisorId">The supervisor.</param>
/// <param name="childId">The id.</param>
public sealed class DistributedChildNotFoundException(string supervisorId, string childId)
    : DistributedSupervisorException(supervisorId, $"no child with id '{childId}'")
{
    /// <summary>The id.</summary>
    public string ChildId { get; } = childId;
}

/// <summary>Children restarted more often than the intensity allows; the supervisor stopped them and itself.</summary>
/// <param name="supervisorId">The supervisor.</param>
/// <param name="maxRestarts">The restarts allowed.</param>
/// <param name="within">The window.</param>
public sealed class DistributedMaxRestartsExceededException(string supervisorId, int maxRestarts, TimeSpan within)
    : DistributedSupervisorException(supervisorId, $"more than {maxRestarts} restarts within {(long)within.TotalMilliseconds} ms; it stopped its children and itself")
{
    /// <summary>The restarts allowed.</summary>
    public int MaxRestarts { get; } = maxRestarts;

    /// <summary>The window.</summary>
    public TimeSpan Within { get; } = within;
}

/// <summary>A simple_one_for_one supervisor was misused.</summary>
/// <param name="supervisorId">The supervisor.</param>
/// <param name="reason">What was wrong.</param>
public sealed class DistributedInvalidSimpleOneForOneException(string supervisorId, string reason)
    : DistributedSupervisorException(supervisorId, reason)
{
    /// <summary>What was wrong.</summary>
    public string Reason { get; } = reason;
}

/// <summary>simple_one_for_one needs a child template.</summary>
/// <param name="supervisorId">The supervisor.</param>
public sealed class DistributedMissingChildTemplateException(string supervisorId)
    : DistributedSupervisorException(supervisorId, "simple_one_for_one requires a child template");

/// <summary>The behaviour is not registered on the supervisor's node.</summary>
/// <param name="behaviorName">The name.</param>
/// <param name="nodeId">The supervisor's node.</param>
public sealed class DistributedBehaviorNotFoundException(string behaviorName, NodeId nodeId)
    : NoexException($"Behavior '{behaviorName}' is not registered on {nodeId}.")
{
    /// <summary>The name.</summary>
    public string BehaviorName { get; } = behaviorName;

    /// <summary>The node.</summary>
    public NodeId NodeId { get; } = nodeId;
}

/// <summary>No node could be chosen for a child.</summary>
/// <param name="childId">The child.</param>
/// <param name="selector">The selector that found nothing.</param>
public sealed class NoAvailableNodeException(string childId, NodeSelector selector)
    : NoexException($"No node available for child '{childId}' (selector {selector}).")
{
    /// <summary>The child.</summary>
    public string ChildId { get; } = childId;

    /// <summary>The selector.</summary>
    public NodeSelector Selector { get; } = selector;
}
