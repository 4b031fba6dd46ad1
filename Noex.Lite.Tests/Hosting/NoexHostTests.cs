using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Noex.Lite.Hosting;

namespace Noex.Lite.Tests.Hosting;

/// <summary>
/// A node on a real Generic Host in this process, joining a loopback node: started and stopped with the host, its
/// health checks turning ready as it connects, its events in the host's loggers, its behaviours made by the container.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class NoexHostTests
{
    private const string Secret = "noex-host-tests-secret";

    [Fact]
    public async Task Host_RunsTheNode_ReadyOnceItReachesItsSeed_AndLeavesGracefullyOnStop()
    {
        // The seed's port is known before the seed runs, so the hosted node is surely not ready first.
        var seedPort = TestNodes.FreePort();
        var logs = new RecordingLoggerProvider();
        using var host = BuildHost(logs, new()
        {
            ["Noex:Seeds:0"] = $"seed@127.0.0.1:{seedPort}",
        });
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var accessor = host.Services.GetRequiredService<NoexNodeAccessor>();
        Assert.Equal(HealthStatus.Unhealthy, (await Check(health, NoexHealthChecks.LiveTag)).Status);

        await host.StartAsync().Within();

        var node = host.Services.GetRequiredService<Node>();
        Assert.Same(node, await accessor.WhenStarted.Within());
        Assert.Equal(NodeState.Running, node.State);
        Assert.Equal(HealthStatus.Healthy, (await Check(health, NoexHealthChecks.LiveTag)).Status);
        var notReady = await Check(health, NoexHealthChecks.ReadyTag);
        Assert.Equal(HealthStatus.Unhealthy, notReady.Status);
        Assert.Contains("connected to none of its 1 seeds", notReady.Entries["noex-ready"].Description, StringComparison.Ordinal);

        await using var seed = await Node.StartAsync(TestNodes.Options("seed", Secret) with { Port = seedPort });
        var events = NodeEvents.Watch(seed);
        await Wait.UntilAsync(async () => (await Check(health, NoexHealthChecks.ReadyTag)).Status == HealthStatus.Healthy);
        Assert.True(seed.IsConnected(node.Id));
        var ready = (await Check(health, NoexHealthChecks.ReadyTag)).Entries["noex-ready"];
        Assert.Equal(1, ready.Data["seedsConnected"]);
        Assert.Equal("Running", ready.Data["state"]);

        // The behaviour registered with DI, spawned from the other node: its dependency came from the container.
        var greeter = await seed.SpawnAsync("greeter", node.Id).Within();
        Assert.Equal("Hello, seed", (await seed.Runtime.CallAsync(greeter, "seed").Within()).AsString());

        // The node's life and events, in the host's loggers.
        await Wait.UntilAsync(() => logs.Of(NoexLogMessages.Category, 10).Any(m => m.Message.Contains(seed.Id.ToString(), StringComparison.Ordinal)));
        var started = Assert.Single(logs.Of(NoexLogMessages.Category, 2));
        Assert.Equal(LogLevel.Information, started.Level);
        Assert.Contains($"Node {node.Id} is running", started.Message, StringComparison.Ordinal);
        Assert.Contains("behaviours: greeter", started.Message, StringComparison.Ordinal);

        await host.StopAsync().Within();

        await Wait.UntilAsync(() => events.Downs.Any(d => d.Peer == node.Id));
        Assert.Equal(NodeDownReason.GracefulShutdown, events.Downs.Single(d => d.Peer == node.Id).Reason);
        Assert.Equal(NodeState.Stopped, node.State);
        Assert.Equal(HealthStatus.Unhealthy, (await Check(health, NoexHealthChecks.LiveTag)).Status);
        Assert.Single(logs.Of(NoexLogMessages.Category, 3));
        Assert.Single(logs.Of(NoexLogMessages.Category, 4));
    }

    [Fact]
    public async Task Host_PeerEvents_ArriveInTheLoggersWithTheirLevels()
    {
        var logs = new RecordingLoggerProvider();
        using var host = BuildHost(logs, []);
        await host.StartAsync().Within();
        var node = host.Services.GetRequiredService<Node>();
        try
        {
            // A peer that leaves gracefully (information), and one with the wrong secret (a warning).
            await using var peer = await Node.StartAsync(TestNodes.Options("peer", Secret, node.Id.ToString()));
            await Wait.UntilAsync(() => node.IsConnected(peer.Id));
            await peer.StopAsync();
            await using var stranger = await Node.StartAsync(TestNodes.Options("stranger", "another-secret", node.Id.ToString()));

            await Wait.UntilAsync(() => logs.Of(NoexLogMessages.Category, 12).Count > 0 && logs.Of(NoexLogMessages.Category, 14).Count > 0);

            var up = logs.Of(NoexLogMessages.Category, 10).First(m => m.Message.Contains(peer.Id.ToString(), StringComparison.Ordinal));
            Assert.Equal(LogLevel.Information, up.Level);
            Assert.Equal("NodeUp", up.EventId.Name);
            var left = logs.Of(NoexLogMessages.Category, 12).First();
            Assert.Equal(LogLevel.Information, left.Level);
            Assert.StartsWith($"Node {peer.Id} left: GracefulShutdown", left.Message, StringComparison.Ordinal);
            var handshake = logs.Of(NoexLogMessages.Category, 14).First();
            Assert.Equal(LogLevel.Warning, handshake.Level);
            // The event source's connection events, bridged (this recorder asks for debug, so the bridge listens verbosely).
            await Wait.UntilAsync(() => logs.Of(NoexLogMessages.Category, 110).Any(m => m.Message.Contains(peer.Id.ToString(), StringComparison.Ordinal)));
            Assert.Equal(LogLevel.Debug, logs.Of(NoexLogMessages.Category, 110)[0].Level);
            // Only this node's events: the peers' own (the same process, the same event source) are not this host's.
            Assert.DoesNotContain(logs.Of(NoexLogMessages.Category, 110), m => m.Message.Contains($"Connected to {node.Id}", StringComparison.Ordinal));
        }
        finally
        {
            await host.StopAsync().Within();
        }
    }

    [Fact]
    public async Task Host_PortInUse_FailsToStartAndSaysWhy()
    {
        await using var squatter = await Node.StartAsync(TestNodes.Options("squatter", Secret));
        var logs = new RecordingLoggerProvider();
        using var host = BuildHost(logs, new() { ["Noex:Port"] = squatter.ListenPort.ToString(System.Globalization.CultureInfo.InvariantCulture) });

        var e = await Assert.ThrowsAsync<NoexException>(() => host.StartAsync().Within());

        Assert.Contains($"Cannot listen on 127.0.0.1:{squatter.ListenPort}", e.Message, StringComparison.Ordinal);
        var failed = Assert.Single(logs.Of(NoexLogMessages.Category, 5));
        Assert.Equal(LogLevel.Critical, failed.Level);
        Assert.True(host.Services.GetRequiredService<NoexNodeAccessor>().WhenStarted.IsFaulted);
    }

    [Fact]
    public async Task Host_InvalidSettings_FailToStartNamingEachKey()
    {
        using var host = BuildHost(new RecordingLoggerProvider(), new() { ["Noex:Port"] = "70000", ["Noex:HeartbeatMissThreshold"] = "0" });

        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().Within());

        Assert.Equal(["Noex:Port must be between 0 and 65535 (was 70000)", "Noex:HeartbeatMissThreshold must be at least 1 (was 0)"], e.Failures);
    }

    [Fact]
    public async Task Host_AnOptionOnlyTheNodeChecks_IsNamedByItsKeyToo()
    {
        using var host = BuildHost(new RecordingLoggerProvider(), [],
            services => services.ConfigureNoexNodeOptions((_, options) => options with { TlsServerOptions = new SslServerAuthenticationOptions() }));

        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync().Within());

        Assert.Equal(["Noex:TlsClientOptions TLS needs both TlsServerOptions and TlsClientOptions"], e.Failures);
    }

    [Fact]
    public async Task Host_TlsFromAPfxFile_JoinsAPeerOverMutualTls()
    {
        using var certificate = NoexTlsSettingsTests.SelfSigned("CN=noex-cluster");
        var dir = Directory.CreateTempSubdirectory("noex-host-tls-").FullName;
        try
        {
            var pfx = Path.Combine(dir, "node.pfx");
            File.WriteAllBytes(pfx, certificate.Export(X509ContentType.Pkcs12, "pw"));
            // The peer is configured in code, with the same certificate, pinned both ways.
            RemoteCertificateValidationCallback pinned = (_, cert, _, _) => cert is not null && cert.GetCertHashString() == certificate.GetCertHashString();
            await using var peer = await Node.StartAsync(TestNodes.Options("peer", Secret) with
            {
                TlsServerOptions = new SslServerAuthenticationOptions { ServerCertificate = certificate, ClientCertificateRequired = true, RemoteCertificateValidationCallback = pinned },
                TlsClientOptions = new SslClientAuthenticationOptions { TargetHost = "noex-cluster", ClientCertificates = [certificate], RemoteCertificateValidationCallback = pinned },
            });
            using var host = BuildHost(new RecordingLoggerProvider(), new()
            {
                ["Noex:Seeds:0"] = peer.Id.ToString(),
                ["Noex:Tls:CertificatePath"] = pfx,
                ["Noex:Tls:CertificatePassword"] = "pw",
                ["Noex:Tls:AllowedThumbprints:0"] = certificate.Thumbprint,
            });
            await host.StartAsync().Within();
            try
            {
                var node = host.Services.GetRequiredService<Node>();
                Assert.NotNull(node.Options.TlsServerOptions);
                await Wait.UntilAsync(() => peer.IsConnected(node.Id) && node.IsConnected(peer.Id));
            }
            finally
            {
                await host.StopAsync().Within();
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>
    /// A host as a service builds one (<see cref="Host.CreateApplicationBuilder(HostApplicationBuilderSettings)"/>), without
    /// the defaults that read this machine's environment and files: a node on loopback with the test's fast timings,
    /// <paramref name="values"/> over them, the "greeter" behaviour, the health checks and <paramref name="logs"/>.
    /// </summary>
    private static IHost BuildHost(RecordingLoggerProvider logs, Dictionary<string, string?> values, Action<IServiceCollection>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Noex:Name"] = "hosted",
            ["Noex:Host"] = "127.0.0.1",
            ["Noex:Port"] = "0",
            ["Noex:ClusterSecret"] = Secret,
            ["Noex:HeartbeatInterval"] = "00:00:01",
            ["Noex:ReconnectBaseDelay"] = "00:00:00.050",
            ["Noex:ReconnectMaxDelay"] = "00:00:00.400",
        });
        builder.Configuration.AddInMemoryCollection(values);
        builder.Logging.AddProvider(logs);
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Services.AddNoexNode();
        builder.Services.AddSingleton(new Greetings("Hello"));
        builder.Services.AddNoexBehavior<GreetingServer>("greeter");
        builder.Services.AddHealthChecks().AddNoexHealthChecks();
        configure?.Invoke(builder.Services);
        return builder.Build();
    }

    private static Task<HealthReport> Check(HealthCheckService health, string tag) =>
        health.CheckHealthAsync(check => check.Tags.Contains(tag));
}
