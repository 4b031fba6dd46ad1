namespace Noex.Lite.Tests;

/// <summary>Clusters of NodeHost processes on a <see cref="VirtualNetwork"/>, one node per host.</summary>
internal static class NetworkNodes
{
    /// <summary>How long the network tests wait for a mesh to form or heal: generous, for a loaded 2-core machine.</summary>
    public static readonly TimeSpan MeshBound = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Starts a node named n1, n2, ... on each host of <paramref name="network"/> (all at once, every one with n1 as its
    /// seed) with <paramref name="args"/> added to each, and waits for the full mesh.
    /// </summary>
    public static Task<NodeProcess[]> StartMeshAsync(VirtualNetwork network, string secret, params string[] args) =>
        StartMeshAsync(network, network.Hosts, secret, args);

    /// <summary>As <see cref="StartMeshAsync(VirtualNetwork, string, string[])"/>, on <paramref name="hosts"/> only (the first is the seed).</summary>
    public static async Task<NodeProcess[]> StartMeshAsync(VirtualNetwork network, IEnumerable<NetnsHost> hosts, string secret, params string[] args)
    {
        var seed = network[0].IdOf("n1");
        var nodes = await Task.WhenAll(hosts.Select(host => network.StartNodeAsync(host,
            ["--name", $"n{host.Index}", "--secret", secret, .. host.Index == 1 ? Array.Empty<string>() : ["--seed", seed], .. args])));
        await NodeHostCommands.WaitForFullMeshAsync(nodes, MeshBound);
        return nodes;
    }

    /// <summary>Milliseconds from Stopwatch timestamp <paramref name="from"/> to <paramref name="to"/>.</summary>
    public static double Ms(long from, long to) => System.Diagnostics.Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;
}
