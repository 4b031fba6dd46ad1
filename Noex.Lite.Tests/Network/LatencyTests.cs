using System.Diagnostics;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// Latency from a relay: every node advertises a <see cref="DelayRelay"/> on the bridge in front of it, so every
/// connection crosses one relay that delays each direction. The mesh still forms, and remote calls take at least the
/// round trip the relay adds.
/// </summary>
[Collection(NetworkCollection.Name)]
[Trait("Category", Category.Network)]
public class LatencyTests(ITestOutputHelper output)
{
    private const string Secret = "network-latency";
    private static readonly TimeSpan s_flow = TimeSpan.FromSeconds(3);

    [NetnsTheory]
    [InlineData(1)]
    [InlineData(25)]
    public async Task EveryLinkDelayed_MeshForms_AndCallsTakeAtLeastTheAddedRoundTrip(int delayMs)
    {
        var delay = TimeSpan.FromMilliseconds(delayMs);
        await using var network = await VirtualNetwork.CreateAsync(3);
        var relays = network.Hosts.Select(h => network.StartRelay(h, delay)).ToArray();
        var seed = $"n1@{network.BridgeAddress}:{relays[0].Port}";
        var launched = Stopwatch.GetTimestamp();
        var nodes = await Task.WhenAll(network.Hosts.Select((host, i) => network.StartNodeAsync(host,
            ["--name", $"n{host.Index}", "--secret", Secret, "--advertised-host", network.BridgeAddress, "--advertised-port", $"{relays[i].Port}",
             .. i == 0 ? Array.Empty<string>() : ["--seed", seed]])));
        await NodeHostCommands.WaitForFullMeshAsync(nodes, NetworkNodes.MeshBound);

        var lastReady = nodes.Max(n => n.TimedLines.First(l => l.Text.StartsWith("READY ", StringComparison.Ordinal)).At);
        var meshed = nodes.Max(n => n.PeerEvents().Where(e => e.Up).Max(e => e.At));
        // A few round trips through the relays: a dial and handshake to the seed, the seed pushing each newcomer to the
        // other, a dial and handshake between them. (Before the seed pushed new members at once, two nodes that joined
        // together could wait for its next periodic gossip, a heartbeat interval: about 5 s here.)
        output.WriteLine($"{delayMs} ms each way: full mesh of 3 {NetworkNodes.Ms(lastReady, meshed):0} ms after the last node was ready " +
            $"({NetworkNodes.Ms(launched, meshed):0} ms after launch)");

        var echo2 = await nodes[1].StartEchoAsync();
        var echo1 = await nodes[0].StartEchoAsync();
        // Calls back to back for a few seconds, two pairs at once (with 25 ms each way that is about 60 calls each).
        var flows = await Task.WhenAll(
            nodes[0].FlowAsync(nodes[1].Id, echo2, s_flow, TimeSpan.FromSeconds(5), TimeSpan.Zero),
            nodes[2].FlowAsync(nodes[0].Id, echo1, s_flow, TimeSpan.FromSeconds(5), TimeSpan.Zero));
        output.WriteLine($"{delayMs} ms each way: n1→n2 {flows[0]}");
        output.WriteLine($"{delayMs} ms each way: n3→n1 {flows[1]}");
        foreach (var calls in flows)
        {
            Assert.Equal(0, calls.Failed + calls.Hung);
            Assert.True(calls.Ok >= 10, $"only {calls.Ok} calls in {s_flow.TotalSeconds} s");
            // One relay on every connection, delaying the request and then the reply.
            Assert.True(calls.P50Micros >= 2 * delay.TotalMicroseconds, $"p50 {calls.P50Micros} µs is less than the {2 * delayMs} ms the relay adds");
        }
    }
}
