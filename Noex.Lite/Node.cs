using System.Net;
using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>
/// A Noex.Lite node: a member of a cluster that dials its seeds, authenticates its peers, keeps one connection to each,
/// notices failures and tells you (the seeds' <c>Cluster</c>, as an object, so that one process can run several).
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
    private readonly NodeOptions _options;
    private readonly Transport _transport;
    private readonly Membership _membership;
    private readonly EventSink _sink;
    private readonly RemoteCall _remote;
    private readonly SpawnService _spawns;
    private readonly RemoteMonitor _monitors;
    private readonly RemoteLink _links;
    private readonly IClusterService?[] _byType = new IClusterService?[256];
    private readonly List<IClusterService> _services = new();
    private readonly TimeProvider _time;
    private readonly long _startedAt;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _eventLock = new();
    private readonly Lock _redialLock = new();
    private readonly HashSet<NodeId> _redialing = new();
    private ITimer? _tick;
    private int _ticks;
    private int _stopState;
    private long _unknownMessages;

    private Node(NodeOptions options, Transport transport, NodeId id, EventSink sink)
    {
        _options = options;
        _transport = transport;
        _sink = sink;
        Id = id;
        _time = options.TimeProvider;
        _startedAt = _time.GetTimestamp();
        _membership = new Membership(id, _time);
        Runtime = new ProcessRuntime(new ProcessRuntimeOptions { Name = id.ToString(), TimeProvider = _time });
        _remote = new RemoteCall(this, Runtime);
        Runtime.Router = _remote;
        // Message type ranges of protocol.md §5; each layer owns its own.
        AddService(RemoteCall.FirstType, RemoteCall.LastType, _remote);
        _spawns = new SpawnService(this, Runtime, new BehaviorRegistry());
        AddService(SpawnService.FirstType, SpawnService.LastType, _spawns);
        GlobalRegistry = new GlobalRegistry(this, Runtime);
        AddService(GlobalRegistry.FirstType, GlobalRegistry.LastType, GlobalRegistry);
        _monitors = new RemoteMonitor(this, Runtime);
        _links = new RemoteLink(this, Runtime);
        Runtime.Signals = new RemoteSignals(_monitors, _links);
        AddService(RemoteMonitor.FirstType, RemoteMonitor.LastType, _monitors);
        AddService(RemoteLink.FirstType, RemoteLink.LastType, _links);
        Observer = new ClusterObserver(this, () => _transport.GetConnections());
        AddService(ClusterObserver.FirstType, ClusterObserver.LastType, Observer);
        sink.Node = this;
    }

    /// <summary>
    /// The node's processes. Its calls and casts are routed transparently: a ref of another node goes over the cluster.
    /// </summary>
    public ProcessRuntime Runtime { get; }

    /// <summary>Cluster-wide process names, the same on every node (protocol.md §5.4).</summary>
    public GlobalRegistry GlobalRegistry { get; }
    /// <summary>Monitors across nodes: the seeds' <c>RemoteMonitor</c> (<see cref="ProcessRuntime.Monitor"/> reaches it transparently).</summary>
    public RemoteMonitor Monitors => _monitors;

    /// <summary>Links across nodes (<see cref="ProcessRuntime.Link"/> reaches it transparently).</summary>
    public RemoteLink Links => _links;
    /// <summary>Cluster-wide statistics: this node's and every connected node's load, traffic and memory.</summary>
    public ClusterObserver Observer { get; }

    /// <summary>The options the node was started with.</summary>
    public NodeOptions Options => _options;

    /// <summary>This node's id, <c>name@host:port</c> (with the real port when <see cref="NodeOptions.Port"/> is 0).</summary>
    public NodeId Id { get; }

    /// <summary>The port the listener is bound to (the id's port unless <see cref="NodeOptions.AdvertisedPort"/> is set).</summary>
    public int ListenPort { get; private init; }

    /// <summary>This run's incarnation: a restarted node keeps its id but gets a new, normally greater, incarnation.</summary>
    public ulong Incarnation => _transport.Incarnation;

    /// <summary>How long the node has been running.</summary>
    public TimeSpan Uptime => _time.GetElapsedTime(_startedAt);

    /// <summary>The behaviours peers may spawn on this node (the seeds' <c>BehaviorRegistry</c>).</summary>
    public BehaviorRegistry Behaviors => _spawns.Behaviors;

    /// <summary>
    /// A cast was not delivered: raised on the sending node when the target's node is unreachable or the queue to it is
    /// full, and on the target's node when the process is gone or its mailbox refused it. Counted in
    /// <see cref="RemoteDeadLetters"/> (sender) or <see cref="ProcessRuntime.DeadLetters"/> (target's node).
    /// </summary>
    public event Action<DeadLetterEvent>? DeadLetter;

    /// <summary>A node connected (or reconnected), after its handshake. Raised once per connection.</summary>
    public event Action<NodeInfo>? NodeUp;

    /// <summary>A connected node was lost, with the reason. Raised once per connection, never twice for one loss.</summary>
    public event Action<NodeId, NodeDownReason>? NodeDown;

    /// <summary>A connection failed its handshake: a wrong secret, a wrong node at a seed address, a timeout, ...</summary>
    public event Action<HandshakeException>? HandshakeFailed;

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
        var seeds = options.Validate();
        var sink = new EventSink();
        var transport = new Transport(options, new HandshakeSecret(options.ClusterSecret), Handshake.NewIncarnation(options.TimeProvider), sink);
        int port;
        try
        {
            port = transport.Bind();
        }
        catch (SocketException e)
        {
            throw new NoexException($"Cannot listen on {options.Host}:{options.Port}: {e.SocketErrorCode} (is another node or program using the port?)", e);
        }
        var node = new Node(options, transport, NodeId.Create(options.Name, options.EffectiveAdvertisedHost, options.AdvertisedPort ?? port), sink)
        {
            ListenPort = port,
        };
        transport.Start(node.Id);
        var period = TimeSpan.FromTicks(Math.Max(options.HeartbeatInterval.Ticks / 4, TimeSpan.TicksPerMillisecond));
        node._tick = options.TimeProvider.CreateTimer(static state => ((Node)state!).Tick(), node, period, period);
        foreach (var seed in seeds)
        {
            if (seed != node.Id && node._membership.Learn(seed))
            {
                node.Redial(seed, immediately: true);
            }
        }
        return Task.FromResult(node);
    }

    /// <summary>
    /// Spawns <paramref name="behavior"/> on <paramref name="target"/> (the seeds' <c>RemoteSpawn.spawn</c>): the target
    /// makes a server with the factory registered under that name in its <see cref="Behaviors"/>, runs init with
    /// <see cref="SpawnOptions.Args"/>, registers the name as asked and returns the new process's ref. Spawning on this
    /// node's own id works locally, with the same errors.
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

    /// <summary>Stops a process of another node (the runtime routes a non-local <c>StopAsync</c> here).</summary>
    internal Task StopRemoteAsync(ProcessRef target, ExitReason reason, CancellationToken cancellationToken) =>
        _spawns.StopAsync(target, reason, cancellationToken);

    /// <summary>Raises <see cref="DeadLetter"/>; callers count the dead letter themselves.</summary>
    internal void RaiseDeadLetter(ProcessRef target, Value message, DeadLetterReason reason)
    {
        if (DeadLetter is { } handlers)
        {
            Raise(handlers, new DeadLetterEvent(target, message, reason));
        }
    }

    /// <summary>Every node this one knows of, connected or not.</summary>
    public IReadOnlyList<NodeInfo> GetNodes() => _membership.GetNodes();

    /// <summary>The nodes connected now.</summary>
    public IReadOnlyList<NodeInfo> GetConnectedNodes() => _membership.GetNodes().Where(n => n.Status == NodeStatus.Connected).ToArray();

    /// <summary>What this node knows of <paramref name="id"/>, or null.</summary>
    public NodeInfo? GetNode(NodeId id) => _membership.GetNode(id);

    /// <summary>Messages of a type this node does not handle, dropped on arrival (protocol.md §5).</summary>
    internal long UnknownMessages => Interlocked.Read(ref _unknownMessages);

    /// <summary>Dials <paramref name="peer"/> now (the transport's own dial, with its errors), for tests.</summary>
    internal Task<Connection?> DialAsync(NodeId peer) => _transport.ConnectAsync(peer);

    /// <summary>The live connection to the node named by <paramref name="id"/> as text (as process refs carry it).</summary>
    internal bool TryGetConnection(string id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Connection? connection) =>
        _transport.TryGetConnection(id, out connection);

    /// <summary>Makes <paramref name="service"/> the handler of message types <paramref name="first"/>..<paramref name="last"/>.</summary>
    private void AddService(byte first, byte last, IClusterService service)
    {
        for (int type = first; type <= last; type++)
        {
            if (_byType[type] is not null)
            {
                throw new InvalidOperationException($"Message type 0x{type:x2} has two handlers.");
            }
            _byType[type] = service;
        }
        _services.Add(service);
    }

    /// <summary>Remote calls waiting for a reply.</summary>
    internal int PendingRemoteCalls => _remote.PendingCount;

    /// <summary>Casts to other nodes that could not be delivered (not connected, or the queue to the node was full).</summary>
    public long RemoteDeadLetters => _remote.DeadLetters;

    /// <summary>The live connection to <paramref name="id"/>, for the layers above (remote calls) and tests.</summary>
    internal bool TryGetConnection(NodeId id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Connection? connection) =>
        _transport.TryGetConnection(id, out connection);

    /// <summary>The live connections (a snapshot), for the layers that broadcast.</summary>
    internal Connection[] GetLiveConnections() => _transport.GetConnections();

    /// <summary>
    /// Whether a live connection to <paramref name="id"/> exists and this node counts it as up (<see cref="NodeUp"/> has
    /// been raised for it): once true, the node is among <see cref="GetConnectedNodes"/> and a candidate for placement.
    /// </summary>
    /// <remarks>A connection becomes live a moment before the node is marked up (its threads start in between); checking
    /// the transport alone let a caller see a node as connected that a supervisor would not yet place children on.</remarks>
    public bool IsConnected(NodeId id) => _transport.TryGetConnection(id, out _) && _membership.GetNode(id)?.Status == NodeStatus.Connected;

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
        _stopping.Cancel();
        if (_tick is not null)
        {
            await _tick.DisposeAsync().ConfigureAwait(false);
        }
        // Up to a second for the handshakes this node started to finish; a cancelled stop skips the waits.
        var grace = cancellationToken.IsCancellationRequested ? TimeSpan.Zero : TimeSpan.FromSeconds(1);
        await _transport.QuiesceAsync(grace).ConfigureAwait(false);
        var connections = _transport.GetConnections();
        foreach (var connection in connections)
        {
            connection.TryEnqueue(new ControlMessages.GoodbyeMessage());
        }
        // Up to a second to deliver the goodbyes and what was queued before them.
        await Task.WhenAll(connections.Select(c => c.FlushAndCloseAsync(CloseReason.LocalShutdown, grace))).ConfigureAwait(false);
        await _transport.DisposeAsync().ConfigureAwait(false);
        await Runtime.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Stops the node (<see cref="StopAsync"/>).</summary>
    public async ValueTask DisposeAsync() => await StopAsync().ConfigureAwait(false);

    /// <summary>The node as its id.</summary>
    public override string ToString() => Id.ToString();

    private void Tick()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        var now = _time.GetTimestamp();
        var silentLimit = (long)(_options.HeartbeatInterval.TotalSeconds * _options.HeartbeatMissThreshold * _time.TimestampFrequency);
        var idleLimit = (long)(_options.HeartbeatInterval.TotalSeconds * _time.TimestampFrequency);
        foreach (var service in _services)
        {
            service.OnTick();
        }
        var gossip = ++_ticks % 4 == 0;
        var known = gossip ? _membership.GetKnownIds() : null;
        foreach (var connection in _transport.GetConnections())
        {
            connection.TrimIdleBuffers();
            if (now - connection.LastReceived > silentLimit)
            {
                connection.Close(CloseReason.HeartbeatTimeout);
            }
            else if (gossip)
            {
                // Gossip doubles as the heartbeat on every fourth tick.
                connection.TryEnqueue(new ControlMessages.GossipMessage(Uptime, Runtime.ProcessCount, known!));
            }
            else if (now - connection.LastSent >= idleLimit)
            {
                connection.RequestHeartbeat();
            }
        }
    }

    private void OnConnectionUp(Connection connection)
    {
        if (_stopping.IsCancellationRequested)
        {
            // Adopted while stopping (a handshake that was already under way): the peer counts it as up, so it must
            // hear the goodbye too rather than see the connection simply end.
            connection.TryEnqueue(new ControlMessages.GoodbyeMessage());
            _ = connection.FlushAndCloseAsync(CloseReason.LocalShutdown, TimeSpan.FromSeconds(1));
            return;
        }
        connection.TryEnqueue(new ControlMessages.GossipMessage(Uptime, Runtime.ProcessCount, _membership.GetKnownIds()));
        foreach (var service in _services)
        {
            service.OnConnectionUp(connection);
        }
        lock (_eventLock)
        {
            if (_membership.MarkUp(connection.Peer, connection.PeerIncarnation) is { } info)
            {
                Raise(NodeUp, info);
            }
        }
    }

    private void OnClosed(Connection connection, CloseReason reason)
    {
        _transport.Forget(connection);
        foreach (var service in _services)
        {
            service.OnConnectionClosed(connection, ToDownReason(reason));
        }
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        lock (_eventLock)
        {
            // A restarted peer's old connection is reported even though the peer is up again: its processes are gone.
            // Otherwise a closed connection is the node's loss only if no other live connection to it remains.
            if (reason == CloseReason.Restarted)
            {
                RaiseDown(connection.Peer, NodeDownReason.Restarted);
                return;
            }
            if (_transport.TryGetConnection(connection.Peer, out _) || !_membership.MarkDown(connection.Peer))
            {
                return;
            }
            RaiseDown(connection.Peer, ToDownReason(reason));
        }
        if (reason == CloseReason.GracefulShutdown)
        {
            // It said goodbye: forget it rather than redial a node that meant to leave. It may come back by itself.
            _membership.Forget(connection.Peer);
        }
        else
        {
            Redial(connection.Peer, immediately: false);
        }
    }

    private static NodeDownReason ToDownReason(CloseReason reason) => reason switch
    {
        CloseReason.HeartbeatTimeout => NodeDownReason.HeartbeatTimeout,
        CloseReason.GracefulShutdown => NodeDownReason.GracefulShutdown,
        CloseReason.ConnectionReset => NodeDownReason.ConnectionReset,
        CloseReason.ProtocolError => NodeDownReason.ProtocolError,
        CloseReason.Restarted => NodeDownReason.Restarted,
        _ => NodeDownReason.ConnectionClosed,
    };

    private void OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        if (_byType[message[0]] is { } service)
        {
            if (!service.OnMessage(connection, message))
            {
                connection.Close(CloseReason.ProtocolError, new NoexException($"Malformed message of type 0x{message[0]:x2} from {connection.Peer}"));
            }
            return;
        }
        switch (message[0])
        {
            case ControlMessages.Gossip:
                List<NodeId> known;
                try
                {
                    (var uptime, var processCount, known) = ControlMessages.ReadGossip(message[1..]);
                    _membership.Update(connection.Peer, uptime, processCount);
                }
                catch (FormatException e)
                {
                    connection.Close(CloseReason.ProtocolError, new NoexException($"Malformed gossip from {connection.Peer}: {e.Message}", e));
                    return;
                }
                foreach (var id in known)
                {
                    if (id != Id && _membership.Learn(id))
                    {
                        Redial(id, immediately: true);
                    }
                }
                break;
            case ControlMessages.Goodbye:
                connection.Close(CloseReason.GracefulShutdown);
                break;
            default:
                // Message types of later protocol versions (or layers not running here) are dropped, not fatal: a bad
                // payload must not take the link down (protocol.md §5).
                Interlocked.Increment(ref _unknownMessages);
                break;
        }
    }

    private void Redial(NodeId peer, bool immediately)
    {
        lock (_redialLock)
        {
            if (_stopping.IsCancellationRequested || !_redialing.Add(peer))
            {
                return;
            }
        }
        _ = RedialAsync(peer, immediately);
    }

    private async Task RedialAsync(NodeId peer, bool immediately)
    {
        try
        {
            var first = true;
            while (!_stopping.IsCancellationRequested && _membership.GetNode(peer) is not null && !IsConnected(peer))
            {
                if (!first || !immediately)
                {
                    await Task.Delay(_membership.NextBackoff(peer, _options), _time, _stopping.Token).ConfigureAwait(false);
                }
                first = false;
                if (_membership.GetNode(peer)?.Incarnation is > 0 && Telemetry.Reconnects.Enabled)
                {
                    Telemetry.Reconnects.Add(1);
                }
                try
                {
                    await _transport.ConnectAsync(peer).ConfigureAwait(false);
                }
                catch (NoexException)
                {
                    // Unreachable or refused: try again after the next backoff. Handshake failures were reported already.
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            lock (_redialLock)
            {
                _redialing.Remove(peer);
            }
        }
    }

    private void RaiseDown(NodeId peer, NodeDownReason reason) => Raise(NodeDown, (peer, reason), static (handler, args) => handler(args.peer, args.reason));

    private static void Raise<T>(Action<T>? handlers, T argument) => Raise(handlers, argument, static (handler, arg) => handler(arg));

    private static void Raise<THandler, TArgs>(THandler? handlers, TArgs arguments, Action<THandler, TArgs> invoke)
        where THandler : Delegate
    {
        foreach (var handler in handlers?.GetInvocationList() ?? [])
        {
            try
            {
                invoke((THandler)handler, arguments);
            }
            catch (Exception)
            {
                // A handler's failure is its own; the node goes on (as the original).
            }
        }
    }

    /// <summary>Routes transport callbacks to the node, which exists only once the port is bound.</summary>
    private sealed class EventSink : ITransportEvents
    {
        public Node? Node { get; set; }

        public void OnConnectionUp(Connection connection, Connection? replaced) => Node!.OnConnectionUp(connection);

        public void OnHandshakeFailed(EndPoint? remote, NodeId? peer, HandshakeException error)
        {
            Telemetry.HandshakeFailed(error.Failure);
            Raise(Node!.HandshakeFailed, error);
        }

        public void OnMessage(Connection connection, ReadOnlySpan<byte> message) => Node!.OnMessage(connection, message);

        public void OnClosed(Connection connection, CloseReason reason, Exception? error) => Node!.OnClosed(connection, reason);
    }
}
