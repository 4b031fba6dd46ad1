namespace Noex.Lite.Tests;

/// <summary>
/// The tests on a <see cref="VirtualNetwork"/>: one class at a time and never alongside other collections, since their
/// failure detectors run on short heartbeats and their figures (latency, false downs) mean little on a starved machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class NetworkCollection
{
    public const string Name = "Network (namespaces, not parallel)";
}
