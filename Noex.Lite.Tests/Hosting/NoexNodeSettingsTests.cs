using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Noex.Lite.Hosting;

namespace Noex.Lite.Tests.Hosting;

/// <summary>
/// Noex.Lite.Hosting's settings in memory: bound from configuration (JSON-style keys and environment variables), checked
/// with the key in every error, and turned into <see cref="NodeOptions"/>; behaviours made by the container.
/// </summary>
[Trait("Category", Category.Unit)]
public class NoexNodeSettingsTests
{
    [Fact]
    public void Bind_InMemoryConfiguration_SetsEveryKindOfValue()
    {
        var settings = Bind(new()
        {
            ["Noex:Name"] = "svc",
            ["Noex:Host"] = "127.0.0.1",
            ["Noex:Port"] = "4400",
            ["Noex:AdvertisedHost"] = "10.0.0.7",
            ["Noex:AdvertisedPort"] = "14400",
            ["Noex:ClusterSecret"] = "s3cret-s3cret-s3cret",
            ["Noex:Seeds:0"] = "a@10.0.0.1:4369",
            ["Noex:Seeds:1"] = "b@10.0.0.2:4369",
            ["Noex:HeartbeatInterval"] = "00:00:00.250",
            ["Noex:HeartbeatMissThreshold"] = "5",
            ["Noex:ReconnectJitter"] = "0.25",
            ["Noex:MaxOutboundQueueBytes"] = "1073741824",
            ["Noex:OverloadPolicy"] = "Reject",
            ["Noex:MailboxCapacity"] = "10000",
            ["Noex:MailboxOverflow"] = "DropNewest",
            ["Noex:StopGlobalNameLoser"] = "true",
            ["Noex:QuorumSize"] = "2",
            ["Noex:ReadyMinPeers"] = "1",
        });

        var options = NoexNodeOptionsBuilder.Build(settings, new NoexSettingsSection("Noex"));

        Assert.Equal("svc", options.Name);
        Assert.Equal("127.0.0.1", options.Host);
        Assert.Equal(4400, options.Port);
        Assert.Equal("10.0.0.7", options.AdvertisedHost);
        Assert.Equal(14400, options.AdvertisedPort);
        Assert.Equal("s3cret-s3cret-s3cret", options.ClusterSecret);
        Assert.Equal(["a@10.0.0.1:4369", "b@10.0.0.2:4369"], options.Seeds);
        Assert.Equal(TimeSpan.FromMilliseconds(250), options.HeartbeatInterval);
        Assert.Equal(5, options.HeartbeatMissThreshold);
        Assert.Equal(0.25, options.ReconnectJitter);
        Assert.Equal(1L << 30, options.MaxOutboundQueueBytes);
        Assert.Equal(OverloadPolicy.Reject, options.OverloadPolicy);
        Assert.Equal((10000, MailboxOverflow.DropNewest), (options.MailboxCapacity, options.MailboxOverflow));
        Assert.True(options.StopGlobalNameLoser);
        Assert.Equal(2, options.QuorumSize);
        Assert.Equal(1, settings.ReadyMinPeers);
        // What was not set keeps NodeOptions' default.
        Assert.Equal(NodeOptions.Default.ConnectTimeout, options.ConnectTimeout);
        Assert.Equal(NodeOptions.Default.MaxFrameLength, options.MaxFrameLength);
        Assert.Null(options.SeedProvider);
        Assert.Null(options.TlsServerOptions);
    }

