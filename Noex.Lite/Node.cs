using System.Diagnostics.Tracing;
using System.Net;
using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>
/// A Noex.Lite node: a member of a cluster that dials its seeds, authenticates its peers, keeps one connection to each,
/// notices failures and tells you. One process can run several (tests do); the static <see cref="Cluster"/> runs one.
/// </summary>
/// <remarks>
/// <para>
/// Start it with <see cref="StartAsync"/> and stop it with <see cref="StopAsync"/> or <c>await using</c>. Seeds are dialled
/// and redialled with backoff until they answer; gossip spreads every known node so that the cluster becomes a full mesh;
/// a connection silent for <see cref="NodeOptions.HeartbeatInterval"/> × <see cref="NodeOptions.HeartbeatMissThreshold"/>
/// is closed as <see cref="NodeDownReason.HeartbeatTimeout"/>; a node that comes back is reconnected.
/// </para>
/// <para>
/// Events are raised synchronously, one at a time and in order (a node's down before its next up); handlers must be quick
/// and must not block, and their exceptions are swallowed so that one bad handler cannot stop the node.
/// </para>
/// </remarks>
public sealed class Node : IAsyncDisposable
{
    private readonly Mesh _mesh;
    private readonly RemoteCall _remote;
    private readonly SpawnService _spawns;
    private int _stopState;
    private int _state; // a NodeState; it only moves forward

    private Node(NodeOptions options, NodeId id, Socket listener, int listenPort)
    {
        ListenPort = listenPort;
        // Processes woken on a read thread take their turn in the read's batch, or there on an inline node (ReadThreadScheduler).
        var scheduler = ReadThreadScheduler.Mailboxes;
        Runtime = new ProcessRuntime(new ProcessRuntimeOptions
        {
            Name = id.ToString(), TimeProvider = options.TimeProvider,
            MailboxCapacity = options.MailboxCapacity, MailboxOverflow = options.MailboxOverflow,
        }, scheduler);
        _mesh = new Mesh(options, id, listener, Runtime);
        // Each service owns a message type range of protocol.md §5 and sees only what INodeContext offers of the node.
        _remote = new RemoteCall(_mesh);
        GlobalRegistry = new GlobalRegistry(_mesh);
        _spawns = new SpawnService(_mesh, new BehaviorRegistry(), GlobalRegistry);
        Monitors = new RemoteMonitor(_mesh);
        Links = new RemoteLink(_mesh);
        Observer = new ClusterObserver(_mesh);
        Reach = new Reachability(_mesh);
        _mesh.AddService(RemoteCall.FirstType, RemoteCall.LastType, _remote);
        _mesh.AddService(SpawnService.FirstType, SpawnService.LastType, _spawns);
        _mesh.AddService(GlobalRegistry.FirstType, GlobalRegistry.LastType, GlobalRegistry);
        _mesh.AddService(RemoteMonitor.FirstType, RemoteMonitor.LastType, Monitors);
        _mesh.AddService(RemoteLink.FirstType, RemoteLink.LastType, Links);
        _mesh.AddService(ClusterObserver.FirstType, ClusterObserver.LastType, Observer);
        _mesh.AddService(Reachability.FirstType, Reachability.LastType, Reach);
        // The process layer's ports: where its calls, stops and signals to other nodes' processes go.
        Runtime.Router = _remote;
        Runtime.RemoteStops = _spawns;
        Runtime.Signals = new RemoteSignals(Monitors, Links);
    }

    /// <summary>How many heartbeat ticks the node has run (for tests that wait for ticks rather than time).</summary>
    internal int TickCount => _mesh.TickCount;

    /// <summary>
    /// The node's processes. Its calls and casts are routed transparently: a ref of another node goes over the cluster.
    /// </summary>
    public ProcessRuntime Runtime { get; }

    /// <summary>Cluster-wide process names, the same on every node (protocol.md §5.4).</summary>
    public GlobalRegistry GlobalRegistry { get; }

    /// <summary>Monitors across nodes (<see cref="ProcessRuntime.Monitor"/> reaches it transparently).</summary>
    public RemoteMonitor Monitors { get; }

    /// <summary>Links across nodes (<see cref="ProcessRuntime.Link"/> reaches it transparently).</summary>
    public RemoteLink Links { get; }

    /// <summary>Cluster-wide statistics: this node's and every connected node's load, traffic and memory.</summary>
    public ClusterObserver Observer { get; }

    /// <summary>Asks peers whether they reach a node this one lost (distributed supervision's check, protocol.md §5.6).</summary>
    internal Reachability Reach { get; }

