using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>
/// This node's place in the cluster: it owns the transport and the membership table, turns connections coming and going
/// into node events, keeps every member dialled (within the <see cref="DialGate"/>), asks the seeds, tells its peers of a
/// new member at once, heartbeats and gossips on its tick, removes members past their bound, and hands each inbound
/// message to the service that owns its type (protocol.md §5). It is also what those services may use of their node.
/// </summary>
/// <remarks>
/// Events are raised synchronously, one at a time and in order (a node's down before its next up); a handler's exception
/// is swallowed so that one bad handler cannot stop the node.
/// </remarks>
internal sealed class Mesh : ITransportEvents, INodeContext, IAsyncDisposable
{
    private readonly Transport _transport;
    private readonly Membership _membership;
    private readonly IClusterService?[] _byType = new IClusterService?[256];
    private readonly List<IClusterService> _services = new();
    private readonly TimeProvider _time;
    private readonly long _startedAt;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _eventLock = new();
    private readonly Lock _redialLock = new();
    private readonly HashSet<NodeId> _redialing = new();
    private readonly HashSet<NodeId> _selfAliases = new();
    private readonly DialGate _memberDials;
    private readonly DialGate _learnedDials;
    private IReadOnlyList<NodeId> _seeds = [];
    private Task _seedPolling = Task.CompletedTask;
    private ITimer? _tick;
    private int _ticks;
    private int _pushPending;
    private long _unknownMessages;

    /// <summary>The mesh of the node <paramref name="id"/>, whose listener is bound already.</summary>
    public Mesh(NodeOptions options, NodeId id, Socket listener, ProcessRuntime runtime)
    {
        Options = options;
        Id = id;
        Runtime = runtime;
        _time = options.TimeProvider;
        _startedAt = _time.GetTimestamp();
        _membership = new Membership(id, options);
        // Two gates, so that a flood of ids only learned of cannot hold up the reconnect of a member that was up.
        _memberDials = new DialGate(options);
        _learnedDials = new DialGate(options);
        _transport = new Transport(options, id, Handshake.NewIncarnation(_time), listener, this);
    }

    public NodeId Id { get; }

    public NodeOptions Options { get; }

    public ProcessRuntime Runtime { get; }

    public ulong Incarnation => _transport.Incarnation;

    public TimeSpan Uptime => _time.GetElapsedTime(_startedAt);

    public IConnectionTable Connections => _transport;

    /// <summary>See <see cref="Node.DeadLetter"/>.</summary>
    public event Action<DeadLetterEvent>? DeadLetter;

    /// <summary>See <see cref="Node.NodeUp"/>.</summary>
    public event Action<NodeInfo>? NodeUp;

    /// <summary>See <see cref="Node.NodeDown"/>.</summary>
    public event Action<NodeDownEvent>? NodeDown;

    /// <summary>See <see cref="Node.NodeRemoved"/>.</summary>
    public event Action<NodeRemovedEvent>? NodeRemoved;

    /// <summary>See <see cref="Node.ConnectionClosed"/>.</summary>
    public event Action<ConnectionClosedEvent>? ConnectionClosed;

    /// <summary>See <see cref="Node.HandshakeFailed"/>.</summary>
    public event Action<HandshakeException>? HandshakeFailed;

    /// <summary>Messages of a type this node does not handle, dropped on arrival (protocol.md §5).</summary>
    public long UnknownMessages => Interlocked.Read(ref _unknownMessages);

    /// <summary>Makes <paramref name="service"/> the handler of message types <paramref name="first"/>..<paramref name="last"/>.</summary>
    public void AddService(byte first, byte last, IClusterService service)
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

    /// <summary>Dials waiting for the dial gate now.</summary>
    public int DialsWaiting => _memberDials.Waiting + _learnedDials.Waiting;

    /// <summary>See <see cref="Node.HasQuorum"/>.</summary>
    public bool HasQuorum => _membership.HasQuorum();

