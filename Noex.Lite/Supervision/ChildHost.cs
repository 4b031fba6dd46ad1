namespace Noex.Lite;

/// <summary>
/// Where a distributed supervisor's children actually run: spawning a registered behaviour on a node, stopping a child
/// anywhere, and watching one until it ends. The supervisor's placement and restart logic sees only this.
/// </summary>
/// <remarks>
/// The production host (<see cref="ClusterChildHost"/>) uses the node's spawn API, remote stop and monitors; a test
/// may put its own behind a supervisor to drive the logic alone.
/// </remarks>
internal interface IChildHost
{
    /// <summary>Whether the supervisor's node knows the behaviour; it refuses a child of one it does not.</summary>
    bool HasBehavior(string behavior);

    /// <summary>Starts <paramref name="behavior"/> on <paramref name="node"/> with <paramref name="args"/>, registering <paramref name="globalName"/> cluster-wide if given.</summary>
    Task<ProcessRef> SpawnAsync(NodeId node, string behavior, Value args, string? globalName, TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Stops a child with <c>shutdown</c>, killing it after <paramref name="timeout"/>. Never throws: a child already gone, or unreachable, is done.</summary>
    Task StopAsync(ProcessRef child, TimeSpan timeout);

    /// <summary>
    /// Calls <paramref name="onDown"/> exactly once when <paramref name="child"/> ends, with its reason (<c>noproc</c> if it is
    /// already gone, <c>noconnection</c> if its node is lost), unless the returned handle is disposed first.
    /// </summary>
    IDisposable Watch(ProcessRef child, Action<ExitReason> onDown);

    /// <summary>Makes <paramref name="name"/> point at <paramref name="owner"/> again if something else holds it (after a partition heals).</summary>
    void ReclaimName(string name, ProcessRef owner);

    /// <summary>Releases what the host holds (its watcher process).</summary>
    ValueTask DisposeAsync();
}

/// <summary>
/// The production <see cref="IChildHost"/>: children are spawned through <see cref="Node.SpawnAsync"/> (the behaviour
/// registry on the target node), stopped through the runtime (a remote stop for another node's process), and watched by
/// monitors held by one small local process, whose down messages are the only liveness signal (nothing polls).
/// </summary>
internal sealed class ClusterChildHost : IChildHost
{
    private readonly Node _node;
    private readonly Lock _lock = new();
    private readonly Dictionary<long, Action<ExitReason>> _watches = new();
    private readonly Dictionary<long, ExitReason> _early = new();
    private ProcessRef _watcher;

    private ClusterChildHost(Node node) => _node = node;

    /// <summary>Starts the host's watcher process on <paramref name="node"/>.</summary>
    public static async Task<ClusterChildHost> StartAsync(Node node, CancellationToken cancellationToken)
    {
        var host = new ClusterChildHost(node);
        host._watcher = await node.Runtime.StartAsync(new Watcher(host), cancellationToken: cancellationToken).ConfigureAwait(false);
        return host;
    }

    public bool HasBehavior(string behavior) => _node.Behaviors.Has(behavior);

    public async Task<ProcessRef> SpawnAsync(NodeId node, string behavior, Value args, string? globalName, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var spawned = await _node.SpawnAsync(behavior, node, new SpawnOptions
        {
            Args = args,
            Name = globalName,
            Registration = globalName is null ? SpawnRegistration.None : SpawnRegistration.Global,
            SpawnTimeout = timeout,
        }, cancellationToken).ConfigureAwait(false);
        // A remote spawn completes on the connection's read loop, which acknowledges the spawn only after this
        // continuation returns; leave that thread at once so the supervisor's work does not hold the ack back.
        await Task.Yield();
        return spawned;
    }

    public async Task StopAsync(ProcessRef child, TimeSpan timeout)
    {
        using var limit = new CancellationTokenSource(timeout, _node.Options.TimeProvider);
        try
        {
            await _node.Runtime.StopAsync(child, ExitReason.Shutdown, limit.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NoexException or OperationCanceledException)
        {
            // Gone already, unreachable, or too slow: kill it (an exit signal `killed` crosses the wire for a remote
            // one). One beyond reach is the partition policy's business: it is stopped when its node comes back.
            if (!_node.Runtime.Kill(child))
            {
                _node.Runtime.Exit(child, ExitReason.Killed);
            }
        }
    }

    public IDisposable Watch(ProcessRef child, Action<ExitReason> onDown)
    {
        // Transparent across nodes: an unreachable node is a down message noconnection, never an exception.
        var monitor = _node.Runtime.Monitor(_watcher, child);
        ExitReason early;
        lock (_lock)
        {
            if (!_early.Remove(monitor.Id, out early))
            {
                _watches[monitor.Id] = onDown;
                return new Unwatch(this, monitor);
            }
        }
        // The down message beat the registration (noproc, noconnection): deliver it now.
        onDown(early);
        return new Unwatch(this, monitor);
    }

    public void ReclaimName(string name, ProcessRef owner) => _ = ReclaimNameAsync(name, owner);

    private async Task ReclaimNameAsync(string name, ProcessRef owner)
    {
        var registry = _node.GlobalRegistry;
        // The stale holder's name goes when its stop is seen (slow on a loaded machine): try for up to 30 s, then leave it.
        for (var attempt = 0; attempt < 300 && _node.Runtime.IsAlive(_watcher); attempt++)
        {
            var holder = registry.Whereis(name);
            if (holder == owner)
            {
                return;
            }
            if (holder is null)
            {
                try
                {
                    registry.Register(name, owner);
                    return;
                }
                catch (NoexException)
                {
                    // Taken meanwhile, or the owner's node unreachable: look again shortly.
                }
            }
            await Task.Delay(TimeSpan.FromMilliseconds(100), _node.Options.TimeProvider).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _node.Runtime.StopAsync(_watcher, ExitReason.Shutdown).ConfigureAwait(false);
        }
        catch (NoexException)
        {
        }
    }

    private void OnDown(MonitorRef monitor, ExitReason reason)
    {
        Action<ExitReason>? handler;
        lock (_lock)
        {
            if (!_watches.Remove(monitor.Id, out handler))
            {
                _early[monitor.Id] = reason;
                return;
            }
        }
        handler(reason);
    }

    private sealed class Unwatch(ClusterChildHost host, MonitorRef monitor) : IDisposable
    {
        public void Dispose()
        {
            lock (host._lock)
            {
                host._watches.Remove(monitor.Id);
                host._early.Remove(monitor.Id);
            }
            host._node.Runtime.Demonitor(monitor);
        }
    }

    /// <summary>The process that holds the monitors and hands their down messages to the host.</summary>
    private sealed class Watcher(ClusterChildHost host) : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<int> HandleInfoAsync(InfoMessage info, int state)
        {
            if (info.Kind == InfoKind.Down)
            {
                host.OnDown(info.Monitor, info.Reason);
            }
            return new(state);
        }
    }
}