    /// <summary>The options the node was started with.</summary>
    public NodeOptions Options => _mesh.Options;

    /// <summary>This node's id, <c>name@host:port</c> (with the real port when <see cref="NodeOptions.Port"/> is 0).</summary>
    public NodeId Id => _mesh.Id;

    /// <summary>The port the listener is bound to (the id's port unless <see cref="NodeOptions.AdvertisedPort"/> is set).</summary>
    public int ListenPort { get; }

    /// <summary>This run's incarnation: a restarted node keeps its id but gets a new, normally greater, incarnation.</summary>
    public ulong Incarnation => _mesh.Incarnation;

    /// <summary>How long the node has been running.</summary>
    public TimeSpan Uptime => _mesh.Uptime;

    /// <summary>The behaviours peers may spawn on this node.</summary>
    public BehaviorRegistry Behaviors => _spawns.Behaviors;

    /// <summary>
    /// Where the node is in its life: <see cref="NodeState.Running"/> from the return of <see cref="StartAsync"/>,
    /// <see cref="NodeState.Stopping"/> once <see cref="StopAsync"/> begins, <see cref="NodeState.Stopped"/> when it has
    /// finished. For a health check, <see cref="GetHealth"/> says more.
    /// </summary>
    public NodeState State => (NodeState)Volatile.Read(ref _state);

    /// <summary>
    /// The node's <see cref="State"/> changed (to <see cref="NodeState.Stopping"/>, then <see cref="NodeState.Stopped"/>: a
    /// node is running by the time anyone can subscribe). Raised on the thread that stops the node.
    /// </summary>
    public event Action<NodeState>? StateChanged;

    /// <summary>
    /// What a health check needs, in one snapshot: the node's state, how many of its seeds and other nodes it is connected
    /// to, and whether it sees a quorum. <see cref="NodeHealth"/> suggests how to map it to liveness and readiness.
    /// </summary>
    /// <returns>A snapshot; cheap enough to take on every probe (a lock and a count over the members).</returns>
    public NodeHealth GetHealth() => _mesh.GetHealth(State);

    /// <summary>
    /// A cast was not delivered: raised on the sending node when the target's node is unreachable or the queue to it is
    /// full, and on the target's node when the process is gone or its mailbox refused it. Counted in
    /// <see cref="RemoteDeadLetters"/> (sender) or <see cref="ProcessRuntime.DeadLetters"/> (target's node).
    /// </summary>
    public event Action<DeadLetterEvent>? DeadLetter
    {
        add => _mesh.DeadLetter += value;
        remove => _mesh.DeadLetter -= value;
    }

    /// <summary>A node connected (or reconnected), after its handshake. Raised once per connection.</summary>
    public event Action<NodeInfo>? NodeUp
    {
        add => _mesh.NodeUp += value;
        remove => _mesh.NodeUp -= value;
    }

    /// <summary>
    /// A connected node was lost: the event names the node, the reason, and what caused it (the socket error, the
    /// protocol violation, how long it was silent). Raised once per session, never twice for one loss, and always before
    /// the node's next <see cref="NodeUp"/>.
    /// </summary>
    public event Action<NodeDownEvent>? NodeDown
    {
        add => _mesh.NodeDown += value;
        remove => _mesh.NodeDown -= value;
    }

    /// <summary>
    /// A node stopped being a member: it said goodbye, stayed unreachable for <see cref="NodeOptions.RemoveUnreachableAfter"/>,
    /// was forgotten (<see cref="Forget"/>) or its address now answers as another node. It is no longer redialled or
    /// gossiped; its next connection is a fresh join. Raised after the node's <see cref="NodeDown"/>, if it was up.
    /// </summary>
    public event Action<NodeRemovedEvent>? NodeRemoved
    {
        add => _mesh.NodeRemoved += value;
        remove => _mesh.NodeRemoved -= value;
    }

    /// <summary>
    /// A connection that was up has closed, with its reason and cause: every one, including those this node closes as it
    /// stops (<see cref="NodeDownReason.LocalShutdown"/>), for which no <see cref="NodeDown"/> is raised.
    /// </summary>
    public event Action<ConnectionClosedEvent>? ConnectionClosed
    {
        add => _mesh.ConnectionClosed += value;
        remove => _mesh.ConnectionClosed -= value;
    }

