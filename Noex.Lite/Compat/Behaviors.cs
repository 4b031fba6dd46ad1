namespace Noex.Lite;

/// <summary>
/// The default node's <see cref="Node.Behaviors"/> as static members (see <see cref="Cluster"/>).
/// </summary>
/// <remarks>Every member throws <see cref="ClusterNotStartedException"/> while no default node runs.</remarks>
public static class Behaviors
{
    /// <summary>Registers a behaviour on the default node. See <see cref="BehaviorRegistry.Register"/>.</summary>
    /// <param name="name">The behaviour name.</param>
    /// <param name="factory">Makes a fresh server for each spawn.</param>
    public static void Register(string name, Func<GenServer> factory) => Cluster.Default.Behaviors.Register(name, factory);

    /// <summary>The factory registered as <paramref name="name"/> on the default node, or null.</summary>
    /// <param name="name">The behaviour name.</param>
    public static Func<GenServer>? Get(string name) => Cluster.Default.Behaviors.Get(name);

    /// <summary>Whether <paramref name="name"/> is registered on the default node.</summary>
    /// <param name="name">The behaviour name.</param>
    public static bool Has(string name) => Cluster.Default.Behaviors.Has(name);

    /// <summary>Removes a behaviour from the default node.</summary>
    /// <param name="name">The behaviour name.</param>
    /// <returns>True if it was registered.</returns>
    public static bool Unregister(string name) => Cluster.Default.Behaviors.Unregister(name);

    /// <summary>The behaviour names registered on the default node.</summary>
    public static IReadOnlyList<string> Names => Cluster.Default.Behaviors.Names;

    /// <summary>The default node's count and names.</summary>
    public static BehaviorRegistryStats GetStats() => Cluster.Default.Behaviors.GetStats();
}
