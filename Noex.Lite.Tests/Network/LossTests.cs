using System.Globalization;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// Random packet loss on every host (nft <c>numgen random</c> on the bridge), 1% and 5%, under the default heartbeat
/// (5 s) and a 200 ms one, while every node calls every other steadily. Nothing is killed, so every down is a false one:
/// those are counted and printed as figures. What must hold is liveness: every call ends, with its reply or a typed
/// error, and the mesh is whole again once the loss stops.
/// </summary>
[Collection(NetworkCollection.Name)]
[Trait("Category", Category.Network)]
public class LossTests(ITestOutputHelper output)
{
    private const string Secret = "network-loss";
    private static readonly TimeSpan s_flow = TimeSpan.FromSeconds(25);
    private static readonly TimeSpan s_callTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_pause = TimeSpan.FromMilliseconds(50);

    [NetnsFact]
    public async Task LossOnEveryHost_CallsEndWithARepliesOrTypedErrors_AndTheMeshRecovers()
    {
        // The four configurations at once, each on a network of its own, to keep the wall time down.
        (int LossPercent, int HeartbeatMs)[] configs = [(1, 5000), (5, 5000), (1, 200), (5, 200)];
        var networks = new List<VirtualNetwork>();
        try
        {
            foreach (var network in await Task.WhenAll(configs.Select(_ => VirtualNetwork.CreateAsync(3))))
            {
                networks.Add(network);
            }
            var clusters = await Task.WhenAll(configs.Select((c, i) =>
                NetworkNodes.StartMeshAsync(networks[i], Secret, "--heartbeat", c.HeartbeatMs.ToString(CultureInfo.InvariantCulture), "--threshold", "3")));
            var echoes = await Task.WhenAll(clusters.Select(nodes => Task.WhenAll(nodes.Select(n => n.StartEchoAsync()))));
            var marks = clusters.Select(nodes => nodes.Select(n => n.Mark()).ToArray()).ToArray();

            for (var i = 0; i < configs.Length; i++)
            {
                foreach (var host in networks[i].Hosts)
                {
                    networks[i].SetLoss(host, configs[i].LossPercent);
                }
            }
            var pairs = (from a in Enumerable.Range(0, 3) from b in Enumerable.Range(0, 3) where a != b select (From: a, To: b)).ToArray();
            var flows = await Task.WhenAll(clusters.Select((nodes, i) => Task.WhenAll(pairs.Select(p =>
                nodes[p.From].FlowAsync(nodes[p.To].Id, echoes[i][p.To], s_flow, s_callTimeout, s_pause)))));
            var ends = clusters.Select(nodes => nodes.Select(n => n.Mark()).ToArray()).ToArray();
            foreach (var network in networks)
            {
                foreach (var host in network.Hosts)
                {
                    network.SetLoss(host, 0);
                }
            }

            for (var i = 0; i < configs.Length; i++)
            {
                var downs = clusters[i].SelectMany((n, j) => n.PeerEvents(marks[i][j], ends[i][j]).Where(e => !e.Up)).ToArray();
                var all = flows[i];
                var errors = all.SelectMany(f => f.Errors).GroupBy(e => e.Key).Select(g => $"{g.Key} x{g.Sum(e => e.Value)}");
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"loss {configs[i].LossPercent}%, heartbeat {configs[i].HeartbeatMs} ms × 3: {downs.Length} false downs" +
                    $"{(downs.Length == 0 ? "" : $" ({string.Join(", ", downs.GroupBy(d => d.Reason).Select(g => $"{g.Key} x{g.Count()}"))})")}; " +
                    $"calls {all.Sum(f => f.Ok)} ok, {all.Sum(f => f.Failed)} failed [{string.Join(", ", errors)}], {all.Sum(f => f.Hung)} hung; " +
                    $"p50 {all.Select(f => f.P50Micros).Order().ElementAt(all.Length / 2) / 1000:0.00} ms, worst p99 {all.Max(f => f.P99Micros) / 1000:0.0} ms, max {all.Max(f => f.MaxMicros) / 1000:0.0} ms"));
            }
            foreach (var flow in flows.SelectMany(f => f))
            {
                Assert.Equal(0, flow.Hung);
                Assert.DoesNotContain(flow.Errors.Keys, type => type.StartsWith("untyped:", StringComparison.Ordinal));
                Assert.True(flow.Ok > 0, $"no call succeeded: {flow}");
            }

            // Recovery: a full mesh again, and calls that go through.
            await Task.WhenAll(clusters.Select(nodes => NodeHostCommands.WaitForFullMeshAsync(nodes, NetworkNodes.MeshBound)));
            var after = await Task.WhenAll(clusters.Select((nodes, i) => Task.WhenAll(pairs.Select(p =>
                nodes[p.From].CallAsync(nodes[p.To].Id, echoes[i][p.To], 5, s_callTimeout)))));
            Assert.All(after.SelectMany(a => a), calls => Assert.Equal(5, calls.Ok));
        }
        finally
        {
            foreach (var network in networks)
            {
                await network.DisposeAsync();
            }
        }
    }
}
