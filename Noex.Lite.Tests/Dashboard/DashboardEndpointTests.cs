using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Noex.Lite.Dashboard;

namespace Noex.Lite.Tests;

/// <summary>
/// The dashboard over HTTP, without a browser: the snapshot endpoint, the event stream, the page and its policy, the
/// down history, and mapping into an application of one's own (the node from DI, conventions on every endpoint).
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class DashboardEndpointTests
{
    private const string Secret = "dashboard-tests";
    private const string HostileName = "<script>alert('x')</script> & \"friends\"";

    private static readonly HttpClient s_http = new() { Timeout = Bounded.Wait };

    private sealed class Idle : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);
    }

    private static async Task<JsonElement> GetSnapshotAsync(Uri url)
    {
        using var document = JsonDocument.Parse(await s_http.GetStringAsync(url));
        return document.RootElement.Clone();
    }

    private static JsonElement NodeIn(JsonElement snapshot, Node node) =>
        snapshot.GetProperty("nodes").EnumerateArray().Single(n => n.GetProperty("id").GetString() == node.Id.ToString());

    [Fact]
    public async Task Snapshot_ThreeNodes_AllUpWithTheirFiguresAndTheLocalNodeFirst()
    {
        await using var cluster = await TestCluster.StartAsync(3, Secret);
        var (a, b, c) = cluster;
        await c.Runtime.StartAsync(new Idle());
        await c.Runtime.StartAsync(new Idle());
        await using var dashboard = await NoexDashboard.StartAsync(a);

        var snapshot = await GetSnapshotAsync(dashboard.SnapshotUrl);

        Assert.Equal(a.Id.ToString(), snapshot.GetProperty("localNode").GetString());
        var nodes = snapshot.GetProperty("nodes").EnumerateArray().ToArray();
        Assert.Equal([a.Id.ToString(), b.Id.ToString(), c.Id.ToString()], nodes.Select(n => n.GetProperty("id").GetString()));
        Assert.True(nodes[0].GetProperty("local").GetBoolean());
        Assert.All(nodes, n => Assert.Equal("up", n.GetProperty("status").GetString()));
        Assert.Equal(2, NodeIn(snapshot, c).GetProperty("stats").GetProperty("processes").GetInt32());
        Assert.Equal([a.Id.ToString(), c.Id.ToString()],
            NodeIn(snapshot, b).GetProperty("stats").GetProperty("peers").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(3, snapshot.GetProperty("totals").GetProperty("nodesUp").GetInt32());
        Assert.Equal(1000, snapshot.GetProperty("refreshMs").GetInt32());
        // An incarnation does not fit a JavaScript number: it travels as text.
        Assert.Equal(b.Incarnation.ToString(System.Globalization.CultureInfo.InvariantCulture), NodeIn(snapshot, b).GetProperty("incarnation").GetString());
    }

    [Fact]
    public async Task Snapshot_GlobalNameWithMarkup_IsEscapedInTheJsonAndReadsBackExactly()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;
        var process = await b.Runtime.StartAsync(new Idle());
        b.GlobalRegistry.Register(HostileName, process);
        await Wait.UntilAsync(() => a.GlobalRegistry.IsRegistered(HostileName));
        await using var dashboard = await NoexDashboard.StartAsync(a);

        var text = await s_http.GetStringAsync(dashboard.SnapshotUrl);

        Assert.DoesNotContain("<script>", text, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("&", text, StringComparison.Ordinal);
        Assert.Contains("\\u003Cscript\\u003E", text, StringComparison.Ordinal);
        using var document = JsonDocument.Parse(text);
        var name = Assert.Single(document.RootElement.GetProperty("names").EnumerateArray());
        Assert.Equal(HostileName, name.GetProperty("name").GetString());
        Assert.Equal(process.ToString(), name.GetProperty("process").GetString());
        Assert.Equal(b.Id.ToString(), name.GetProperty("registeredBy").GetString());
    }

    [Fact]
    public async Task Stream_SendsASnapshotEventPerInterval_AndEndsWhenTheServerStops()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var dashboard = await NoexDashboard.StartAsync(cluster[0], options: new NoexDashboardOptions { RefreshInterval = TimeSpan.FromMilliseconds(200) });
        await using var _ = dashboard;

        using var response = await s_http.GetAsync(new Uri(dashboard.Url + "/api/stream"), HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var snapshots = new List<JsonElement>();
        while (snapshots.Count < 3)
        {
            var line = await reader.ReadLineAsync().Within();
            Assert.NotNull(line);
            if (line == "event: snapshot")
            {
                var data = await reader.ReadLineAsync().Within();
                Assert.StartsWith("data: {", data, StringComparison.Ordinal);
                using var document = JsonDocument.Parse(data!["data: ".Length..]);
                snapshots.Add(document.RootElement.Clone());
                Assert.Equal("", await reader.ReadLineAsync().Within());
            }
        }
        Assert.All(snapshots, s => Assert.Equal(2, s.GetProperty("nodes").GetArrayLength()));
        var times = snapshots.Select(s => s.GetProperty("takenAt").GetDateTimeOffset()).ToArray();
        Assert.True(times[2] > times[0], "each event is a new snapshot");

        // A graceful stop ends the open stream rather than waiting for the client to leave.
        await dashboard.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(4));
        while (await reader.ReadLineAsync().Within() is not null)
        {
        }
    }

    [Fact]
    public async Task DownHistory_StoppedNode_IsShownDownWithItsReason_AndRemembered()
    {
        await using var cluster = await TestCluster.StartAsync(3, Secret);
        var (a, b, c) = cluster;
        await using var dashboard = await NoexDashboard.StartAsync(a);
        var feed = DashboardFeed.For(a);
        Assert.Same(feed, DashboardFeed.For(a));

        await c.StopAsync();
        await Wait.UntilAsync(() => feed.GetDownHistory().Any(d => d.Removal is not null));

        var record = Assert.Single(feed.GetDownHistory());
        Assert.Equal((c.Id, NodeDownReason.GracefulShutdown, NodeRemovalReason.Left), (record.Node, record.Reason, record.Removal));
        JsonElement snapshot = default;
        await Wait.UntilAsync(async () =>
        {
            snapshot = await GetSnapshotAsync(dashboard.SnapshotUrl);
            return NodeIn(snapshot, c).GetProperty("status").GetString() == "down";
        });
        // The cluster forgot c (it left); the dashboard still shows it, down, with the reason and when.
        Assert.DoesNotContain(a.GetNodes(), n => n.Id == c.Id);
        var down = NodeIn(snapshot, c).GetProperty("down");
        Assert.Equal("graceful_shutdown", down.GetProperty("reason").GetString());
        Assert.Equal("left", down.GetProperty("removal").GetString());
        Assert.True(down.GetProperty("at").GetDateTimeOffset() <= snapshot.GetProperty("takenAt").GetDateTimeOffset());
        var history = Assert.Single(snapshot.GetProperty("downHistory").EnumerateArray());
        Assert.Equal(c.Id.ToString(), history.GetProperty("node").GetString());
        Assert.Equal("up", NodeIn(snapshot, b).GetProperty("status").GetString());
        Assert.Equal(2, snapshot.GetProperty("totals").GetProperty("nodesUp").GetInt32());
    }

    [Fact]
    public async Task Page_IsOneSelfContainedDocument_UnderAPolicyAllowingOnlyItsOwnInlineCode()
    {
        await using var cluster = await TestCluster.StartAsync(1, Secret);
        await using var dashboard = await NoexDashboard.StartAsync(cluster[0]);

        foreach (var url in new[] { dashboard.Url, new Uri(dashboard.Url + "/") })
        {
            using var response = await s_http.GetAsync(url);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
            var policy = string.Join(' ', response.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("default-src 'none'", policy, StringComparison.Ordinal);
            Assert.Matches("script-src 'sha256-[A-Za-z0-9+/=]{44}'", policy);
            Assert.Matches("style-src 'sha256-[A-Za-z0-9+/=]{44}'", policy);
            var html = await response.Content.ReadAsStringAsync();
            foreach (var parser in new[] { "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(" })
            {
                Assert.DoesNotContain(parser, html, StringComparison.Ordinal);
            }
            Assert.DoesNotContain(" src=", html, StringComparison.Ordinal);
            Assert.DoesNotContain("stylesheet", html, StringComparison.Ordinal);
            // The only absolute address in it is the SVG namespace: nothing is fetched from elsewhere.
            Assert.Equal(["http://www.w3.org/2000/svg"], System.Text.RegularExpressions.Regex.Matches(html, "https?://[^'\" ]+").Select(m => m.Value).Distinct());
        }
        using var root = await s_http.GetAsync(new Uri(dashboard.Url, "/"));
        Assert.Equal(dashboard.Url, root.RequestMessage!.RequestUri); // "/" redirects to the page
    }

    [Fact]
    public async Task MapNoexDashboard_NodeFromServices_ServesItAndTakesTheApplicationsConventions()
    {
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().UseUrls("http://127.0.0.1:0");
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton(cluster[1]);
        await using var app = builder.Build();
        app.MapNoexDashboard("/ops/cluster", new NoexDashboardOptions { Title = "Ops" });
        // A convention on the returned builder reaches every endpoint: here a host that never matches, so all are 404.
        app.MapNoexDashboard("/hidden", () => cluster[0]).RequireHost("elsewhere.invalid");
        await app.StartAsync();
        var root = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

        var snapshot = await GetSnapshotAsync(new Uri(root, "/ops/cluster/api/snapshot"));
        Assert.Equal(cluster[1].Id.ToString(), snapshot.GetProperty("localNode").GetString());
        Assert.Equal("Ops", snapshot.GetProperty("title").GetString());
        foreach (var path in new[] { "/hidden", "/hidden/api/snapshot", "/hidden/api/stream" })
        {
            using var response = await s_http.GetAsync(new Uri(root, path));
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        }
        await app.StopAsync();
    }
}
