using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text.Json;

namespace Noex.Lite.Tests;

/// <summary>The README's main command: the tour runs a real three-process cluster to the end and leaves nothing behind.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class TourTests
{
    private static readonly string s_tour = typeof(TourTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "TourPath").Value!;

    [Fact]
    public async Task Tour_RunsToTheEnd_NarratingEachStep()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(s_tour);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        var text = await output + await errors;

        Assert.True(process.ExitCode == 0, $"the tour failed ({process.ExitCode}):\n{text}");
        // The tour builds its frame from protocol.md alone: it must be the document's own vector, byte for byte.
        var vector = Convert.ToHexString(ProtocolVectors.Get("frame-small-get").Bytes("hex")).ToLowerInvariant();
        Assert.Contains($"{vector} (protocol.md §3.5, frame-small-get)", text, StringComparison.Ordinal);
        Assert.Contains("verified seq 0, decoded back: {\"type\":\"get\",\"key\":\"k1\"}", text, StringComparison.Ordinal);
        Assert.Contains("one bit flipped in the tag: verifies False", text, StringComparison.Ordinal);
        Assert.Contains("[CLUSTER] Node joined: node2@", text, StringComparison.Ordinal);
        Assert.Contains("node2 is connected to node3 without having been told about it", text, StringComparison.Ordinal);
        Assert.Matches(@"node1: whereis\(""tour:counter""\) -> node2@\S+ \(a local read", text);
        Assert.Contains("cast inc x10000 -> call get -> 10000", text, StringComparison.Ordinal);
        Assert.Contains("the crashed counter's name went with it; node2 registered a new one", text, StringComparison.Ordinal);
        Assert.Matches(@"node1 spawned a ""counter"" on node3: node3@\S+, registered globally", text);
        Assert.Contains("cast inc, call get -> 1", text, StringComparison.Ordinal);
        Assert.Matches(@"the monitor fired: node3@\S+ went down, reason noconnection", text);
        Assert.Contains("\"tour:spawned\" left the global registry with its node: whereis -> null", text, StringComparison.Ordinal);
        Assert.Matches(@"a DistributedSupervisor on node1 started its child ""worker"" on node3@\S+, named ""tour:worker""", text);
        Assert.Matches(@"the supervisor restarted ""worker"" on node2@\S+ \(it was on node3@\S+\)", text);
        Assert.Matches(@"its name followed it: whereis\(""tour:worker""\) -> node2@\S+; call get -> 0", text);
        Assert.Contains("calls/s between two processes", text, StringComparison.Ordinal);
        Assert.Matches(@"\[CLUSTER\] Node left: node3@\S+ \((connection_closed|connection_reset)\)", text);
        Assert.Matches(@"\[CLUSTER\] Node left: node2@\S+ \(graceful_shutdown\)", text);
        Assert.Contains("failed at once: NodeNotReachableException", text, StringComparison.Ordinal);
        Assert.Matches(@"Dashboard: http://127\.0\.0\.1:\d+/noex \(the live cluster in a browser, while the tour runs\)", text);
        Assert.Contains("(it closes with the tour; run with --keep-open to keep it)", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tour_KeepOpen_ServesTheDashboardOnAKnownNodeUntilSigterm()
    {
        using (var probe = new TcpListener(IPAddress.Loopback, 4369))
        {
            // --keep-open binds node1 to 127.0.0.1:4369, the address it tells other programs to join.
            try
            {
                probe.Start();
            }
            catch (SocketException e)
            {
                Assert.Fail($"127.0.0.1:4369 is taken ({e.SocketErrorCode}), so the tour's --keep-open cannot run here");
            }
        }
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(s_tour);
        start.ArgumentList.Add("--keep-open");
        using var process = Process.Start(start)!;
        var lines = new ConcurrentQueue<string>();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lines.Enqueue(e.Data);
            }
        };
        process.BeginOutputReadLine();
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            string? open = null;
            await Wait.UntilAsync(() => (open = lines.FirstOrDefault(l => l.Contains("(open while this runs", StringComparison.Ordinal))) is not null || process.HasExited);
            if (open is null)
            {
                // Only now: stderr ends when the process does, and a kept-open tour does not end by itself.
                Assert.Fail($"the tour did not stay open:\n{string.Join('\n', lines)}\n{await errors}");
            }
            var url = open["Dashboard: ".Length..open.IndexOf(' ', "Dashboard: ".Length)];

            using var http = new HttpClient { Timeout = Bounded.Wait };
            using var snapshot = JsonDocument.Parse(await http.GetStringAsync(new Uri(url + "/api/snapshot")));
            var root = snapshot.RootElement;
            Assert.Equal("node1@127.0.0.1:4369", root.GetProperty("localNode").GetString());
            // The dashboard remembers what the tour did to the other two nodes, though node1's cluster has forgotten node2.
            var downs = Downs(snapshot.RootElement.GetRawText());
            Assert.Equal("graceful_shutdown", downs["node2"]);
            Assert.Contains(downs["node3"], new[] { "connection_closed", "connection_reset" });
            // Supervisors are reported by the nodes that run them while they run: the tour stopped its own before the end.
            Assert.Empty(root.GetProperty("supervisors").EnumerateArray());
            Assert.Contains(lines, l => l.Contains("-s node1@127.0.0.1:4369 --secret ", StringComparison.Ordinal));

            // The hosted example joins the open tour from its own appsettings.json (seed, secret), as its README says:
            // only its HTTP address is the test's, and it leaves with a goodbye on SIGTERM.
            await using (var hosted = ExampleProcess.Start("HostedNode", new Dictionary<string, string> { ["ASPNETCORE_URLS"] = $"http://127.0.0.1:{TestNodes.FreePort()}" }))
            {
                await Wait.UntilAsync(async () => NodeStatus(await http.GetStringAsync(new Uri(url + "/api/snapshot")), "hosted") == "up");
                hosted.Signal("TERM");
                Assert.Equal(0, await hosted.WaitForExitAsync());
                await Wait.UntilAsync(async () => Downs(await http.GetStringAsync(new Uri(url + "/api/snapshot"))).GetValueOrDefault("hosted") == "graceful_shutdown");
            }

            using (var term = Process.Start("kill", $"-TERM {process.Id}"))
            {
                await term.WaitForExitAsync();
            }
            using var timeout = new CancellationTokenSource(Bounded.Wait);
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, $"the tour failed on SIGTERM ({process.ExitCode}):\n{string.Join('\n', lines)}\n{await errors}");
            Assert.Equal("Stopping node1.", lines.Last());
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>The newest down reason of each node in a dashboard snapshot, by node name.</summary>
    private static Dictionary<string, string?> Downs(string snapshot)
    {
        using var json = JsonDocument.Parse(snapshot);
        return json.RootElement.GetProperty("downHistory").EnumerateArray()
            .GroupBy(d => d.GetProperty("node").GetString()!.Split('@')[0])
            .ToDictionary(g => g.Key, g => g.First().GetProperty("reason").GetString());
    }

    /// <summary>The status a dashboard snapshot gives the node named <paramref name="name"/>, or null if it lists none.</summary>
    private static string? NodeStatus(string snapshot, string name)
    {
        using var json = JsonDocument.Parse(snapshot);
        return json.RootElement.GetProperty("nodes").EnumerateArray()
            .Where(n => n.GetProperty("id").GetString()!.StartsWith(name + "@", StringComparison.Ordinal))
            .Select(n => n.GetProperty("status").GetString())
            .FirstOrDefault();
    }
}
