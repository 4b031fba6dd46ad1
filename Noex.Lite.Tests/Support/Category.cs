namespace Noex.Lite.Tests;

/// <summary>
/// The categories of the test classes, one each, as <c>[Trait("Category", Category.…)]</c>. The fast ones alone, in
/// seconds: <c>dotnet test noex-lite.sln -c Release --filter "Category=Unit|Category=Conformance"</c>.
/// </summary>
public static class Category
{
    /// <summary>In memory only: values, codec, frames, fragments, handshake, ids, options, processes. No sockets, no clock waits.</summary>
    public const string Unit = "Unit";

    /// <summary>The test vectors of protocol.md, read from the document itself, against the code.</summary>
    public const string Conformance = "Conformance";

    /// <summary>Real nodes on loopback in this process, on the real clock (in the cluster collection, one class at a time).</summary>
    public const string Cluster = "Cluster";

    /// <summary>Separate OS processes: NodeHost nodes, the examples, the tour, the vendoring build.</summary>
    public const string Process = "Process";

    /// <summary>
    /// Nodes in OS processes on a virtual network of Linux network namespaces (VirtualNetwork): real partitions, loss,
    /// latency and link outages. Needs root, <c>ip</c> and <c>nft</c>; skipped with the reason elsewhere.
    /// </summary>
    public const string Network = "Network";

    /// <summary>Long or CPU-heavy runs: the runtime under many threads, random streams at a listener, a soak under faults.</summary>
    public const string Stress = "Stress";
}
