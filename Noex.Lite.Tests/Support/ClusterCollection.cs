namespace Noex.Lite.Tests;

/// <summary>
/// The tests that run real nodes on the real clock. They run one class at a time and not alongside the CPU-heavy classes
/// (fuzzers, stress tests): on a 2-core machine those can starve the thread pool that drives heartbeats and socket reads
/// for seconds, which a failure detector rightly reports as a dead node.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ClusterCollection
{
    public const string Name = "Cluster (real time, not parallel)";
}
