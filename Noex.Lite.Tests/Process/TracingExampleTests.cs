using System.Text.RegularExpressions;

namespace Noex.Lite.Tests;

/// <summary>
/// examples/Tracing, which the README's trace and metrics reading come from: run as a user would, it prints one trace
/// whose five spans nest across three nodes, and the call metrics of an answered and a timed-out call.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class TracingExampleTests
{
    [Fact]
    public async Task Example_PrintsOneTraceNestedAcrossThreeNodes_AndTheCallMetrics()
    {
        await using var example = ExampleProcess.Start("Tracing");

        Assert.Equal(0, await example.WaitForExitAsync());
        var lines = example.Lines;
        var tree = lines.SkipWhile(l => !l.StartsWith("The trace ", StringComparison.Ordinal)).Skip(1).TakeWhile(l => l.Length > 0).ToArray();
        Assert.Equal(
            ["GET /price/apple (Internal)", "noex.call (Client) b@", "noex.handle_call (Server) b@", "noex.call (Client) c@", "noex.handle_call (Server) c@"],
            tree.Select(l => Regex.Match(l.Trim(), @"^[^@]*(@|\(Internal\))").Value));
        // Each span one level under the one before it: the parent links held across the three nodes.
        Assert.Equal([2, 4, 6, 8, 10], tree.Select(l => l.Length - l.TrimStart().Length));
        Assert.Contains(lines, l => l.Contains("noex.rpc.calls outcome=ok: 2", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("noex.rpc.calls outcome=timeout: 1", StringComparison.Ordinal));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"rpc\.client\.call\.duration .*error\.type=timeout: 1 call"));
        Assert.Contains(lines, l => Regex.IsMatch(l, @"rpc\.server\.call\.duration rpc\.method=call: 3 call"));
    }
}
