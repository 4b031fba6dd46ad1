using System.Net;

namespace Noex.Lite.Tests.Hosting;

/// <summary>
/// examples/HostedNode as the "done" asks: a real process on the Generic Host that joins a node of the tour's
/// cluster (the tour's secret) from its appsettings.json with environment overrides, logs through ILogger, answers its
/// health checks over HTTP, serves a behaviour made by DI, and leaves gracefully with exit code 0 on SIGTERM.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class HostedNodeProcessTests
{
    private const string TourSecret = "tour-secret-0123456789abcdef";

    [Fact]
    public async Task HostedNode_JoinsTheCluster_AnswersItsProbes_AndLeavesGracefullyOnSigterm()
    {
        // node1 of the tour, in this process, on a free port; the service knows it only from its seed setting.
        await using var node1 = await Node.StartAsync(TestNodes.Options("node1", TourSecret) with { Port = TestNodes.FreePort() });
        var events = NodeEvents.Watch(node1);
        var http = $"http://127.0.0.1:{TestNodes.FreePort()}";
        await using var service = ExampleProcess.Start("HostedNode", new Dictionary<string, string>
        {
            ["Noex__Seeds__0"] = node1.Id.ToString(),
            ["Noex__Port"] = "0",
            // The test's nodes beat once a second, as appsettings.json's 500 ms would be too tight a bound on a loaded machine.
            ["Noex__HeartbeatInterval"] = "00:00:01",
            ["ASPNETCORE_URLS"] = http,
        });

        await Wait.UntilAsync(() => events.Ups.Any(u => u.Peer.Id.Name == "hosted"));
        var hosted = events.Ups.First(u => u.Peer.Id.Name == "hosted").Peer.Id;

        using var client = new HttpClient { BaseAddress = new Uri(http), Timeout = TimeSpan.FromSeconds(10) };
        await Wait.UntilAsync(async () => await GetAsync(client, "/health/live") == (HttpStatusCode.OK, "Healthy"));
        await Wait.UntilAsync(async () => await GetAsync(client, "/health/ready") == (HttpStatusCode.OK, "Healthy"));
        // Its greeter, spawned with its DI dependency and registered globally, answers over HTTP and over the cluster.
        var (status, greeting) = await GetAsync(client, "/greet/test");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal($"Hello, test! (greeting 1 from {hosted})", greeting);
        var spawned = await node1.SpawnAsync("hosted:greeter", hosted).Within();
        var reply = await node1.Runtime.CallAsync(spawned, Value.Object(("type", "greet"), ("name", "node1"))).Within();
        Assert.Equal($"Hello, node1! (greeting 1 from {hosted})", reply.AsString());

        // Its log, through ILogger's console (one line per message, as appsettings.json sets it).
        await service.WaitForTextAsync($"info: Noex.Lite[2] Node {hosted} is running");
        await service.WaitForTextAsync($"info: Noex.Lite[10] Node {node1.Id} is up");
        await service.WaitForTextAsync($"Greeter greeter:{hosted} is running");

        var mark = service.Mark;
        service.Signal("TERM");

        Assert.Equal(0, await service.WaitForExitAsync());
        await Wait.UntilAsync(() => events.Downs.Any(d => d.Peer == hosted));
        Assert.Equal(NodeDownReason.GracefulShutdown, events.Downs.First(d => d.Peer == hosted).Reason);
        await service.WaitForTextAsync($"info: Noex.Lite[3] Node {hosted} is stopping: telling 1 connected nodes goodbye", mark);
        await service.WaitForTextAsync($"info: Noex.Lite[4] Node {hosted} stopped after", mark);
        Assert.DoesNotContain(service.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task HostedNode_InvalidSetting_ExitsWithTheKeyNamed()
    {
        await using var service = ExampleProcess.Start("HostedNode", new Dictionary<string, string>
        {
            ["NOEX__PORT"] = "70000",
            ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{TestNodes.FreePort()}",
        });

        Assert.Equal(1, await service.WaitForExitAsync());
        Assert.Contains("HostedNode cannot start: Noex:Port must be between 0 and 65535 (was 70000)", service.Lines);
    }

    /// <summary>The status and body of a GET, or (0, "") while nothing listens yet.</summary>
    private static async Task<(HttpStatusCode Status, string Body)> GetAsync(HttpClient client, string path)
    {
        try
        {
            using var response = await client.GetAsync(path);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }
        catch (HttpRequestException)
        {
            return (0, "");
        }
        catch (TaskCanceledException)
        {
            return (0, "");
        }
    }
}
