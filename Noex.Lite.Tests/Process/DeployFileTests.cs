using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Noex.Lite.Hosting;

namespace Noex.Lite.Tests;

/// <summary>
/// deploy/ holds together without Docker or Kubernetes: the files parse, the image is built from paths that exist and
/// runs the example's assembly, and every node's environment, in compose and in the StatefulSet, is a valid node
/// configuration whose nodes can find each other. (DeployRunTests then runs them.)
/// </summary>
[Trait("Category", Category.Process)]
public class DeployFileTests
{
    private const string Secret = "deploy-tests-secret-0123456789";

    [Fact]
    public void Dockerfile_CopiesPathsThatExist_AndRunsTheHostedExample()
    {
        var instructions = DeployFiles.Instructions();

        foreach (var (_, arguments) in instructions.Where(x => x.Instruction == "COPY" && !x.Arguments.StartsWith("--from", StringComparison.Ordinal)))
        {
            var sources = arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)[..^1];
            Assert.All(sources, s => Assert.True(Path.Exists(Path.Combine(ProtocolVectors.RepoRoot, s)), $"COPY {s}: no such path in the repository"));
        }
        var publish = instructions.Single(x => x.Instruction == "RUN" && x.Arguments.Contains("dotnet publish", StringComparison.Ordinal)).Arguments;
        Assert.Contains("examples/HostedNode/HostedNode.csproj", publish);
        Assert.Equal(["dotnet", "HostedNode.dll"], DeployFiles.EntryPoint());
        Assert.True(File.Exists(Path.Combine(ExampleProcess.BuildOutput("HostedNode"), "HostedNode.dll")));
        // Every project HostedNode builds from is copied into the build stage.
        var copied = instructions.Where(x => x.Instruction == "COPY").Select(x => x.Arguments).ToArray();
        foreach (var project in new[] { "Noex.Lite/", "integrations/Noex.Lite.Hosting/", "integrations/Noex.Lite.Dashboard/" })
        {
            Assert.Contains(copied, c => c.StartsWith(project, StringComparison.Ordinal));
        }
        var ignored = File.ReadAllLines(Path.Combine(DeployFiles.Folder, "Dockerfile.dockerignore"));
        Assert.Contains("**/bin/", ignored);
        Assert.Contains("**/obj/", ignored);
        // The container's settings are valid on their own, before any variable is set (the image's ENV and a name).
        Assert.True(File.Exists(Path.Combine(DeployFiles.Folder, "appsettings.json")));
        Assert.Equal("http://+:8080", DeployFiles.ImageEnvironment()["ASPNETCORE_URLS"]);
    }

    [YamlFact]
    public void Compose_EveryNodeIsValid_AndTheSeedIsAServiceOfTheFile()
    {
        var compose = Assert.Single(Yaml.LoadAll(DeployFiles.Compose));
        var services = DeployFiles.ComposeEnvironments(compose, new Dictionary<string, string> { ["NOEX_SECRET"] = Secret });

        Assert.Equal(["node1", "node2", "node3"], services.Keys.Order());
        var options = services.ToDictionary(s => s.Key, s => Build(s.Value));
        foreach (var (service, node) in options)
        {
            var definition = compose.GetProperty("services").GetProperty(service);
            Assert.Equal(service, node.Name);
            Assert.Equal(definition.GetProperty("hostname").GetString(), node.AdvertisedHost);
            Assert.Equal(Secret, node.ClusterSecret);
            Assert.Equal(4369, node.Port);
            Assert.All(node.Seeds, seed => Assert.Contains(seed, options.Values.Select(o => $"{o.Name}@{o.AdvertisedHost}:{o.Port}")));
            Assert.Equal("deploy/Dockerfile", definition.GetProperty("build").GetProperty("dockerfile").GetString());
        }
        Assert.Empty(options["node1"].Seeds);
        Assert.All(options.Where(o => o.Key != "node1"), o => Assert.Single(o.Value.Seeds));
        // One host port per node, each to the container's HTTP port.
        var ports = compose.GetProperty("services").EnumerateObject().Select(s => s.Value.GetProperty("ports")[0].GetString()!).ToArray();
        Assert.Equal(ports.Length, ports.Distinct().Count());
        Assert.All(ports, p => Assert.EndsWith(":8080", p));
        // Without the secret, compose refuses to start rather than run a cluster anyone can join.
        var refused = Assert.Throws<InvalidOperationException>(() => DeployFiles.ComposeEnvironments(compose, new Dictionary<string, string>()));
        Assert.Contains("NOEX_SECRET", refused.Message);
    }

    [YamlFact]
    public void Kubernetes_StatefulSetFindsItselfThroughTheHeadlessService_WithTheSecretFromASecret()
    {
        var documents = Yaml.LoadAll(DeployFiles.Kubernetes);
        var headless = documents.Single(d => Kind(d) == "Service" && d.GetProperty("spec").TryGetProperty("clusterIP", out var ip) && ip.GetString() == "None");
        var statefulSet = documents.Single(d => Kind(d) == "StatefulSet");
        var spec = statefulSet.GetProperty("spec");
        var pod = spec.GetProperty("template");
        var container = pod.GetProperty("spec").GetProperty("containers")[0];

        Assert.Equal(Name(headless), spec.GetProperty("serviceName").GetString());
        Assert.True(headless.GetProperty("spec").GetProperty("publishNotReadyAddresses").GetBoolean());
        AssertSelects(headless.GetProperty("spec").GetProperty("selector"), pod.GetProperty("metadata").GetProperty("labels"));
        AssertSelects(spec.GetProperty("selector").GetProperty("matchLabels"), pod.GetProperty("metadata").GetProperty("labels"));
        Assert.True(spec.GetProperty("replicas").GetInt32() >= 3);

        var environment = DeployFiles.PodEnvironment(container, "10.1.2.3", Secret);
        var node = Build(environment);
        var settings = Bind(environment);
        Assert.Equal("10.1.2.3", node.AdvertisedHost);
        Assert.Equal(Secret, node.ClusterSecret);
        Assert.IsType<DnsSeedProvider>(node.SeedProvider);
        Assert.Equal(Name(headless), settings.DnsSeeds.HostName);
        Assert.Equal(node.Name, settings.DnsSeeds.NodeName);
        Assert.Equal(node.Port, settings.DnsSeeds.Port);
        Assert.Equal(node.Port, Port(container, "cluster"));
        Assert.Equal(node.Port, headless.GetProperty("spec").GetProperty("ports")[0].GetProperty("port").GetInt32());
        Assert.Equal(8080, Port(container, "http"));
        Assert.Equal("/health/live", container.GetProperty("livenessProbe").GetProperty("httpGet").GetProperty("path").GetString());
        Assert.Equal("/health/ready", container.GetProperty("readinessProbe").GetProperty("httpGet").GetProperty("path").GetString());

        // The secret the manifest reads is the one the README tells a newcomer to create.
        var secretRef = container.GetProperty("env").EnumerateArray()
            .Single(v => v.GetProperty("name").GetString() == "Noex__ClusterSecret")
            .GetProperty("valueFrom").GetProperty("secretKeyRef");
        var readme = File.ReadAllText(Path.Combine(DeployFiles.Folder, "README.md"));
        Assert.Contains($"kubectl create secret generic {secretRef.GetProperty("name").GetString()} --from-literal={secretRef.GetProperty("key").GetString()}=", readme);
    }

    private static string? Kind(JsonElement document) => document.GetProperty("kind").GetString();

    private static string? Name(JsonElement document) => document.GetProperty("metadata").GetProperty("name").GetString();

    private static int Port(JsonElement container, string name) =>
        container.GetProperty("ports").EnumerateArray().Single(p => p.GetProperty("name").GetString() == name).GetProperty("containerPort").GetInt32();

    private static void AssertSelects(JsonElement selector, JsonElement labels)
    {
        foreach (var label in selector.EnumerateObject())
        {
            Assert.Equal(label.Value.GetString(), labels.GetProperty(label.Name).GetString());
        }
    }

    /// <summary>The settings an environment gives the hosted node, validated as the host validates them at start.</summary>
    private static NoexNodeSettings Bind(IReadOnlyDictionary<string, string> environment)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(DeployFiles.ConfigurationOf(environment)).Build();
        using var provider = new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddNoexNode().BuildServiceProvider();
        return provider.GetRequiredService<IOptions<NoexNodeSettings>>().Value;
    }

    private static NodeOptions Build(IReadOnlyDictionary<string, string> environment)
    {
        var options = NoexNodeOptionsBuilder.Build(Bind(environment), new NoexSettingsSection("Noex"));
        options.Validate();
        return options;
    }
}
