namespace Noex.Lite;

/// <summary>A child of a distributed supervisor, where it runs now.</summary>
/// <param name="Id">The child's id in its supervisor.</param>
/// <param name="Behavior">The behaviour it was spawned from.</param>
/// <param name="Process">The running instance (its node is where the child runs).</param>
/// <param name="Restarts">How often it was restarted.</param>
/// <param name="StartedAt">When the current instance started.</param>
/// <param name="GlobalName">The cluster-wide name it is registered under, if any.</param>
public sealed record SupervisedChildReport(string Id, string Behavior, ProcessRef Process, int Restarts, DateTimeOffset StartedAt, string? GlobalName);
