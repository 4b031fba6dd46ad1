namespace Noex.Lite;

/// <summary>
/// A static facade over one default <see cref="Node"/> per process, for programs that want their node reachable from
/// anywhere without passing it around (<c>await Cluster.StartAsync(...)</c>, <c>Cluster.LocalNodeId</c>,
/// <c>Cluster.OnNodeUp(...)</c>).
/// </summary>
/// <remarks>
/// Thread-safe. Everything here forwards to <see cref="Default"/>; programs that run several nodes (tests, simulations)
/// use <see cref="Node"/> objects directly. While the default node runs, <see cref="ProcessRuntime.Default"/> (behind the
/// static <see cref="GenServers"/> facade) is that node's runtime, so <c>GenServers.CallAsync</c> reaches other nodes.
/// </remarks>
public static class Cluster
{
    private static readonly Lock s_lock = new();
    private static Node? s_default;
    private static Task<Node>? s_starting;

    /// <summary>The default node.</summary>
    /// <exception cref="ClusterNotStartedException">No default node is running.</exception>
    public static Node Default => Volatile.Read(ref s_default) ?? throw new ClusterNotStartedException();

    /// <summary>Whether the default node is running.</summary>
    public static bool IsRunning => Volatile.Read(ref s_default) is not null;

    /// <summary>The default node's id.</summary>
    /// <exception cref="ClusterNotStartedException">No default node is running.</exception>
    public static NodeId LocalNodeId => Default.Id;

    /// <summary>Starts the default node.</summary>
    /// <param name="options">Its configuration.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The node.</returns>
    /// <exception cref="InvalidOperationException">The default node is already running or starting.</exception>
    /// <exception cref="InvalidClusterConfigException">An option is invalid.</exception>
    public static async Task<Node> StartAsync(NodeOptions options, CancellationToken cancellationToken = default)
    {
        Task<Node> start;
        lock (s_lock)
        {
            if (s_default is not null || s_starting is not null)
            {
                throw new InvalidOperationException("The cluster is already running; stop it before starting it again.");
            }
            start = s_starting = Node.StartAsync(options, cancellationToken);
        }
        try
        {
            var node = await start.ConfigureAwait(false);
            Volatile.Write(ref s_default, node);
            // GenServers' calls and casts use the default runtime: make it this node's, so that remote refs route.
            ProcessRuntime.DefaultOverride = node.Runtime;
            return node;
        }
        finally
        {
            lock (s_lock)
            {
                s_starting = null;
            }
        }
    }

    /// <summary>Stops the default node gracefully (peers see graceful_shutdown). Does nothing if it is not running.</summary>
    /// <param name="cancellationToken">Cuts the graceful part short.</param>
    public static async Task StopAsync(CancellationToken cancellationToken = default)
    {
        var node = Interlocked.Exchange(ref s_default, null);
        if (node is not null)
        {
            ProcessRuntime.DefaultOverride = null;
            await node.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Calls <paramref name="handler"/> when a node connects; dispose the result to unsubscribe.</summary>
    /// <exception cref="ClusterNotStartedException">No default node is running.</exception>
    public static IDisposable OnNodeUp(Action<NodeInfo> handler)
    {
        var node = Default;
        node.NodeUp += handler;
        return new Subscription(() => node.NodeUp -= handler);
    }

    /// <summary>Calls <paramref name="handler"/> when a node is lost, with the reason and its cause; dispose the result to unsubscribe.</summary>
    /// <exception cref="ClusterNotStartedException">No default node is running.</exception>
    public static IDisposable OnNodeDown(Action<NodeDownEvent> handler)
    {
        var node = Default;
        node.NodeDown += handler;
        return new Subscription(() => node.NodeDown -= handler);
    }

    /// <summary>The default node's cluster-wide names (<see cref="Node.GlobalRegistry"/>).</summary>
    /// <exception cref="ClusterNotStartedException">No default node is running.</exception>
    public static GlobalRegistry GlobalRegistry => Default.GlobalRegistry;

    /// <summary>Every node the default node knows of.</summary>
    public static IReadOnlyList<NodeInfo> GetNodes() => Default.GetNodes();

    /// <summary>The nodes the default node is connected to.</summary>
    public static IReadOnlyList<NodeInfo> GetConnectedNodes() => Default.GetConnectedNodes();

    private sealed class Subscription(Action unsubscribe) : IDisposable
    {
        private Action? _unsubscribe = unsubscribe;

        public void Dispose() => Interlocked.Exchange(ref _unsubscribe, null)?.Invoke();
    }
}

/// <summary>The default node is not running.</summary>
public sealed class ClusterNotStartedException : NoexException
{
    /// <summary>Creates the exception.</summary>
    public ClusterNotStartedException()
        : base("The cluster is not running: call Cluster.StartAsync first.")
    {
    }
}
