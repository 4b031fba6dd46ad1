using System.Globalization;
using System.Text.Json;
using Noex.Lite.Dashboard;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// The dashboard in a real browser (headless Chromium over the DevTools protocol): a three-node cluster, two of its nodes
/// separate OS processes, one of them killed with kill -9 while the page watches. Leaves a screenshot as an artifact.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class DashboardBrowserTests(ITestOutputHelper output)
{
    private const string Secret = "dashboard-browser-tests";

    // A global name that is markup: the page must show it as text, and running it would set the flag.
    private const string Trap = "<img src=x onerror=\"window.__noexInjected=1\">";

    /// <summary>The node cards as the page shows them.</summary>
    private const string ReadNodes = """
        [...document.querySelectorAll('article.node')].map(e => ({
          id: e.dataset.node,
          status: e.dataset.status,
          reason: e.querySelector('.down-reason')?.textContent ?? '',
          text: e.textContent,
        }))
        """;

    private sealed class Idle : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);
    }

    private sealed record PageNode(string Id, string Status, string Reason, string Text);

    private static async Task<PageNode[]> NodesAsync(HeadlessBrowser browser)
    {
        var nodes = await browser.EvaluateAsync(ReadNodes);
        return nodes.ValueKind != JsonValueKind.Array ? [] : nodes.EnumerateArray().Select(n => new PageNode(
            n.GetProperty("id").GetString()!, n.GetProperty("status").GetString()!, n.GetProperty("reason").GetString()!,
            n.GetProperty("text").GetString()!)).ToArray();
    }

    private static async Task<string> TextAsync(HeadlessBrowser browser, string selector) =>
        (await browser.EvaluateAsync($"[...document.querySelectorAll('{selector}')].map(e => e.textContent).join('\\n')")).GetString() ?? "";

    [ChromiumFact]
    public async Task Page_ThreeNodes_ShowsThemUp_ThenTheKilledNodeDownWithItsReason()
    {
        // Every node beats once a second (TestNodes' interval): a NodeHost beating at its default 5 s would look dead to a
        // node that expects a frame within 3 s, whenever nothing else crosses the link.
        await using var local = await Node.StartAsync(TestNodes.Options("dash", Secret));
        // The supervisor checks that its own node knows the child's behaviour; the children run on the other nodes.
        local.Behaviors.Register("dsup-worker", () => new Idle());
        await using var dashboard = await NoexDashboard.StartAsync(local);
        await using var left = await NodeHostProcess.StartAsync("--name", "left", "--secret", Secret, "--seed", local.Id.ToString(), "--heartbeat", "1000");
        await using var right = await NodeHostProcess.StartAsync("--name", "right", "--secret", Secret, "--seed", local.Id.ToString(), "--heartbeat", "1000");
        await Wait.UntilAsync(() => local.IsConnected(left.Id) && local.IsConnected(right.Id));

        // Something to show: a global name that is markup, a supervised child on the node to be killed, and traffic.
        await left.SendAsync("gregister " + Trap);
        await Wait.UntilAsync(() => local.GlobalRegistry.IsRegistered(Trap));
        await using var supervisor = await DistributedSupervisor.StartAsync(local, new DistributedSupervisorOptions
        {
            NodeSelector = NodeSelector.Custom((nodes, _) => (nodes.FirstOrDefault(n => n.Id == right.Id) ?? nodes.First(n => n.Id == left.Id)).Id),
            Children = [new DistributedChildSpec("worker", "dsup-worker") { GlobalName = "dash:worker" }],
        });
        await left.SendAsync("echo");
        var echoLine = await left.WaitForLineAsync(l => l.StartsWith("ECHO ", StringComparison.Ordinal));
        var echo = new ProcessRef(left.Id.ToString(), long.Parse(echoLine["ECHO ".Length..], CultureInfo.InvariantCulture));
        using var stopTraffic = new CancellationTokenSource();
        var traffic = Task.Run(async () =>
        {
            for (var i = 0; !stopTraffic.IsCancellationRequested; i++)
            {
                await local.Runtime.CallAsync(echo, i);
                await Task.Delay(2); // a steady trickle for the charts, not a load test
            }
        });

        await using var browser = await HeadlessBrowser.StartAsync(ChromiumAvailability.Path!);
        await browser.NavigateAsync(dashboard.Url);

        await Wait.UntilAsync(async () => (await NodesAsync(browser)).Count(n => n.Status == "up") == 3);
        var nodes = await NodesAsync(browser);
        Assert.Equal([local.Id.ToString(), left.Id.ToString(), right.Id.ToString()], nodes.Select(n => n.Id));
        Assert.Contains(Trap, await TextAsync(browser, "#names td.name"), StringComparison.Ordinal);
        Assert.Equal(0, (await browser.EvaluateAsync("document.querySelectorAll('main img').length")).GetInt32());
        Assert.Equal(JsonValueKind.Undefined, (await browser.EvaluateAsync("window.__noexInjected")).ValueKind);
        await Wait.UntilAsync(async () => (await TextAsync(browser, "#supervisors td.child-node")).Contains(right.Id.ToString(), StringComparison.Ordinal));
        // A few samples in the charts before the kill (the page keeps them; the server sends one per second).
        await Wait.UntilAsync(async () => (await browser.EvaluateAsync(
            "(document.querySelector('article.node polyline')?.getAttribute('points') ?? '').split(' ').length")).GetInt32() >= 6);

        right.Kill();

        PageNode? down = null;
        await Wait.UntilAsync(async () =>
        {
            down = (await NodesAsync(browser)).FirstOrDefault(n => n.Id == right.Id.ToString() && n.Status == "down" && n.Reason.Length > 0);
            return down is not null;
        });
        output.WriteLine($"the page shows {right.Id} down: {down!.Text}");
        Assert.Contains(down.Reason, new[] { "connection_closed", "connection_reset" });
        Assert.Contains("Down since", down.Text, StringComparison.Ordinal);
        Assert.Equal(2, (await NodesAsync(browser)).Count(n => n.Status == "up"));
        Assert.Contains(right.Id.ToString(), await TextAsync(browser, "#downs td"), StringComparison.Ordinal);
        Assert.Single(DashboardFeed.For(local).GetDownHistory()); // the kill, and no spurious loss before it
        // The supervisor moved its child off the dead node, and the page followed it.
        await Wait.UntilAsync(async () => (await TextAsync(browser, "#supervisors td.child-node")).Contains(left.Id.ToString(), StringComparison.Ordinal));

        var screenshot = Path.Combine(AppContext.BaseDirectory, "artifacts", "dashboard.png");
        await browser.ScreenshotAsync(screenshot);
        output.WriteLine($"screenshot: {screenshot}");
        Assert.True(new FileInfo(screenshot).Length > 10_000, "the screenshot is not a picture of the page");

        await stopTraffic.CancelAsync();
        await traffic.Within();
    }
}
