namespace Noex.Lite;

/// <summary>
/// Where a distributed supervisor's children actually run: spawning a registered behaviour on a node, stopping a child
/// anywhere, and watching one until it ends. The supervisor's placement and restart logic sees only this.
/// </summary>
/// <remarks>
/// The production host (ClusterChildHost) uses the node's spawn API, remote stop and monitors; a test
/// may put its own behind a supervisor to drive the logic alone.
/// </remarks>
internal interface IChildHost
{
    /// <summary>Whether the behaviour is registered on the supervisor's node (the original's check before placing a child).</summary>
    bool HasBehavior(string behavior);

    /// <summary>Starts <paramref name="behavior"/> on <paramref name="node"/> with <paramref name="args"/>, registering <paramref name="globalName"/> cluster-wide if given.</summary>
    Task<ProcessRef> SpawnAsync(NodeId node, string behavior, Value args, string? globalName, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Stops a child with <c>shutdown</c>, killing it after <paramref name="timeout"/>. Never throws: a child already gone, or unreachable, is done.</summary>
    Task StopAsync(ProcessRef child, TimeSpan timeout);

    /// <summary>
    /// Calls <paramref name="onDown"/> exactly once when <paramref name="child"/> ends, with its reason (<c>noproc</c> if it is
    /// already gone, <c>noconnection</c> if its node is lost), unless the returned handle is disposed first.
    /// </summary>
    IDisposable Watch(ProcessRef child, Action<ExitReason> onDown);

    /// <summary>Makes <paramref name="name"/> point at <paramref name="owner"/> again if something else holds it (after a partition heals).</summary>
    void ReclaimName(string name, ProcessRef owner);

    /// <summary>Releases what the host holds (its watcher process).</summary>
    ValueTask DisposeAsync();
}
