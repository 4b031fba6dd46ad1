namespace Noex.Lite.Tests;

/// <summary>
/// examples/DistributedCounter as seed 002 runs it: a counter spawned on node2 from node1, used from both, watched from
/// node1; kill -9 of node2 makes node1 print that the counter went DOWN (noconnection) and that node2 left.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class DistributedCounterTests
{
    [Fact]
    public async Task WatchedCounter_GoesDown_WhenItsNodeIsKilled()
    {
        await using var node1 = ExampleProcess.Start("DistributedCounter", "--name", "node1", "--port", "0");
        var id1 = (await node1.WaitForLineAsync(@"^Distributed Counter on (node1@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await using var node2 = ExampleProcess.Start("DistributedCounter", "--name", "node2", "--port", "0", "--seed", id1);
        var id2 = (await node2.WaitForLineAsync(@"^Distributed Counter on (node2@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await node1.WaitForTextAsync($"Node joined: {id2}");
        await node2.WaitForTextAsync($"Node joined: {id1}");

        await node1.SendAsync("/create my-counter on node2");
        await node1.WaitForTextAsync($"Creating counter \"my-counter\" on {id2}...");
        await node1.WaitForTextAsync($"Counter \"my-counter\" created on {id2} with value 0.");
        await node1.SendAsync("/watch my-counter");
        await node1.WaitForTextAsync($"Now watching counter \"my-counter\" on {id2}");
        await node1.SendAsync("/inc my-counter 10");
        await node1.WaitForTextAsync("Counter \"my-counter\" incremented by 10. New value: 10");

        // The same counter from the node it lives on, found by its global name.
        await node2.SendAsync("/dec my-counter 3");
        await node2.WaitForTextAsync("Counter \"my-counter\" decremented by 3. New value: 7");
        await node1.SendAsync("/get my-counter");
        await node1.WaitForTextAsync($"Counter \"my-counter\" on {id2}: value 7");
        await node1.SendAsync("/create local-one");
        await node1.WaitForTextAsync($"Counter \"local-one\" created on {id1} with value 0.");
        await node2.SendUntilAsync("/counters", $@"^  - local-one = 0 \(on {Escape(id1)}\)$");
        await node1.SendAsync("/nodes");
        await node1.WaitForTextAsync($"  - {id2}");

        var mark = node1.Mark;
        node2.Kill();
        await node1.WaitForTextAsync($"Counter \"my-counter\" on {id2} went DOWN! Reason: noconnection", mark);
        await node1.WaitForLineAsync($@"^Node left: {Escape(id2)} \((connection_closed|connection_reset)\)$", mark);

        // The name went with its node; the local counter is still there.
        await node1.SendUntilAsync("/get my-counter", "^Counter \"my-counter\" not found");
        await node1.SendAsync("/unwatch my-counter");
        await node1.WaitForTextAsync("Not watching counter \"my-counter\".");
        await node1.SendAsync("/inc local-one");
        await node1.WaitForTextAsync("Counter \"local-one\" incremented by 1. New value: 1");

        await node1.SendAsync("/quit");
        Assert.Equal(0, await node1.WaitForExitAsync());
        await node1.WaitForTextAsync("Shutting down...");
        Assert.DoesNotContain(node1.Lines, l => l.Contains("   at ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnwatchedCounter_StaysQuiet_AndAGracefulStopIsReportedAsSuch()
    {
        await using var node1 = ExampleProcess.Start("DistributedCounter", "--name", "node1", "--port", "0");
        var id1 = (await node1.WaitForLineAsync(@"^Distributed Counter on (node1@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await using var node2 = ExampleProcess.Start("DistributedCounter", "--name", "node2", "--port", "0", "--seed", id1);
        var id2 = (await node2.WaitForLineAsync(@"^Distributed Counter on (node2@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await node1.WaitForTextAsync($"Node joined: {id2}");

        await node1.SendAsync("/create c on node2");
        await node1.WaitForTextAsync($"Counter \"c\" created on {id2} with value 0.");
        await node1.SendAsync("/watch c");
        await node1.WaitForTextAsync("Now watching counter \"c\"");
        await node1.SendAsync("/unwatch c");
        await node1.WaitForTextAsync("Stopped watching counter \"c\".");

        var mark = node1.Mark;
        node2.Signal("INT");
        Assert.Equal(0, await node2.WaitForExitAsync());
        await node1.WaitForTextAsync($"Node left: {id2} (graceful_shutdown)", mark);
        await node1.SendAsync("/quit");
        Assert.Equal(0, await node1.WaitForExitAsync());
        Assert.DoesNotContain(node1.Lines, l => l.Contains("went DOWN", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ThreeNodesStartedTogether_SeeEachOthersCountersAsSoonAsTheyJoin()
    {
        // The README's walk-through with every node started at once (node1, the seed, last): node3 meets node2 through
        // node1's push, not a gossip tick later, so its first /get finds what node2 registered.
        var port = TestNodes.FreePort();
        var id1 = $"node1@127.0.0.1:{port}";
        await using var node3 = ExampleProcess.Start("DistributedCounter", "--name", "node3", "--port", "0", "--seed", id1);
        await using var node2 = ExampleProcess.Start("DistributedCounter", "--name", "node2", "--port", "0", "--seed", id1);
        await using var node1 = ExampleProcess.Start("DistributedCounter", "--name", "node1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var id2 = (await node2.WaitForLineAsync(@"^Distributed Counter on (node2@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        await node3.WaitForTextAsync($"Node joined: {id2}");

        await node2.SendAsync("/create shared");
        await node2.WaitForTextAsync($"Counter \"shared\" created on {id2} with value 0.");
        await node1.SendUntilAsync("/get shared", $"^Counter \"shared\" on {Escape(id2)}: value 0$");
        await node3.SendUntilAsync("/get shared", $"^Counter \"shared\" on {Escape(id2)}: value 0$");
        await node3.SendAsync("/inc shared 4");
        await node3.WaitForTextAsync("Counter \"shared\" incremented by 4. New value: 4");
        foreach (var node in new[] { node1, node2, node3 })
        {
            await node.SendAsync("/quit");
            Assert.Equal(0, await node.WaitForExitAsync());
        }
    }

    [Fact]
    public async Task PipedScript_RunsEveryCommandInOrder_ThenStops()
    {
        // Like `printf '...' | DistributedCounter ...`: the whole script is written and the input closed at once.
        await using var node = ExampleProcess.Start("DistributedCounter", "--name", "solo", "--port", "0");
        foreach (var command in new[] { "/create a", "/inc a 5", "/dec a 2", "/get a", "/inc missing", "/frobnicate", "/counters" })
        {
            await node.SendAsync(command);
        }
        node.CloseInput();
        Assert.Equal(0, await node.WaitForExitAsync());
        var id = (await node.WaitForLineAsync(@"^Distributed Counter on (solo@127\.0\.0\.1:\d+)$")).Groups[1].Value;
        DistributedKvTests.AssertInOrder(node,
            $"Counter \"a\" created on {id} with value 0.",
            "Counter \"a\" incremented by 5. New value: 5",
            "Counter \"a\" decremented by 2. New value: 3",
            $"Counter \"a\" on {id}: value 3",
            "Counter \"missing\" not found. Use /counters to list them.",
            "Unknown command or wrong arguments: /frobnicate (type /help)",
            $"  - a = 3 (on {id})",
            "Shutting down...");
    }

    [Fact]
    public async Task Presets_NameTheNode_AndAnUnknownPresetIsRefused()
    {
        await using var node1 = ExampleProcess.Start("DistributedCounter", "--node", "1", "--port", "0");
        await node1.WaitForLineAsync(@"^Distributed Counter on node1@127\.0\.0\.1:\d+$");
        await node1.SendAsync("/help");
        await node1.WaitForTextAsync("/create <name> on <node>");
        node1.CloseInput();
        Assert.Equal(0, await node1.WaitForExitAsync());

        await using var bad = ExampleProcess.Start("DistributedCounter", "--node", "4");
        Assert.Equal(2, await bad.WaitForExitAsync());
        Assert.Contains("error: --node '4' must be 1, 2 or 3", bad.Lines);
    }

    private static string Escape(string text) => System.Text.RegularExpressions.Regex.Escape(text);
}