    /// <summary>Starts accepting, ticking, dialling <paramref name="seeds"/> and asking them (and the seed provider) again
    /// every <see cref="NodeOptions.SeedPollInterval"/>.</summary>
    public void Start(IReadOnlyList<NodeId> seeds)
    {
        _transport.Start();
        var period = TimeSpan.FromTicks(Math.Max(Options.HeartbeatInterval.Ticks / 4, TimeSpan.TicksPerMillisecond));
        _tick = _time.CreateTimer(static state => ((Mesh)state!).Tick(), this, period, period);
        _seeds = seeds;
        LearnAll(seeds, "seeds");
        _seedPolling = Task.Run(PollSeedsAsync);
    }

    /// <summary>See <see cref="Node.Forget"/>.</summary>
    public bool Forget(NodeId id)
    {
        if (!_membership.Remove(id, fromQuorum: true))
        {
            return false;
        }
        RaiseRemoved(id, NodeRemovalReason.Forgotten);
        return true;
    }

    /// <summary>Every node this one knows of, connected or not.</summary>
    public IReadOnlyList<NodeInfo> GetNodes() => _membership.GetNodes();

    /// <summary>What this node knows of <paramref name="id"/>, or null.</summary>
    public NodeInfo? GetNode(NodeId id) => _membership.GetNode(id);

    /// <summary>See <see cref="Node.IsConnected"/>.</summary>
    public bool IsConnected(NodeId id) => _transport.TryGetConnection(id, out _) && _membership.GetNode(id)?.Status == NodeStatus.Connected;

    /// <summary>Dials <paramref name="peer"/> now (the transport's own dial, with its errors), for tests.</summary>
    public Task<Connection?> DialAsync(NodeId peer) => _transport.ConnectAsync(peer);

    public void RaiseDeadLetter(ProcessRef target, Value message, DeadLetterReason reason)
    {
        if (DeadLetter is { } handlers)
        {
            Raise(handlers, new DeadLetterEvent(target, message, reason));
        }
    }

    /// <summary>
    /// Leaves the cluster: tells every peer goodbye, sends what is queued (for up to a second each, none when
    /// <paramref name="cancellationToken"/> is already cancelled), then closes every connection and the listener.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping.Cancel();
        if (_tick is not null)
        {
            await _tick.DisposeAsync().ConfigureAwait(false);
        }
        await _seedPolling.ConfigureAwait(false);
        // Up to a second for the handshakes this node started to finish; a cancelled stop skips the waits.
        var grace = cancellationToken.IsCancellationRequested ? TimeSpan.Zero : TimeSpan.FromSeconds(1);
        await _transport.QuiesceAsync(grace).ConfigureAwait(false);
        var connections = _transport.GetConnections();
        foreach (var connection in connections)
        {
            connection.TryEnqueue(new ControlMessages.GoodbyeMessage());
        }
        // Up to a second to deliver the goodbyes and what was queued before them.
        await Task.WhenAll(connections.Select(c => c.FlushAndCloseAsync(NodeDownReason.LocalShutdown, grace))).ConfigureAwait(false);
        await _transport.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Leaves the cluster at once: <see cref="StopAsync"/> without its graceful waits.</summary>
    public async ValueTask DisposeAsync() => await StopAsync(new CancellationToken(canceled: true)).ConfigureAwait(false);

    void ITransportEvents.OnConnectionUp(Connection connection, Connection? replaced)
    {
        if (_stopping.IsCancellationRequested)
        {
            // Adopted while stopping (a handshake that was already under way): the peer counts it as up, so it must
            // hear the goodbye too rather than see the connection simply end.
            connection.TryEnqueue(new ControlMessages.GoodbyeMessage());
            _ = connection.FlushAndCloseAsync(NodeDownReason.LocalShutdown, TimeSpan.FromSeconds(1));
            return;
        }
        connection.TryEnqueue(new ControlMessages.GossipMessage(Uptime, Runtime.ProcessCount, _membership.GetGossipIds()));
        foreach (var service in _services)
        {
            service.OnConnectionUp(connection);
        }
        var newMember = false;
        lock (_eventLock)
        {
            // The connection this one replaced may have closed a moment before it was adopted, with its own report still on
            // its way (on its read thread): that session's end is reported first, so that a node's down always comes
            // before its next up.
            if (_membership.SessionOf(connection.Peer) is { IsClosed: true } previous && _membership.EndSession(previous.Peer, previous))
            {
                RaiseDown(previous);
            }
            (var info, newMember) = _membership.MarkUp(connection.Peer, connection.PeerIncarnation, connection);
            if (info is not null)
            {
                NoexLog.Log.MemberUp(Id.ToString(), connection.PeerText);
                Raise(NodeUp, info);
            }
        }
        if (newMember)
        {
            // Peers hear of a new member now, not at the next gossip tick: a mesh started together forms in round trips.
            PushGossip();
        }
    }

