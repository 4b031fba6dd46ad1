namespace Noex.Lite.Testing;

/// <summary>
/// Nodes on loopback in this process, started for one test and joined into one cluster: the first alone, every other with
/// the first as its seed (gossip makes the full mesh). Ready when every node sees every other as connected. Disposing stops
/// the nodes, the last started first (stopping one the test stopped already is harmless), then their proxies.
/// </summary>
/// <remarks>
/// Started <c>proxied</c>, each node advertises a <see cref="FaultProxy"/> of its own, so that every connection to it,
/// whoever dials, crosses that proxy: a test can black-hole, pause, throttle, corrupt or reset the links of one node, and
/// <see cref="Partition"/> cuts exactly the links between groups of named nodes.
/// </remarks>
public sealed class TestCluster : IAsyncDisposable
{
    private readonly List<Node> _nodes = [];
    private readonly List<FaultProxy> _proxies = [];
    private readonly HashSet<(int Target, string Dialer)> _cuts = [];
    private readonly Lock _lock = new();

    private TestCluster()
    {
    }

    /// <summary>The node started <paramref name="index"/>th (0 is the seed).</summary>
    public Node this[int index] => _nodes[index];

    /// <summary>The node named <paramref name="name"/>.</summary>
    public Node this[string name] => _nodes[IndexOf(name)];

    /// <summary>The nodes in the order they started; the first is everyone's seed.</summary>
    public IReadOnlyList<Node> Nodes => _nodes;

    /// <summary>Each node's proxy, in the nodes' order (empty unless started with <c>proxied</c>).</summary>
    public IReadOnlyList<FaultProxy> Proxies => _proxies;

    /// <summary>
    /// Starts <paramref name="count"/> nodes named a, b, c, ... with <see cref="TestNodes.Options"/> and the caller's own
    /// <paramref name="secret"/> (so that concurrent tests never join each other's clusters), each changed by
    /// <paramref name="configure"/> (which sees the node's name in its options).
    /// </summary>
    public static Task<TestCluster> StartAsync(int count, string secret, Func<NodeOptions, NodeOptions>? configure = null, bool proxied = false) =>
        StartAsync([.. Enumerable.Range(0, count).Select(i => ((char)('a' + i)).ToString())], secret, configure, proxied);

    /// <summary>Starts one node for each of <paramref name="names"/>, in that order, the first being the seed.</summary>
    public static async Task<TestCluster> StartAsync(string[] names, string secret, Func<NodeOptions, NodeOptions>? configure = null, bool proxied = false)
    {
        ArgumentNullException.ThrowIfNull(names);
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
                var node = await Node.StartAsync(options).ConfigureAwait(false);
                cluster._nodes.Add(node);
                if (proxy is not null)
                {
                    proxy.TargetPort = node.ListenPort;
                }
            }
            await cluster.WaitForMeshAsync().ConfigureAwait(false);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Whether every node sees every other as connected.</summary>
    public bool IsFullMesh() => _nodes.All(n => _nodes.All(m => m == n || n.IsConnected(m.Id)));

    /// <summary>Waits until every node sees every other as connected (within <see cref="Bounded.Wait"/>).</summary>
    public Task WaitForMeshAsync(CancellationToken cancellationToken = default) =>
        Wait.UntilAsync(IsFullMesh, cancellationToken: cancellationToken);

    /// <summary>The proxy in front of the node named <paramref name="name"/>.</summary>
    public FaultProxy ProxyOf(string name) => _proxies.Count > 0
        ? _proxies[IndexOf(name)]
        : throw new InvalidOperationException("this cluster was started without proxies (proxied: false)");

    /// <summary>
    /// Splits the cluster: every link between nodes of different <paramref name="groups"/> goes silent both ways (bytes
    /// held, sockets open: a partition the OS cannot see, found only by the heartbeats), and so does every later dial
    /// across; links inside a group and links of nodes in no group stay up. Needs a <c>proxied</c> cluster. Cumulative
    /// with earlier calls until <see cref="Heal"/>.
    /// </summary>
    public void Partition(params IReadOnlyCollection<string>[] groups)
    {
        ArgumentNullException.ThrowIfNull(groups);
        var named = groups.SelectMany(g => g).ToList();
        if (named.Distinct(StringComparer.Ordinal).Count() != named.Count)
        {
            throw new ArgumentException("a node may be in one group only", nameof(groups));
        }
        for (var i = 0; i < groups.Length; i++)
        {
            for (var j = 0; j < groups.Length; j++)
            {
                if (i != j)
                {
                    foreach (var x in groups[i])
                    {
                        foreach (var y in groups[j])
                        {
                            Cut(target: x, dialer: y);
                        }
                    }
                }
            }
        }
    }

    /// <summary>Cuts the node named <paramref name="name"/> off from every other (a partition of one).</summary>
    public void Isolate(string name) =>
        Partition([name], [.. _nodes.Select(n => n.Id.Name).Where(n => n != name)]);

    /// <summary>Mends every link <see cref="Partition"/> or <see cref="Isolate"/> cut; the nodes find each other again.</summary>
    public void Heal()
    {
        lock (_lock)
        {
            foreach (var (target, dialer) in _cuts)
            {
                _proxies[target].Mend(dialer);
            }
            _cuts.Clear();
        }
    }

    /// <summary>Holds the connections <paramref name="dialer"/> makes to <paramref name="target"/>.</summary>
    private void Cut(string target, string dialer)
    {
        var index = IndexOf(target);
        if (_proxies.Count == 0)
        {
            throw new InvalidOperationException("a partition needs a cluster started with proxied: true");
        }
        lock (_lock)
        {
            _cuts.Add((index, dialer));
            _proxies[index].Cut(dialer);
        }
    }

    private int IndexOf(string name)
    {
        var index = _nodes.FindIndex(n => n.Id.Name == name);
        return index >= 0 ? index : throw new ArgumentException($"no node named '{name}' in this cluster", nameof(name));
    }

    /// <summary>The two nodes of a two-node cluster.</summary>
    public void Deconstruct(out Node a, out Node b)
    {
        Expect(_nodes.Count, 2, "nodes");
        (a, b) = (_nodes[0], _nodes[1]);
    }

    /// <summary>The three nodes of a three-node cluster.</summary>
    public void Deconstruct(out Node a, out Node b, out Node c)
    {
        Expect(_nodes.Count, 3, "nodes");
        (a, b, c) = (_nodes[0], _nodes[1], _nodes[2]);
    }

    /// <summary>The two nodes of a proxied two-node cluster and their proxies.</summary>
    public void Deconstruct(out Node a, out Node b, out FaultProxy proxyA, out FaultProxy proxyB)
    {
        Expect(_proxies.Count, 2, "proxies");
        (a, b, proxyA, proxyB) = (_nodes[0], _nodes[1], _proxies[0], _proxies[1]);
    }

    private static void Expect(int actual, int expected, string what)
    {
        if (actual != expected)
        {
            throw new InvalidOperationException($"this cluster has {actual} {what}, not {expected}");
        }
    }

    /// <summary>Stops the nodes, the last started first, then the proxies.</summary>
    public async ValueTask DisposeAsync()
    {
        for (var i = _nodes.Count - 1; i >= 0; i--)
        {
            await _nodes[i].DisposeAsync().ConfigureAwait(false);
        }
        for (var i = _proxies.Count - 1; i >= 0; i--)
        {
            await _proxies[i].DisposeAsync().ConfigureAwait(false);
        }
    }
}
