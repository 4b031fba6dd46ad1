using System.Diagnostics.Tracing;
using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>
/// This node's place in the cluster: it owns the transport and the membership table, turns connections coming and going
/// into node events, has its <see cref="Dialer"/> keep every member dialled, tells its peers of a new member at once,
/// heartbeats and gossips on its tick, removes members past their bound, and hands each inbound message to the service
/// that owns its type (protocol.md §5). It is also what those services may use of their node.
/// </summary>
/// <remarks>
/// Events are raised synchronously, one at a time and in order (a node's down before its next up); a handler's exception
/// is swallowed so that one bad handler cannot stop the node.
/// </remarks>
internal sealed class Mesh : ITransportEvents, INodeContext, IAsyncDisposable
{
    // The reasons' names as metric tags, made once (dead letters come in floods when a peer is overloaded); the values run
    // from 1 without gaps.
    private static readonly string[] s_deadLetterReasons = Enum.GetValues<DeadLetterReason>().OrderBy(r => r).Select(r => r.ToString()).Prepend("").ToArray();

    private readonly Transport _transport;
    private readonly Membership _membership;
    private readonly IClusterService?[] _byType = new IClusterService?[256];
    private readonly List<IClusterService> _services = new();
    private readonly TimeProvider _time;
    private readonly long _startedAt;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _eventLock = new();
    private readonly Dialer _dialer;
    private readonly IDisposable _lifecycle;
    private ITimer? _tick;
    private int _ticks;

    /// <summary>How many heartbeat ticks have run (for tests).</summary>
    internal int TickCount => Volatile.Read(ref _ticks);
    private int _pushPending;
    private long _unknownMessages;
    private NodeId[] _seeds = [];

