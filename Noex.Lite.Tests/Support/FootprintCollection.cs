namespace Noex.Lite.Tests;

/// <summary>
/// Tests that weigh the managed heap (GC.GetTotalMemory around many processes): the heap is the whole test process's, so
/// they run alone, after the parallel tests, with nothing else allocating or releasing beside them.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FootprintCollection
{
    public const string Name = "Footprint";
}
