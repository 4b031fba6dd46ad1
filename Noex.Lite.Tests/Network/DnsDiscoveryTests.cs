using System.Diagnostics;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// A cluster that finds itself through DNS (DnsSeedProvider over the system resolver), the answer given by each host's
/// own /etc/hosts (<see cref="VirtualNetwork.WriteHosts"/>): three nodes with no seeds form a mesh from the answer, and
/// when the answer grows to name a fourth, which knows of nobody, the cluster finds it.
/// </summary>
[Collection(NetworkCollection.Name)]
[Trait("Category", Category.Network)]
public class DnsDiscoveryTests(ITestOutputHelper output)
{
    private const string Secret = "network-dns";
    private const string ServiceName = "noex-peers";

    [NetnsFact]
    public async Task AnswerChanges_ANodeAddedToItIsFound()
    {
        await using var network = await VirtualNetwork.CreateAsync(4);
        var first = network.Hosts.Take(3).ToArray();
        var newcomer = network[3];
        foreach (var host in first)
        {
            VirtualNetwork.WriteHosts(host, Answer(first));
        }
        // The newcomer's own answer names only itself: it can be found, it cannot find.
        VirtualNetwork.WriteHosts(newcomer, Answer([newcomer]));
        // Every node the same name, each id its own address: DnsSeedProvider's rule.
        string[] args = ["--name", "noex", "--secret", Secret, "--dns", ServiceName, "--seed-poll", "500", "--heartbeat", "500"];

        var started = Stopwatch.GetTimestamp();
        var nodes = await Task.WhenAll(first.Select(h => network.StartNodeAsync(h, args)));
        await NodeHostCommands.WaitForFullMeshAsync(nodes, NetworkNodes.MeshBound);
        output.WriteLine($"3 nodes, no seeds, DNS answer [{string.Join(", ", first.Select(h => h.Address))}]: full mesh {NetworkNodes.Ms(started, Stopwatch.GetTimestamp()):0} ms after launch");

        var alone = await network.StartNodeAsync(newcomer, args);
        // The scenario: a few polls (500 ms) of an answer that names only the newcomer itself.
        await Task.Delay(TimeSpan.FromSeconds(2));
        Assert.Empty(await alone.PeersAsync());

        var changed = Stopwatch.GetTimestamp();
        foreach (var host in first)
        {
            VirtualNetwork.WriteHosts(host, Answer(network.Hosts));
        }
        NodeProcess[] all = [.. nodes, alone];
        await NodeHostCommands.WaitForFullMeshAsync(all, NetworkNodes.MeshBound);
        output.WriteLine($"answer rewritten in place to name {newcomer.Address} too: full mesh of 4 {NetworkNodes.Ms(changed, Stopwatch.GetTimestamp()):0} ms later " +
            $"(poll every 500 ms)");
        Assert.Equal(newcomer.IdOf("noex"), alone.Id.ToString());
    }

    private static IEnumerable<string> Answer(IEnumerable<NetnsHost> hosts) => hosts.Select(h => $"{h.Address} {ServiceName}");
}