    void ITransportEvents.OnHandshakeFailed(HandshakeException error)
    {
        Telemetry.HandshakeFailed(error.Failure);
        Raise(HandshakeFailed, error);
    }

    void IConnectionHandler.OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        if (_byType[message[0]] is { } service)
        {
            if (!service.OnMessage(connection, message))
            {
                connection.Close(NodeDownReason.ProtocolError, new NoexException($"Malformed message of type 0x{message[0]:x2} ({message.Length} bytes) from {connection.Peer}"));
            }
            return;
        }
        switch (message[0])
        {
            case ControlMessages.Gossip:
                OnGossip(connection, message);
                break;
            case ControlMessages.Goodbye:
                connection.Close(NodeDownReason.GracefulShutdown);
                break;
            default:
                // Message types of later protocol versions (or layers not running here) are dropped, not fatal: a bad
                // payload must not take the link down (protocol.md §5).
                Interlocked.Increment(ref _unknownMessages);
                break;
        }
    }

    void IConnectionHandler.OnClosed(Connection connection)
    {
        var reason = connection.CloseReason;
        _transport.Forget(connection);
        foreach (var service in _services)
        {
            service.OnConnectionClosed(connection, reason);
        }
        lock (_eventLock)
        {
            Raise(ConnectionClosed, new ConnectionClosedEvent(connection.Peer, connection.PeerIncarnation, reason, connection.CloseDetail!, connection.CloseError));
            // The node is down if this connection was its session (a stopping node reports none); a restarted peer's old
            // session is reported although the peer is up again (a newer incarnation is taking over): its processes are
            // gone.
            if (_stopping.IsCancellationRequested || !_membership.EndSession(connection.Peer, connection, stillUp: reason == NodeDownReason.Restarted))
            {
                return;
            }
            RaiseDown(connection);
            if (reason == NodeDownReason.Restarted)
            {
                return;
            }
        }
        if (reason == NodeDownReason.GracefulShutdown)
        {
            // It said goodbye: remove it rather than redial a node that meant to leave. It may come back by itself.
            if (_membership.Remove(connection.Peer, fromQuorum: true))
            {
                RaiseRemoved(connection.Peer, NodeRemovalReason.Left);
            }
        }
        else
        {
            Redial(connection.Peer, immediately: false);
        }
    }

    private void OnGossip(Connection connection, ReadOnlySpan<byte> message)
    {
        if (!ControlMessages.TryReadGossip(message[1..], out var gossip, out var error))
        {
            connection.Close(NodeDownReason.ProtocolError, new NoexException($"Malformed gossip from {connection.Peer}: {error}"));
            return;
        }
        var (uptime, processCount, known) = gossip;
        _membership.Update(connection.Peer, uptime, processCount);
        LearnAll(known, connection.PeerText, fromGossip: true);
    }

    /// <summary>Learns <paramref name="ids"/> and dials the new ones; what is refused is counted and logged, once per batch.</summary>
    private void LearnAll(IReadOnlyList<NodeId> ids, string source, bool fromGossip = false)
    {
        var full = 0;
        var self = 0;
        foreach (var id in ids)
        {
            var learned = IsSelfAlias(id) ? Membership.Learned.Self : _membership.Learn(id);
            switch (learned)
            {
                case Membership.Learned.New:
                    Redial(id, immediately: true, courtesy: fromGossip);
                    break;
                case Membership.Learned.Full:
                    full++;
                    break;
                case Membership.Learned.Self when id != Id:
                    self++;
                    break;
            }
        }
        if (full > 0)
        {
            Telemetry.Count(Telemetry.MembersRefused, full, "cause", "cap");
            NoexLog.Log.MembersRefused(Id.ToString(), source, full, $"the membership is at its cap of {Options.MaxMembers} ({nameof(NodeOptions.MaxMembers)})");
        }
        if (self > 0)
        {
            Telemetry.Count(Telemetry.MembersRefused, self, "cause", "self");
        }
    }

    private bool IsSelfAlias(NodeId id)
    {
        lock (_redialLock)
        {
            return _selfAliases.Contains(id);
        }
    }

    /// <summary>Asks the static seeds and the seed provider again every poll interval, until the node stops.</summary>
    private async Task PollSeedsAsync()
    {
        try
        {
            while (true)
            {
                if (Options.SeedProvider is { } provider)
                {
                    await PollProviderAsync(provider).ConfigureAwait(false);
                }
                await Task.Delay(Options.SeedPollInterval, _time, _stopping.Token).ConfigureAwait(false);
                LearnAll(_seeds, "seeds");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <summary>Asks the seed provider once (at start too), within the connect timeout; a failure is counted and logged.</summary>
    private async Task PollProviderAsync(ISeedProvider provider)
    {
        using var deadline = new CancellationTokenSource(Options.ConnectTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, _stopping.Token);
        try
        {
            LearnAll(await provider.GetSeedsAsync(linked.Token).ConfigureAwait(false), provider.ToString() ?? "seed provider");
        }
        catch (Exception e) when (!_stopping.IsCancellationRequested)
        {
            Telemetry.Count(Telemetry.DiscoveryFailures, 1, "provider", provider.GetType().Name);
            NoexLog.Log.DiscoveryFailed(Id.ToString(), provider.ToString() ?? provider.GetType().Name, e.Message);
        }
    }

    /// <summary>Sends gossip to every peer soon, once however many changes ask for it meanwhile.</summary>
    private void PushGossip()
    {
        if (Interlocked.Exchange(ref _pushPending, 1) != 0)
        {
            return;
        }
        ThreadPool.UnsafeQueueUserWorkItem(static mesh =>
        {
            Volatile.Write(ref mesh._pushPending, 0);
            if (mesh._stopping.IsCancellationRequested)
            {
                return;
            }
            var gossip = new ControlMessages.GossipMessage(mesh.Uptime, mesh.Runtime.ProcessCount, mesh._membership.GetGossipIds());
            foreach (var connection in mesh._transport.GetConnections())
            {
                connection.TryEnqueue(gossip);
            }
        }, this, preferLocal: false);
    }

    private void Tick()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }
        var now = _time.GetTimestamp();
        var silentLimit = (long)(Options.HeartbeatInterval.TotalSeconds * Options.HeartbeatMissThreshold * _time.TimestampFrequency);
        var idleLimit = (long)(Options.HeartbeatInterval.TotalSeconds * _time.TimestampFrequency);
        foreach (var service in _services)
        {
            service.OnTick();
        }
        foreach (var removed in _membership.RemoveExpired())
        {
            RaiseRemoved(removed, NodeRemovalReason.Unreachable);
        }
        var gossip = ++_ticks % 4 == 0;
        var known = gossip ? _membership.GetGossipIds() : null;
        foreach (var connection in _transport.GetConnections())
        {
            connection.TrimIdleBuffers();
            if (now - connection.LastReceived > silentLimit)
            {
                var silence = _time.GetElapsedTime(connection.LastReceived, now);
                connection.Close(NodeDownReason.HeartbeatTimeout, detail:
                    $"nothing arrived for {silence.TotalMilliseconds:0} ms (the limit is {Options.HeartbeatMissThreshold} heartbeats of {Options.HeartbeatInterval.TotalMilliseconds:0} ms)");
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

    private void Redial(NodeId peer, bool immediately, bool courtesy = false)
    {
        lock (_redialLock)
        {
            if (_stopping.IsCancellationRequested || !_redialing.Add(peer))
            {
                return;
            }
        }
        _ = RedialAsync(peer, immediately, courtesy);
    }

    private async Task RedialAsync(NodeId peer, bool immediately, bool courtesy)
    {
        try
        {
            var first = true;
            var courteous = !courtesy;
            while (!_stopping.IsCancellationRequested && _membership.GetNode(peer) is not null && !IsConnected(peer))
            {
                if (!first || !immediately)
                {
                    await Task.Delay(_membership.NextBackoff(peer), _time, _stopping.Token).ConfigureAwait(false);
                }
                else if (!courteous && Id.CompareTo(peer) > 0)
                {
                    courteous = true;
                    // Both ends usually learn of each other at once (a push each way), and both dials would complete only
                    // for one to be closed: the connection kept is the one the smaller id dials (protocol.md §4.4). So the
                    // larger id gives it a moment first, and dials only if it has not come (the smaller cannot reach it).
                    await Task.Delay(DialCourtesy, _time, _stopping.Token).ConfigureAwait(false);
                    continue;
                }
                first = false;
                var gate = _membership.GetNode(peer)?.Incarnation is > 0 ? _memberDials : _learnedDials;
                await gate.EnterAsync(_stopping.Token).ConfigureAwait(false);
                try
                {
                    if (_membership.GetNode(peer) is null || IsConnected(peer))
                    {
                        break;
                    }
                    if (_membership.GetNode(peer)?.Incarnation is > 0 && Telemetry.Reconnects.Enabled)
                    {
                        Telemetry.Reconnects.Add(1);
                    }
                    await _transport.ConnectAsync(peer).ConfigureAwait(false);
                }
                catch (HandshakeException e) when (e.Failure is HandshakeFailure.WrongNode or HandshakeFailure.SelfDial)
                {
                    // Another node (or this one) listens at its address now: the id is gone, and redialling it would only
                    // reach that node again.
                    OnAddressTaken(peer, e.Failure == HandshakeFailure.SelfDial);
                }
                catch (NoexException)
                {
                    // Unreachable or refused: try again after the next backoff. Handshake failures were reported already.
                }
                finally
                {
                    gate.Exit();
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

    /// <summary>How long a node waits for a newly learned node with a smaller id to dial it before it dials itself.</summary>
    private TimeSpan DialCourtesy => TimeSpan.FromMilliseconds(Math.Min(100, Options.ReconnectBaseDelay.TotalMilliseconds));

    /// <summary>The id's address answered as another node, or is this node's own listener: remove it for good.</summary>
    private void OnAddressTaken(NodeId peer, bool self)
    {
        if (self)
        {
            lock (_redialLock)
            {
                // Bounded like the membership: an id seen to be this node's own is never learned again.
                if (_selfAliases.Count < Options.MaxMembers)
                {
                    _selfAliases.Add(peer);
                }
            }
        }
        if (_membership.Remove(peer, fromQuorum: false))
        {
            RaiseRemoved(peer, NodeRemovalReason.Replaced);
        }
    }

    /// <summary>Raises the node-down of the session that <paramref name="connection"/> was.</summary>
    private void RaiseDown(Connection connection)
    {
        NoexLog.Log.MemberDown(Id.ToString(), connection.PeerText, connection.CloseReason.ToString(), connection.CloseDetail ?? "");
        Raise(NodeDown, new NodeDownEvent(connection.Peer, connection.PeerIncarnation, connection.CloseReason, connection.CloseDetail!, connection.CloseError));
    }

    private void RaiseRemoved(NodeId id, NodeRemovalReason reason)
    {
        Telemetry.Count(Telemetry.MembersRemoved, 1, "reason", reason.ToString());
        NoexLog.Log.MemberRemoved(Id.ToString(), id.ToString(), reason.ToString());
        lock (_eventLock)
        {
            Raise(NodeRemoved, new NodeRemovedEvent(id, reason));
        }
    }

    private static void Raise<T>(Action<T>? handlers, T argument)
    {
        foreach (var handler in handlers?.GetInvocationList() ?? [])
        {
            try
            {
                ((Action<T>)handler)(argument);
            }
            catch (Exception)
            {
                // A handler's failure is its own; the node goes on.
            }
        }
    }
}