    [Fact]
    public void Bind_EnvironmentVariables_DoubleUnderscoreIsAColonAndCaseDoesNotMatter()
    {
        // The real environment provider, under a prefix no other test uses, as a host reads NOEX__* variables.
        var prefix = $"NOEXTEST{Environment.ProcessId}_";
        var variables = new Dictionary<string, string>
        {
            [prefix + "NOEX__NAME"] = "upper",
            [prefix + "Noex__Port"] = "0",
            [prefix + "noex__seeds__0"] = "a@127.0.0.1:4369",
            [prefix + "NOEX__Seeds__1"] = "b@127.0.0.1:4370",
            [prefix + "NOEX__DNSSEEDS__HOSTNAME"] = "noex.default.svc.cluster.local",
            [prefix + "NOEX__DNSSEEDS__PORT"] = "4369",
        };
        try
        {
            foreach (var (name, value) in variables)
            {
                Environment.SetEnvironmentVariable(name, value);
            }
            var configuration = new ConfigurationBuilder().AddEnvironmentVariables(prefix).Build();

            var settings = Settings(new ServiceCollection().AddSingleton<IConfiguration>(configuration).AddNoexNode());

            Assert.Equal("upper", settings.Name);
            Assert.Equal(0, settings.Port);
            Assert.Equal(["a@127.0.0.1:4369", "b@127.0.0.1:4370"], settings.Seeds);
            var options = NoexNodeOptionsBuilder.Build(settings, new NoexSettingsSection("Noex"));
            Assert.Equal("dns noex.default.svc.cluster.local as upper@*:4369", options.SeedProvider?.ToString());
        }
        finally
        {
            foreach (var name in variables.Keys)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }
    }

    [Fact]
    public void AddNoexNode_ConfigureAction_RunsAfterConfiguration()
    {
        var configuration = Configuration(new() { ["Noex:Name"] = "from-config", ["Noex:Port"] = "4400" });

        var settings = Settings(new ServiceCollection().AddSingleton(configuration).AddNoexNode(s => s.Port = 0));

        Assert.Equal("from-config", settings.Name);
        Assert.Equal(0, settings.Port);
    }

    public static TheoryData<string, string, string> InvalidSettings => new()
    {
        { "Noex:Port", "70000", "Noex:Port must be between 0 and 65535 (was 70000)" },
        { "Noex:AdvertisedPort", "0", "Noex:AdvertisedPort must be between 1 and 65535 (was 0)" },
        { "Noex:Name", "9lives", "Noex:Name '9lives' is not a node name" },
        { "Noex:Host", "not a host!", "Noex:Host 'not a host!' is not a host" },
        { "Noex:Seeds:0", "nobody", "Noex:Seeds:0 'nobody' is not a node id, name@host:port" },
        { "Noex:HeartbeatInterval", "00:00:00.005", "Noex:HeartbeatInterval must be at least 10 ms (was 00:00:00.0050000)" },
        { "Noex:HeartbeatMissThreshold", "0", "Noex:HeartbeatMissThreshold must be at least 1 (was 0)" },
        { "Noex:ConnectTimeout", "00:00:00", "Noex:ConnectTimeout must be positive (was 00:00:00)" },
        { "Noex:ReconnectMaxDelay", "00:00:00.100", "Noex:ReconnectMaxDelay must be at least Noex:ReconnectBaseDelay (00:00:01)" },
        { "Noex:ReconnectJitter", "1.5", "Noex:ReconnectJitter must be between 0 and 1 (was 1.5)" },
        { "Noex:MaxFrameLength", "1024", "Noex:MaxFrameLength must be at least 65536 (was 1024)" },
        { "Noex:MaxOutboundQueueBytes", "65536", "Noex:MaxOutboundQueueBytes must be at least Noex:MaxFrameLength (16777216)" },
        { "Noex:QuorumSize", "0", "Noex:QuorumSize must be at least 1 (was 0)" },
        { "Noex:MailboxCapacity", "-1", "Noex:MailboxCapacity must be at least 0 (was -1)" },
        { "Noex:ReadyMinPeers", "-1", "Noex:ReadyMinPeers must be at least 0 (was -1)" },
        { "Noex:DnsSeeds:Port", "4369", "Noex:DnsSeeds:HostName is required when Noex:DnsSeeds is configured" },
        { "Noex:Tls:CertificatePath", "/nonexistent/node.pfx", "Noex:Tls:CertificatePath names no file: '/nonexistent/node.pfx'" },
        { "Noex:Tls:TrustedCaPath", "/etc/ca.pem", "Noex:Tls:CertificatePath (or Noex:Tls:Thumbprint or Noex:Tls:Subject) is required when Noex:Tls is configured" },
    };

