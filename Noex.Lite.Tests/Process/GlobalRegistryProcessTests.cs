namespace Noex.Lite.Tests;

/// <summary>Cluster-wide names when the owner is a node in its own OS process (NodeHost), killed with kill -9 and restarted.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class GlobalRegistryProcessTests
{
    private const string Secret = "registry-process-tests";

    [Fact]
    public async Task KillMinus9_OfTheOwnersNode_RemovesItsNamesEverywhere_AndItsRestartRegistersAgain()
    {
        await using var mesh = await TestCluster.StartAsync(2, Secret);
        var nodes = mesh.Nodes;
        var remote = await NodeHostProcess.StartAsync("--name", "remote", "--secret", Secret, "--seed", nodes[0].Id.ToString(), "--heartbeat", "1000");
        var port = remote.Id.Port;
        try
        {
            await Wait.UntilAsync(() => nodes.All(n => n.IsConnected(remote.Id)));
            var first = await RegisterOnAsync(remote, "owned-by-remote");
            var local = await nodes[0].Runtime.StartAsync(new Idle());
            nodes[0].GlobalRegistry.Register("owned-here", local);
            await GlobalRegistryTests.ConvergedAsync(nodes, $"owned-by-remote={first};owned-here={local}");
            await remote.WaitForLineAsync(l => l == $"GNAME owned-here {local}");

            remote.Kill();

            await GlobalRegistryTests.ConvergedAsync(nodes, $"owned-here={local}");
        }
        finally
        {
            await remote.DisposeAsync();
        }

        // The same node id comes back as a new run: it receives the table and its new claim reaches everyone.
        await using var again = await NodeHostProcess.StartAsync("--name", "remote", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--secret", Secret, "--seed", nodes[0].Id.ToString(), "--heartbeat", "1000");
        await Wait.UntilAsync(() => nodes.All(n => n.IsConnected(again.Id)));
        await again.WaitForLineAsync(l => l.StartsWith("GNAME owned-here ", StringComparison.Ordinal));
        var second = await RegisterOnAsync(again, "owned-by-remote");
        await GlobalRegistryTests.ConvergedAsync(nodes, $"owned-by-remote={second};owned-here={nodes[0].GlobalRegistry.Lookup("owned-here")}");
    }

    private static async Task<ProcessRef> RegisterOnAsync(NodeProcess host, string name)
    {
        var count = host.Lines.Count(l => l.StartsWith($"GREGISTERED {name} ", StringComparison.Ordinal));
        await host.SendAsync($"gregister {name}");
        await Wait.UntilAsync(() => host.Lines.Count(l => l.StartsWith($"GREGISTERED {name} ", StringComparison.Ordinal)) > count);
        var line = host.Lines.Last(l => l.StartsWith($"GREGISTERED {name} ", StringComparison.Ordinal));
        return new ProcessRef(host.Id.ToString(), long.Parse(line.Split(' ')[2], System.Globalization.CultureInfo.InvariantCulture));
    }
}