    /// <summary>
    /// A connection failed its handshake: a wrong secret, a wrong node at a seed address, a timeout, a connection refused
    /// because <see cref="NodeOptions.MaxPendingHandshakes"/> were in progress (<see cref="HandshakeFailure.Busy"/>), ...
    /// The exception names the failure, the peer or where the connection came from, and whether the peer refused it.
    /// </summary>
    public event Action<HandshakeException>? HandshakeFailed
    {
        add => _mesh.HandshakeFailed += value;
        remove => _mesh.HandshakeFailed -= value;
    }

    /// <summary>Starts a node: binds its port, starts accepting, and begins dialling its seeds.</summary>
    /// <param name="options">The configuration; validated here.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running node.</returns>
    /// <exception cref="InvalidClusterConfigException">An option is invalid; the exception names it.</exception>
    /// <exception cref="NoexException">The port cannot be bound (for example, it is in use).</exception>
    public static Task<Node> StartAsync(NodeOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        cancellationToken.ThrowIfCancellationRequested();
        options.Validate();
        Socket listener;
        try
        {
            listener = Transport.Listen(options);
        }
        catch (SocketException e)
        {
            throw new NoexException($"Cannot listen on {options.Host}:{options.Port}: {e.SocketErrorCode} (is another node or program using the port?)", e);
        }
        var port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var node = new Node(options, NodeId.Create(options.Name, options.EffectiveAdvertisedHost, options.AdvertisedPort ?? port), listener, port);
        var seeds = options.ParseSeeds();
        if (NoexLog.Log.IsEnabled(EventLevel.Informational))
        {
            NoexLog.Log.NodeStarting(node.Id.ToString(), listener.LocalEndPoint?.ToString() ?? "", seeds.Count);
        }
        node._mesh.Start(seeds);
        node.MoveTo(NodeState.Running);
        if (NoexLog.Log.IsEnabled(EventLevel.Informational))
        {
            NoexLog.Log.NodeStarted(node.Id.ToString(), node.Incarnation, options.Protocol.Min, options.Protocol.Max);
        }
        return Task.FromResult(node);
    }

    /// <summary>
    /// Spawns <paramref name="behavior"/> on <paramref name="target"/>: the target makes a server with the factory
    /// registered under that name in its <see cref="Behaviors"/>, runs init with <see cref="SpawnOptions.Args"/>,
    /// registers the name as asked and returns the new process's ref. Spawning on this node's own id works locally,
    /// with the same errors.
    /// </summary>
    /// <param name="behavior">A behaviour name registered on the target node.</param>
    /// <param name="target">The node to spawn on.</param>
    /// <param name="options">Name, registration, spawn and init timeouts, init args; null for the defaults.</param>
    /// <param name="cancellationToken">Abandons the spawn; anything it started on the target is stopped.</param>
    /// <returns>The new process, once its init succeeded and its name is registered.</returns>
    /// <remarks>
    /// No failure leaves a process running, nor does a success that arrives after the caller gave up (protocol.md §5.3).
    /// If the link to the target fails mid-spawn, the spawn fails at once with <see cref="NodeNotReachableException"/>.
    /// </remarks>
    /// <exception cref="BehaviorNotFoundException">The target has no such behaviour.</exception>
    /// <exception cref="RemoteSpawnInitException">Init threw (or the factory did).</exception>
    /// <exception cref="RemoteSpawnInitTimeoutException">Init took longer than <see cref="SpawnOptions.InitTimeout"/>.</exception>
    /// <exception cref="RemoteSpawnTimeoutException">No answer within <see cref="SpawnOptions.SpawnTimeout"/>.</exception>
    /// <exception cref="RemoteSpawnRegistrationException">The name is taken.</exception>
    /// <exception cref="NodeNotReachableException">The target is not connected, or went down mid-spawn.</exception>
    /// <exception cref="NodeOverloadedException">The outbound queue to the target is full.</exception>
    /// <exception cref="ValueCodecException">The args cannot be encoded.</exception>
    /// <exception cref="ArgumentException">The behaviour name or an option is invalid.</exception>
    public Task<ProcessRef> SpawnAsync(string behavior, NodeId target, SpawnOptions? options = null, CancellationToken cancellationToken = default) =>
        _spawns.SpawnAsync(behavior, target, options, cancellationToken);

    /// <summary>Spawns and remote stops this node waits on, and spawns it runs for peers (for tests: zero when idle).</summary>
    internal (int Spawns, int Stops, int Incoming) PendingSpawnCounts => _spawns.PendingCounts;

    /// <summary>Every node this one knows of, connected or not.</summary>
    public IReadOnlyList<NodeInfo> GetNodes() => _mesh.GetNodes();

