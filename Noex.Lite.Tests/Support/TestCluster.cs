namespace Noex.Lite.Tests;

/// <summary>
/// Nodes on loopback started for one test and joined into one cluster: the first alone, every other with the first as
/// its seed (gossip makes the full mesh). Ready when every node sees every other as connected. Disposing stops the nodes,
/// the last started first (stopping one the test stopped already is harmless), then their proxies.
/// </summary>
/// <remarks>
/// With <c>proxied</c>, each node advertises a <see cref="FaultProxy"/> of its own, so that every connection to it,
/// whoever dials, crosses that proxy: a test can blackhole, pause, throttle, cut or reset the links of one node.
/// </remarks>
internal sealed class TestCluster : IAsyncDisposable
{
    private readonly List<Node> _nodes = [];
    private readonly List<FaultProxy> _proxies = [];

    private TestCluster()
    {
    }

    public Node this[int index] => _nodes[index];

    /// <summary>The nodes in the order they started; the first is everyone's seed.</summary>
    public IReadOnlyList<Node> Nodes => _nodes;

    /// <summary>Each node's proxy, in the nodes' order (empty unless started with <c>proxied</c>).</summary>
    public IReadOnlyList<FaultProxy> Proxies => _proxies;

    /// <summary>
    /// Starts <paramref name="count"/> nodes named a, b, c, ... with <see cref="TestNodes.Options"/> and the test class's
    /// own <paramref name="secret"/>, each changed by <paramref name="configure"/> (which sees the node's name in its options).
    /// </summary>
    public static Task<TestCluster> StartAsync(int count, string secret, Func<NodeOptions, NodeOptions>? configure = null, bool proxied = false) =>
        StartAsync([.. Enumerable.Range(0, count).Select(i => ((char)('a' + i)).ToString())], secret, configure, proxied);

    /// <summary>Starts one node for each of <paramref name="names"/>, in that order, the first being the seed.</summary>
    public static async Task<TestCluster> StartAsync(string[] names, string secret, Func<NodeOptions, NodeOptions>? configure = null, bool proxied = false)
    {
        var cluster = new TestCluster();
        try
        {
            foreach (var name in names)
            {
                string[] seeds = cluster._nodes.Count == 0 ? [] : [cluster._nodes[0].Id.ToString()];
                var options = TestNodes.Options(name, secret, seeds);
                options = configure?.Invoke(options) ?? options;
                FaultProxy? proxy = null;
                if (proxied)
                {
                    proxy = FaultProxy.Start();
                    cluster._proxies.Add(proxy);
                    options = options with { AdvertisedPort = proxy.Port };
                }
                var node = await Node.StartAsync(options);
                cluster._nodes.Add(node);
                if (proxy is not null)
                {
                    proxy.TargetPort = node.ListenPort;
                }
            }
            await Wait.UntilAsync(cluster.IsFullMesh);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>Whether every node sees every other as connected.</summary>
    public bool IsFullMesh() => _nodes.All(n => _nodes.All(m => m == n || n.IsConnected(m.Id)));

    public void Deconstruct(out Node a, out Node b)
    {
        Assert.Equal(2, _nodes.Count);
        (a, b) = (_nodes[0], _nodes[1]);
    }

    public void Deconstruct(out Node a, out Node b, out Node c)
    {
        Assert.Equal(3, _nodes.Count);
        (a, b, c) = (_nodes[0], _nodes[1], _nodes[2]);
    }

    public void Deconstruct(out Node a, out Node b, out FaultProxy proxyA, out FaultProxy proxyB)
    {
        Assert.Equal(2, _proxies.Count);
        (a, b, proxyA, proxyB) = (_nodes[0], _nodes[1], _proxies[0], _proxies[1]);
    }

    public async ValueTask DisposeAsync()
    {
        for (var i = _nodes.Count - 1; i >= 0; i--)
        {
            await _nodes[i].DisposeAsync();
        }
        for (var i = _proxies.Count - 1; i >= 0; i--)
        {
            await _proxies[i].DisposeAsync();
        }
    }
}
