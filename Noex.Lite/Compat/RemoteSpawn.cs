namespace Noex.Lite;

/// <summary>Spawns from the default node (see <see cref="Cluster"/>).</summary>
public static class RemoteSpawn
{
    /// <summary>Spawns <paramref name="behaviorName"/> on <paramref name="targetNode"/> from the default node. See <see cref="Node.SpawnAsync"/>.</summary>
    /// <param name="behaviorName">A behaviour registered on the target node.</param>
    /// <param name="targetNode">The node to spawn on.</param>
    /// <param name="options">Name, registration, timeouts, init args; null for the defaults.</param>
    /// <param name="cancellationToken">Abandons the spawn (anything it started is stopped).</param>
    /// <returns>The new process.</returns>
    /// <exception cref="ClusterNotStartedException">No default node is running.</exception>
    public static Task<ProcessRef> SpawnAsync(string behaviorName, NodeId targetNode, SpawnOptions? options = null, CancellationToken cancellationToken = default) =>
        Cluster.Default.SpawnAsync(behaviorName, targetNode, options, cancellationToken);
}