    /// <summary>The nodes connected now.</summary>
    public IReadOnlyList<NodeInfo> GetConnectedNodes() => _mesh.GetNodes().Where(n => n.Status == NodeStatus.Connected).ToArray();

    /// <summary>What this node knows of <paramref name="id"/>, or null.</summary>
    public NodeInfo? GetNode(NodeId id) => _mesh.GetNode(id);

    /// <summary>
    /// Removes a member that is not connected, at once (an operator knows it is gone for good): it is no longer redialled
    /// or gossiped, and it stops counting towards the majority (<see cref="NodeOptions.QuorumSize"/>). Raises
    /// <see cref="NodeRemoved"/> with <see cref="NodeRemovalReason.Forgotten"/>.
    /// </summary>
    /// <param name="id">The node.</param>
    /// <returns>False if it is not a member, or is connected now (it would only come back at once).</returns>
    public bool Forget(NodeId id) => _mesh.Forget(id);

    /// <summary>Dials waiting for a free slot or their turn (NodeOptions.MaxDialsInFlight, MaxDialsPerSecond), for tests.</summary>
    internal int DialsWaiting => _mesh.DialsWaiting;

    /// <summary>Whether this node sees a quorum now (DESIGN.md, "Quorum"): what a distributed supervisor fails over by.</summary>
    internal bool HasQuorum => _mesh.HasQuorum;

    /// <summary>Messages of a type this node does not handle, dropped on arrival (protocol.md §5).</summary>
    internal long UnknownMessages => _mesh.UnknownMessages;

    /// <summary>Dials <paramref name="peer"/> now (the transport's own dial, with its errors), for tests.</summary>
    internal Task<Connection?> DialAsync(NodeId peer) => _mesh.DialAsync(peer);

    /// <summary>The live connection to each peer, for tests.</summary>
    internal IConnectionTable Connections => _mesh.Connections;

    /// <summary>Remote calls waiting for a reply.</summary>
    internal int PendingRemoteCalls => _remote.PendingCount;

    /// <summary>Casts to other nodes that could not be delivered (not connected, or the queue to the node was full).</summary>
    public long RemoteDeadLetters => _remote.DeadLetters;

    /// <summary>
    /// Whether a live connection to <paramref name="id"/> exists and this node counts it as up (<see cref="NodeUp"/> has
    /// been raised for it): once true, the node is among <see cref="GetConnectedNodes"/> and a candidate for placement.
    /// </summary>
    /// <remarks>A connection becomes live a moment before the node is marked up (its threads start in between); the
    /// transport alone would show a node as connected before a supervisor places children on it.</remarks>
    public bool IsConnected(NodeId id) => _mesh.IsConnected(id);

    /// <summary>
    /// Stops the node gracefully: tells every peer first (they see <see cref="NodeDownReason.GracefulShutdown"/> at once),
    /// sends what is queued (for up to a second), then closes everything. Idempotent.
    /// </summary>
    /// <param name="cancellationToken">Cuts the graceful part short.</param>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _stopState, 1) != 0)
        {
            return;
        }
        if (NoexLog.Log.IsEnabled(EventLevel.Informational))
        {
            NoexLog.Log.NodeStopping(Id.ToString(), _mesh.Connections.GetConnections().Length);
        }
        MoveTo(NodeState.Stopping);
        try
        {
            await _mesh.StopAsync(cancellationToken).ConfigureAwait(false);
            await Runtime.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            MoveTo(NodeState.Stopped);
            if (NoexLog.Log.IsEnabled(EventLevel.Informational))
            {
                NoexLog.Log.NodeStopped(Id.ToString(), (long)Uptime.TotalMilliseconds);
            }
        }
    }

    /// <summary>Moves the node to <paramref name="state"/> and says so; a handler's exception is swallowed, as for the
    /// other events.</summary>
    private void MoveTo(NodeState state)
    {
        Volatile.Write(ref _state, (int)state);
        foreach (var handler in StateChanged?.GetInvocationList() ?? [])
        {
            try
            {
                ((Action<NodeState>)handler)(state);
            }
            catch (Exception e)
            {
                if (NoexLog.Log.IsEnabled(EventLevel.Error))
                {
                    NoexLog.Log.HandlerFailed(Id.ToString(), nameof(StateChanged), e.GetType().Name, e.Message);
                }
            }
        }
    }

    /// <summary>Stops the node (<see cref="StopAsync"/>).</summary>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <summary>The node as its id.</summary>
    public override string ToString() => Id.ToString();
}
