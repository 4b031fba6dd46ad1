namespace Noex.Lite.Tests;

/// <summary>
/// examples/DistributedKv as seed 000 runs it: two processes, the first creates "kv:main", the second finds it, both
/// write and read it, and the second sees the first leave gracefully. Also the shared command-line behaviour (bad flag,
/// busy port, unreachable seed), which every example has from examples/Shared.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class DistributedKvTests
{
    [Fact]
    public async Task TwoNodes_ShareOneStore_AsTheSeedShows()
    {
        await using var a = ExampleProcess.Start("DistributedKv", "--name", "nodeA", "--port", "0");
        await a.WaitForTextAsync("Node is running. Press Ctrl+C to exit.");
        var nodeA = (await a.WaitForLineAsync(@"^Node ID: (nodeA@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        AssertInOrder(a,
            "  Distributed Key-Value Store",
            "Starting node: nodeA@127.0.0.1:0",
            $"Node ID: {nodeA}",
            "Creating KV store...",
            "KV store created and registered globally.",
            $"KV store location: {nodeA}",
            "Demonstrating operations...",
            "Keys in store: [ 'greeting-nodeA', 'timestamp-nodeA' ]",
            "Total entries: 2",
            "Our greeting: Hello from nodeA!",
            "Node is running. Press Ctrl+C to exit.");

        await using var b = ExampleProcess.Start("DistributedKv", "-n", "nodeB", "-p", "0", "-s", nodeA);
        await b.WaitForTextAsync("Node is running. Press Ctrl+C to exit.");
        AssertInOrder(b,
            $"[CLUSTER] Node joined: {nodeA}",
            "KV store already exists in cluster.",
            $"KV store location: {nodeA}",
            "Keys in store: [ 'greeting-nodeA', 'timestamp-nodeA', 'greeting-nodeB', 'timestamp-nodeB' ]",
            "Total entries: 4",
            "Our greeting: Hello from nodeB!");
        var nodeB = (await b.WaitForLineAsync(@"^Node ID: (nodeB@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await a.WaitForTextAsync($"[CLUSTER] Node joined: {nodeB}");

        // Ctrl+C on node A: a graceful stop, which node B reports as such.
        a.Signal("INT");
        Assert.Equal(0, await a.WaitForExitAsync());
        AssertInOrder(a, "Shutting down...", "KV store \"main\" terminated: shutdown");
        await b.WaitForTextAsync($"[CLUSTER] Node left: {nodeA} (graceful_shutdown)");

        await b.SendAsync("/quit");
        Assert.Equal(0, await b.WaitForExitAsync());
        Assert.DoesNotContain(a.Lines.Concat(b.Lines), l => l.Contains("   at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task EndOfInputAndSigterm_StopTheNodeGracefully()
    {
        await using var a = ExampleProcess.Start("DistributedKv", "--name", "nodeA", "--port", "0");
        var nodeA = (await a.WaitForLineAsync(@"^Node ID: (nodeA@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await a.WaitForTextAsync("Node is running.");
        await using var b = ExampleProcess.Start("DistributedKv", "--name", "nodeB", "--port", "0", "--seed", nodeA);
        var nodeB = (await b.WaitForLineAsync(@"^Node ID: (nodeB@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await b.WaitForTextAsync("Node is running.");

        // A script's input ends: the program stops as on /quit.
        b.CloseInput();
        Assert.Equal(0, await b.WaitForExitAsync());
        await a.WaitForTextAsync($"[CLUSTER] Node left: {nodeB} (graceful_shutdown)");

        a.Signal("TERM");
        Assert.Equal(0, await a.WaitForExitAsync());
        await a.WaitForTextAsync("Shutting down...");
    }

    [Fact]
    public async Task BadFlag_SaysWhatIsWrong_WithTheUsage()
    {
        await using var p = ExampleProcess.Start("DistributedKv", "--name", "a", "--colour", "blue");
        Assert.Equal(2, await p.WaitForExitAsync());
        Assert.Contains("error: unknown option '--colour'", p.Lines);
        Assert.Contains(p.Lines, l => l.StartsWith("Usage: DistributedKv", StringComparison.Ordinal));

        await using var port = ExampleProcess.Start("DistributedKv", "--name", "a", "--port", "http");
        Assert.Equal(2, await port.WaitForExitAsync());
        Assert.Contains(port.Lines, l => l.StartsWith("error: --port 'http' is not a port number", StringComparison.Ordinal));

        await using var name = ExampleProcess.Start("DistributedKv", "--name", "9lives", "--port", "0");
        Assert.Equal(1, await name.WaitForExitAsync());
        Assert.Contains(name.Lines, l => l.StartsWith("error: invalid --name", StringComparison.Ordinal));
        Assert.DoesNotContain(name.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task BusyPort_SaysSo_WithoutAStackTrace()
    {
        using var squatter = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        squatter.Start();
        var busy = ((System.Net.IPEndPoint)squatter.LocalEndpoint).Port;
        await using var p = ExampleProcess.Start("DistributedKv", "--name", "a", "--port", busy.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, await p.WaitForExitAsync());
        Assert.Contains($"error: port {busy} is busy (another node or program is using it); pick another with --port", p.Lines);
        Assert.DoesNotContain(p.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnreachableSeed_SaysSo_AndExits()
    {
        // A port that was free a moment ago: nothing answers there.
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        var dead = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        await using var p = ExampleProcess.Start("DistributedKv", "--name", "b", "--port", "0", "--seed", $"nodeA@127.0.0.1:{dead}");
        Assert.Equal(1, await p.WaitForExitAsync());
        Assert.Contains(p.Lines, l => l.StartsWith($"[CLUSTER] Cannot reach seed nodeA@127.0.0.1:{dead} (is it running", StringComparison.Ordinal));
        Assert.DoesNotContain(p.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    /// <summary>Each expected line appears, in this order (other lines may come between).</summary>
    internal static void AssertInOrder(ExampleProcess process, params string[] expected)
    {
        var lines = process.Lines;
        var at = 0;
        foreach (var line in expected)
        {
            var found = Array.IndexOf(lines, line, at);
            Assert.True(found >= 0, $"{process.Name} did not print \"{line}\" (after line {at}); it said:\n{string.Join('\n', lines)}");
            at = found + 1;
        }
    }
}
