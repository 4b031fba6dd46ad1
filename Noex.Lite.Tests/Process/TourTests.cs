using System.Diagnostics;
using System.Reflection;

namespace Noex.Lite.Tests;

/// <summary>The README's main command: the tour runs a real three-process cluster to the end and leaves nothing behind.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class TourTests
{
    [Fact]
    public async Task Tour_RunsToTheEnd_NarratingEachStep()
    {
        var tour = typeof(TourTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "TourPath").Value!;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(tour);
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
    }
}
