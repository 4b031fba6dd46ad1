using System.Net;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// The image's entry point, run as the deployment files run it, where no Docker daemon or Kubernetes cluster is at hand:
/// each node a host of a <see cref="VirtualNetwork"/>, in a copy of the example's build laid out as the image's /app (the
/// container's appsettings.json over the example's), started with <c>dotnet HostedNode.dll</c> and exactly the
/// environment the image, compose or the StatefulSet give it. Names resolve as they would there: compose's service names,
/// the headless Service's name to every pod. The nodes must form a cluster, report ready, and leave gracefully on SIGTERM.
/// </summary>
[Collection(NetworkCollection.Name)]
[Trait("Category", Category.Network)]
public sealed class DeployRunTests(ITestOutputHelper output) : IDisposable
{
    private const string Secret = "deploy-run-secret-0123456789abcdef";

    // Three web hosts starting at once on a loaded 2-core machine: longer than the suite's usual bound.
    private static readonly TimeSpan s_startBound = TimeSpan.FromSeconds(90);

    private readonly string _app = ImageApp();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(5) };

    [DeployNetnsFact]
    public async Task Compose_ThreeServicesByName_FormACluster_AndOneLeavesGracefullyOnSigterm()
    {
        var compose = Assert.Single(Yaml.LoadAll(DeployFiles.Compose));
        var services = DeployFiles.ComposeEnvironments(compose, new Dictionary<string, string> { ["NOEX_SECRET"] = Secret });
        await using var network = await VirtualNetwork.CreateAsync(services.Count);
        var hosts = services.Keys.Order().Zip(network.Hosts).ToDictionary(p => p.First, p => p.Second);
        foreach (var host in network.Hosts)
        {
            VirtualNetwork.WriteHosts(host, hosts.Select(h => $"{h.Value.Address} {h.Key}"));
        }

        var nodes = hosts.ToDictionary(h => h.Key, h => Start(network, h.Value, h.Key, services[h.Key]));
        try
        {
            await AllReadyAsync(nodes, hosts);
            foreach (var (name, node) in nodes)
            {
                // Ready means connected to both others (Noex__ReadyMinPeers=2): each saw the other two come up by name.
                Assert.All(nodes.Keys.Where(n => n != name), other => Assert.Contains(node.Lines, l => l.Contains($"Node {other}@{other}:4369 is up", StringComparison.Ordinal)));
            }

            // The dashboard the image serves shows the whole cluster.
            var snapshot = await _http.GetStringAsync(new Uri($"http://{hosts["node1"].Address}:8080/noex/api/snapshot"));
            Assert.All(nodes.Keys, name => Assert.Contains($"{name}@{name}:4369", snapshot));

            nodes["node3"].Signal("TERM");
            Assert.Equal(0, await nodes["node3"].WaitForExitAsync());
            await nodes["node1"].WaitForTextAsync("Node node3@node3:4369 left: GracefulShutdown");
            await nodes["node2"].WaitForTextAsync("Node node3@node3:4369 left: GracefulShutdown");
        }
        finally
        {
            await StopAllAsync(nodes);
        }
    }

    [DeployNetnsFact]
    public async Task Kubernetes_ThreePodsFoundThroughTheHeadlessService_FormACluster()
    {
        var documents = Yaml.LoadAll(DeployFiles.Kubernetes);
        var statefulSet = documents.Single(d => d.GetProperty("kind").GetString() == "StatefulSet");
        var spec = statefulSet.GetProperty("spec");
        var container = spec.GetProperty("template").GetProperty("spec").GetProperty("containers")[0];
        var headless = spec.GetProperty("serviceName").GetString()!;
        await using var network = await VirtualNetwork.CreateAsync(3);
        foreach (var host in network.Hosts)
        {
            // The headless Service's answer: every pod's address (not-ready ones too: publishNotReadyAddresses).
            VirtualNetwork.WriteHosts(host, network.Hosts.Select(h => $"{h.Address} {headless}"));
        }

        var pods = network.Hosts.ToDictionary(h => $"noex-{h.Index - 1}", h => (Host: h, Environment: DeployFiles.PodEnvironment(container, h.Address, Secret)));
        var nodes = pods.ToDictionary(p => p.Key, p => Start(network, p.Value.Host, p.Key, p.Value.Environment));
        try
        {
            await AllReadyAsync(nodes, pods.ToDictionary(p => p.Key, p => p.Value.Host));
            // Ready needs one peer here (Noex__ReadyMinPeers=1); the mesh is whole when each pod has seen both others.
            foreach (var (name, node) in nodes)
            {
                var others = pods.Where(p => p.Key != name).Select(p => $"Node noex@{p.Value.Host.Address}:4369 is up").ToArray();
                await Wait.UntilAsync(() => others.All(o => node.Lines.Any(l => l.Contains(o, StringComparison.Ordinal))), s_startBound);
            }
            var snapshot = await _http.GetStringAsync(new Uri($"http://{network[0].Address}:8080/noex/api/snapshot"));
            Assert.All(network.Hosts, h => Assert.Contains($"noex@{h.Address}:4369", snapshot));
        }
        finally
        {
            await StopAllAsync(nodes);
        }
    }

    private ExampleProcess Start(VirtualNetwork network, NetnsHost host, string name, IReadOnlyDictionary<string, string> environment)
    {
        var ip = SystemCommand.Find("ip")!;
        output.WriteLine($"{name} on {host}: {string.Join(' ', environment.Where(e => !e.Key.Contains("Secret", StringComparison.Ordinal)).Select(e => $"{e.Key}={e.Value}"))}");
        string[] entryPoint = DeployFiles.EntryPoint();
        return ExampleProcess.Run(name, [ip, "netns", "exec", host.Namespace, .. entryPoint], environment, _app);
    }

    /// <summary>Waits until every node answers 200 Healthy on /health/live and /health/ready at its own address.</summary>
    private async Task AllReadyAsync(Dictionary<string, ExampleProcess> nodes, Dictionary<string, NetnsHost> hosts)
    {
        try
        {
            await Task.WhenAll(hosts.Select(async h =>
            {
                await Wait.UntilAsync(() => ProbeAsync(h.Value, "/health/live"), s_startBound);
                await Wait.UntilAsync(() => ProbeAsync(h.Value, "/health/ready"), s_startBound);
            }));
        }
        catch (TimeoutException)
        {
            throw new TimeoutException("not every node got ready; they said:\n" + string.Join("\n\n", nodes.Select(n => $"{n.Key}:\n{n.Value.Output}")));
        }
        // Each node's own greeter answers, through its global name: every node of the deployment serves, not just the first.
        foreach (var host in hosts.Values)
        {
            var greeting = await _http.GetStringAsync(new Uri($"http://{host.Address}:8080/greet/deploy"));
            Assert.StartsWith("Hello, deploy!", greeting, StringComparison.Ordinal);
        }
    }

    private async Task<bool> ProbeAsync(NetnsHost host, string path)
    {
        try
        {
            using var response = await _http.GetAsync(new Uri($"http://{host.Address}:8080{path}"));
            return response.StatusCode == HttpStatusCode.OK && await response.Content.ReadAsStringAsync() == "Healthy";
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false; // not listening yet
        }
    }

    private async Task StopAllAsync(Dictionary<string, ExampleProcess> nodes)
    {
        foreach (var (name, node) in nodes)
        {
            output.WriteLine($"--- {name}\n{node.Output}");
            await node.DisposeAsync();
        }
    }

    /// <summary>The image's /app: the example's build with the container's appsettings.json over its own.</summary>
    private static string ImageApp()
    {
        var app = Path.Combine(Path.GetTempPath(), "noex-deploy-" + Guid.NewGuid().ToString("N"));
        var build = ExampleProcess.BuildOutput("HostedNode");
        foreach (var file in Directory.EnumerateFiles(build, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(app, Path.GetRelativePath(build, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        File.Copy(Path.Combine(DeployFiles.Folder, "appsettings.json"), Path.Combine(app, "appsettings.json"), overwrite: true);
        return app;
    }

    public void Dispose()
    {
        _http.Dispose();
        Directory.Delete(_app, recursive: true);
    }
}