    /// <summary>The mesh of the node <paramref name="id"/>, whose listener is bound already.</summary>
    public Mesh(NodeOptions options, NodeId id, Socket listener, ProcessRuntime runtime)
    {
        Options = options;
        Id = id;
        Runtime = runtime;
        _time = options.TimeProvider;
        _startedAt = _time.GetTimestamp();
        _membership = new Membership(id, options);
        _transport = new Transport(options, id, Handshake.NewIncarnation(_time), listener, this);
        _dialer = new Dialer(options, id, _membership, _transport, IsConnected, RaiseRemoved, _stopping.Token);
        // Restarts are the runtime's own events; the log hears of them here, where the node's name is known.
        _lifecycle = runtime.Events.Subscribe(OnLifecycle);
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
    public int DialsWaiting => _dialer.Waiting;

    /// <summary>See <see cref="Node.HasQuorum"/>.</summary>
    public bool HasQuorum => _membership.HasQuorum();

    /// <summary>Starts accepting, ticking, dialling <paramref name="seeds"/> and asking them (and the seed provider) again
    /// every <see cref="NodeOptions.SeedPollInterval"/>.</summary>
    public void Start(IReadOnlyList<NodeId> seeds)
    {
        _seeds = [.. seeds.Where(s => s != Id).Distinct()];
        NodeMetrics.Add(this);
        _transport.Start();
        var period = TimeSpan.FromTicks(Math.Max(Options.HeartbeatInterval.Ticks / 4, TimeSpan.TicksPerMillisecond));
        _tick = _time.CreateTimer(static state => ((Mesh)state!).Tick(), this, period, period);
        _dialer.Start(seeds);
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

    /// <summary>The other nodes connected now (the gauge's reading: no list is made).</summary>
    public int ConnectedCount => _membership.Count([]).Connected;

    /// <summary>See <see cref="Node.GetHealth"/>; <paramref name="state"/> is the node's.</summary>
    public NodeHealth GetHealth(NodeState state)
    {
        // The counts come from the membership as of one moment, so that a seed lost a moment ago is not still counted
        // among the peers connected (the transport sees a connection close before the node marks its peer down).
        var (members, connected, seedsConnected) = _membership.Count(_seeds);
        return new NodeHealth(state, _seeds.Length, seedsConnected, members, connected, _membership.HasQuorum(), Uptime);
    }

    /// <summary>What this node knows of <paramref name="id"/>, or null.</summary>
    public NodeInfo? GetNode(NodeId id) => _membership.GetNode(id);

    /// <summary>See <see cref="Node.IsConnected"/>.</summary>
    public bool IsConnected(NodeId id) => _transport.TryGetConnection(id, out _) && _membership.GetNode(id)?.Status == NodeStatus.Connected;

    /// <summary>Dials <paramref name="peer"/> now (the transport's own dial, with its errors), for tests.</summary>
    public Task<Connection?> DialAsync(NodeId peer) => _transport.ConnectAsync(peer);

    public void RaiseDeadLetter(ProcessRef target, Value message, DeadLetterReason reason)
    {
        Telemetry.Count(Telemetry.DeadLetters, 1, "reason", s_deadLetterReasons[(int)reason]);
        if (NoexLog.Log.IsEnabled(EventLevel.Verbose))
        {
            NoexLog.Log.DeadLetter(Id.ToString(), target.ToString(), s_deadLetterReasons[(int)reason]);
        }
        if (DeadLetter is { } handlers)
        {
            // A typed cast is shown as the value it would have been on the wire; one that cannot be encoded, as null.
            Raise(handlers, new DeadLetterEvent(target, message.IsTyped ? MaterializeOrNull(message) : message, reason), nameof(DeadLetter));
        }
    }

    private static Value MaterializeOrNull(Value message)
    {
        try
        {
            return TypedValues.Materialize(message);
        }
        catch (NoexException e) when (e is ValueCodecException or MessageContractException)
        {
            return Value.Null;
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
        await _dialer.StopAsync().ConfigureAwait(false);
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
        _lifecycle.Dispose();
        NodeMetrics.Remove(this);
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
        NoexLog.Log.Connected(Id, connection);
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
                Raise(NodeUp, info, nameof(NodeUp));
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
        Telemetry.HandshakeFailed(error);
        NoexLog.Log.Failed(Id, error);
        Raise(HandshakeFailed, error, nameof(HandshakeFailed));
    }

    void IConnectionHandler.OnMessage(Connection connection, ReadOnlySpan<byte> message)
    {
        if (_byType[message[0]] is { } service)
        {
            if (!service.OnMessage(connection, message))
            {
                connection.Close(NodeDownReason.ProtocolError, new NoexException($"Malformed message of type 0x{message[0]:x2} ({message.Length} bytes) from {connection.Peer}"),
                    cause: ConnectionCause.Message(message[0]));
            }
            return;
        }
        switch (message[0])
        {
            case ControlMessages.Gossip:
                OnGossip(connection, message);
                break;
            case ControlMessages.Goodbye when message.Length == 1:
                connection.Close(NodeDownReason.GracefulShutdown);
                break;
            case ControlMessages.Goodbye:
                // §5.1: the single byte. A longer one is not a goodbye, and must not remove its sender as one would.
                connection.Close(NodeDownReason.ProtocolError, new NoexException($"Malformed goodbye from {connection.Peer}: {message.Length - 1} bytes follow it"),
                    cause: ConnectionCause.Message(ControlMessages.Goodbye));
                break;
            default:
                // Message types of later protocol versions (or layers not running here) are dropped, not fatal: a bad
                // payload must not take the link down (protocol.md §5).
                Interlocked.Increment(ref _unknownMessages);
                Telemetry.Refuse("unknown_type", ConnectionCause.TypeText(message[0]));
                if (NoexLog.Log.IsEnabled(EventLevel.Verbose))
                {
                    NoexLog.Log.MessageDropped(Id.ToString(), connection.PeerText, ConnectionCause.TypeText(message[0]), message.Length);
                }
                break;
        }
    }

    void IConnectionHandler.OnClosed(Connection connection)
    {
        var reason = connection.CloseReason;
        NoexLog.Log.Ended(Id, connection);
        _transport.Forget(connection);
        foreach (var service in _services)
        {
            service.OnConnectionClosed(connection, reason);
        }
        RaiseClosed(connection, reason);
        // The failure notices are out (the node-down event raised, the monitors' downs posted): only now the work that
        // they must not wait for, such as taking a departed node's global names out of the table.
        foreach (var service in _services)
        {
            service.AfterConnectionClosed(connection);
        }
    }

    /// <summary>Raises a closed connection's events: the close, and the node-down if it was its peer's session; then
    /// removes a peer that said goodbye, or redials one that did not.</summary>
    private void RaiseClosed(Connection connection, NodeDownReason reason)
    {
        lock (_eventLock)
        {
            Raise(ConnectionClosed, new ConnectionClosedEvent(connection.Peer, connection.PeerIncarnation, reason, connection.CloseCause!, connection.CloseDetail!,
                connection.CloseError), nameof(ConnectionClosed));
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
            _dialer.Redial(connection.Peer, immediately: false);
        }
    }

    private void OnGossip(Connection connection, ReadOnlySpan<byte> message)
    {
        if (!ControlMessages.TryReadGossip(message[1..], out var gossip, out var error))
        {
            connection.Close(NodeDownReason.ProtocolError, new NoexException($"Malformed gossip from {connection.Peer}: {error}"),
                cause: ConnectionCause.Message(ControlMessages.Gossip));
            return;
        }
        var (uptime, processCount, known) = gossip;
        _membership.Update(connection.Peer, uptime, processCount);
        _dialer.Learn(known, connection.PeerText, fromGossip: true);
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
            else if (connection.OverdueFrame(now, Options.HeartbeatInterval * Options.HeartbeatMissThreshold) is { } overdue)
            {
                // Bytes keep arriving, but a frame that never completes is silence all the same.
                connection.Close(NodeDownReason.HeartbeatTimeout, detail: overdue, cause: ConnectionCause.FrameDeadline);
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

    /// <summary>Raises the node-down of the session that <paramref name="connection"/> was.</summary>
    private void RaiseDown(Connection connection)
    {
        if (NoexLog.Log.IsEnabled(EventLevel.Warning))
        {
            NoexLog.Log.MemberDown(Id.ToString(), connection.PeerText, connection.CloseReason.ToString(), connection.CloseDetail ?? "");
        }
        Raise(NodeDown, new NodeDownEvent(connection.Peer, connection.PeerIncarnation, connection.CloseReason, connection.CloseCause!, connection.CloseDetail!,
            connection.CloseError), nameof(NodeDown));
    }

    private void RaiseRemoved(NodeId id, NodeRemovalReason reason)
    {
        Telemetry.Count(Telemetry.MembersRemoved, 1, "reason", reason.ToString());
        if (NoexLog.Log.IsEnabled(EventLevel.Informational))
        {
            NoexLog.Log.MemberRemoved(Id.ToString(), id.ToString(), reason.ToString());
        }
        lock (_eventLock)
        {
            Raise(NodeRemoved, new NodeRemovedEvent(id, reason), nameof(NodeRemoved));
        }
    }

    private void Raise<T>(Action<T>? handlers, T argument, string name)
    {
        foreach (var handler in handlers?.GetInvocationList() ?? [])
        {
            try
            {
                ((Action<T>)handler)(argument);
            }
            catch (Exception e)
            {
                // A handler's failure is its own; the node goes on, but says so, or the bug would be invisible.
                if (NoexLog.Log.IsEnabled(EventLevel.Error))
                {
                    NoexLog.Log.HandlerFailed(Id.ToString(), name, e.GetType().Name, e.Message);
                }
            }
        }
    }

    /// <summary>Writes a supervisor's restart of a child to the log (the runtime's lifecycle events carry it).</summary>
    private void OnLifecycle(LifecycleEvent e)
    {
        if (e.Kind == LifecycleEventKind.Restarted && NoexLog.Log.IsEnabled(EventLevel.Warning))
        {
            NoexLog.Log.ProcessRestarted(Id.ToString(), e.Other.IsEmpty ? "" : e.Other.ToString(), e.Process.ToString(), e.Attempt);
        }
    }
}