    [Theory]
    [MemberData(nameof(InvalidSettings))]
    public void Validate_InvalidValue_NamesTheKeyTheRuleAndTheValue(string key, string value, string expected)
    {
        var values = new Dictionary<string, string?> { ["Noex:Name"] = "svc", [key] = value };

        var e = Assert.Throws<OptionsValidationException>(() => Bind(values));

        Assert.Contains(expected, e.Message, StringComparison.Ordinal);
        Assert.Single(e.Failures);
    }

    [Fact]
    public void Validate_SeveralInvalidValues_ReportsEachOnce()
    {
        var e = Assert.Throws<OptionsValidationException>(() => Bind(new() { ["Noex:Port"] = "-1", ["Noex:Seeds:0"] = "x" }));

        Assert.Equal(
            ["Noex:Name is required (the node's name: a letter, then letters, digits, '_' or '-')",
             "Noex:Port must be between 0 and 65535 (was -1)",
             "Noex:Seeds:0 'x' is not a node id, name@host:port"],
            e.Failures);
    }

    [Fact]
    public void Validate_DnsSeedsOnAFreePort_AsksForTheDnsPort()
    {
        var e = Assert.Throws<OptionsValidationException>(() => Bind(new()
        {
            ["Noex:Name"] = "svc",
            ["Noex:Port"] = "0",
            ["Noex:DnsSeeds:HostName"] = "noex.svc",
        }));

        Assert.Contains("Noex:DnsSeeds:Port is required when Noex:Port is 0", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_ASectionOfAnotherName_NamesItsKeys()
    {
        var configuration = Configuration(new() { ["Cluster:Node:Name"] = "svc", ["Cluster:Node:Port"] = "70000" });
        var services = new ServiceCollection().AddNoexNode(configuration.GetSection("Cluster:Node"));

        var e = Assert.Throws<OptionsValidationException>(() => Settings(services));

        Assert.Equal(["Cluster:Node:Port must be between 0 and 65535 (was 70000)"], e.Failures);
    }

    [Fact]
    public void Node_ResolvedBeforeTheHostStarts_SaysWhenItWillBe()
    {
        using var provider = new ServiceCollection().AddSingleton(Configuration(new() { ["Noex:Name"] = "svc" })).AddNoexNode().BuildServiceProvider();

        var e = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<Node>());

        Assert.Contains("has not started yet", e.Message, StringComparison.Ordinal);
        Assert.False(provider.GetRequiredService<NoexNodeAccessor>().TryGetNode(out _));
        Assert.False(provider.GetRequiredService<NoexNodeAccessor>().WhenStarted.IsCompleted);
    }

    [Fact]
    public void AddNoexBehavior_MakesEachServerWithItsDependenciesFromTheContainer()
    {
        var services = new ServiceCollection().AddSingleton(new Greetings("Hi")).AddNoexBehavior<GreetingServer>("greeter")
            .AddNoexBehavior("made", sp => new GreetingServer(new Greetings("Made")));
        using var provider = services.BuildServiceProvider();

        var registrations = provider.GetServices<NoexBehaviorRegistration>().ToArray();
        var first = (GreetingServer)registrations[0].Factory(provider);
        var second = (GreetingServer)registrations[0].Factory(provider);

        Assert.Equal(["greeter", "made"], registrations.Select(r => r.Name));
        Assert.NotSame(first, second);
        Assert.Same(first.Greetings, second.Greetings);
        Assert.Equal("Hi", first.Greetings.Text);
        Assert.Equal("Made", ((GreetingServer)registrations[1].Factory(provider)).Greetings.Text);
    }

    [Fact]
    public void AddNoexBehavior_ANameTwice_IsRefusedAtRegistration()
    {
        var services = new ServiceCollection().AddNoexBehavior<GreetingServer>("greeter");

        var e = Assert.Throws<ArgumentException>(() => services.AddNoexBehavior<GreetingServer>("greeter"));

        Assert.Contains("'greeter' is registered already", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddNoexBehavior_ANameTooLongForTheWire_IsRefusedAtRegistration()
    {
        var e = Assert.Throws<ArgumentException>(() => new ServiceCollection().AddNoexBehavior<GreetingServer>(new string('b', BehaviorRegistry.MaxNameBytes + 1)));

        Assert.Contains($"at most {BehaviorRegistry.MaxNameBytes} UTF-8 bytes", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddNoexBehavior_AMissingDependency_FailsTheSpawnNamingIt()
    {
        using var provider = new ServiceCollection().AddNoexBehavior<GreetingServer>("greeter").BuildServiceProvider();

        var e = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<NoexBehaviorRegistration>().Factory(provider));

        Assert.Contains(nameof(Greetings), e.Message, StringComparison.Ordinal);
    }

    public static TheoryData<NodeHealth, int?, bool, bool, string?> Readiness => new()
    {
        // No rule configured: a seed, when it has seeds.
        { Health(seeds: 2, seedsConnected: 0, connected: 1), null, false, false, "connected to none of its 2 seeds" },
        { Health(seeds: 2, seedsConnected: 1, connected: 1), null, false, false, null },
        // Seeds from a provider only: any peer.
        { Health(seeds: 0, seedsConnected: 0, connected: 0), null, false, true, "connected to no node found by its seed provider" },
        { Health(seeds: 0, seedsConnected: 0, connected: 1), null, false, true, null },
        // Neither: the first node of a cluster, ready alone.
        { Health(seeds: 0, seedsConnected: 0, connected: 0), null, false, false, null },
        // ReadyMinPeers counts every connected peer, seed or not.
        { Health(seeds: 1, seedsConnected: 1, connected: 1), 2, false, false, "connected to 1 of the 2 nodes it needs (Noex:ReadyMinPeers)" },
        { Health(seeds: 1, seedsConnected: 0, connected: 2), 2, false, false, null },
        { Health(seeds: 1, seedsConnected: 0, connected: 0), 0, false, false, null },
        // And the quorum, when asked for.
        { Health(seeds: 0, seedsConnected: 0, connected: 0, hasQuorum: false), null, true, false, "no quorum: connected to 0 of 2 members (Noex:ReadyRequiresQuorum)" },
        { Health(seeds: 0, seedsConnected: 0, connected: 0, state: NodeState.Stopping), null, false, false, "the node is Stopping" },
    };

    [Theory]
    [MemberData(nameof(Readiness))]
    public void NotReady_FollowsTheDocumentedRule(NodeHealth health, int? readyMinPeers, bool requireQuorum, bool seedProvider, string? expected)
    {
        var settings = new NoexNodeSettings { ReadyMinPeers = readyMinPeers, ReadyRequiresQuorum = requireQuorum };

        Assert.Equal(expected, NoexHealthChecks.NotReady(health, settings, new NoexSettingsSection("Noex"), seedProvider));
    }

    private static NodeHealth Health(int seeds, int seedsConnected, int connected, bool hasQuorum = true, NodeState state = NodeState.Running) =>
        new(state, seeds, seedsConnected, Members: 2, connected, hasQuorum, TimeSpan.FromSeconds(1));

    internal static IConfiguration Configuration(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    private static NoexNodeSettings Bind(Dictionary<string, string?> values) =>
        Settings(new ServiceCollection().AddSingleton(Configuration(values)).AddNoexNode());

    private static NoexNodeSettings Settings(IServiceCollection services)
    {
        using var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IOptions<NoexNodeSettings>>().Value;
    }
}

/// <summary>A dependency of <see cref="GreetingServer"/>, registered in the container.</summary>
internal sealed class Greetings(string text)
{
    public string Text { get; } = text;
}

/// <summary>A behaviour with a constructor dependency: answers a call with its greeting and the name it was given.</summary>
internal sealed class GreetingServer(Greetings greetings) : GenServer<int>
{
    public Greetings Greetings { get; } = greetings;

    protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

    protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
        new(CallResult<int>.WithReply($"{Greetings.Text}, {request.AsString()}", state));
}
