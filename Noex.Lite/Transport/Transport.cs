using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Noex.Lite;

/// <summary>What the transport tells its node.</summary>
internal interface ITransportEvents : IConnectionHandler
{
    /// <summary>A connection passed its handshake and is now the one connection to its peer.</summary>
    /// <param name="connection">The new connection.</param>
    /// <param name="replaced">The connection it replaces, for a restarted peer (already closed with Restarted).</param>
    void OnConnectionUp(Connection connection, Connection? replaced);

    /// <summary>A handshake failed (wrong secret, wrong node, timeout, ...); the error names the peer or where the
    /// connection came from. Nothing was adopted.</summary>
    void OnHandshakeFailed(HandshakeException error);
}

/// <summary>The live connection to each peer: what the layers above look connections up in.</summary>
internal interface IConnectionTable
{
    /// <summary>The live connection to <paramref name="peer"/>, if there is one.</summary>
    bool TryGetConnection(NodeId peer, [NotNullWhen(true)] out Connection? connection);

    /// <summary>The live connection to the node whose id text is <paramref name="peer"/> (as process refs carry it), if
    /// there is one: no lock, no allocation.</summary>
    bool TryGetConnection(string peer, [NotNullWhen(true)] out Connection? connection);

    /// <summary>The live connections (a snapshot).</summary>
    Connection[] GetConnections();
}

/// <summary>
/// The listener and the connections of one node: dialling, accepting, the handshake of protocol.md §4, and the rule that
/// keeps one connection per pair of nodes.
/// </summary>
/// <remarks>
/// Thread-safe. An unauthenticated connection holds one handshake buffer of 1,027 bytes and must finish within
/// <see cref="NodeOptions.HandshakeTimeout"/>; at most <see cref="NodeOptions.MaxPendingHandshakes"/> run at once.
/// </remarks>
internal sealed class Transport : IConnectionTable, IAsyncDisposable
{
    private readonly NodeOptions _options;
    private readonly HandshakeSecret _secret;
    private readonly ITransportEvents _events;
    private readonly Lock _lock = new();
    // Keyed by id text, the node's identity: process refs name their node as text, so a remote call finds its connection
    // without parsing or allocating. Read without a lock on the hot path; changed only under _lock, where the decisions
    // that span it and _dials are made.
    private readonly ConcurrentDictionary<string, Connection> _connections = new(StringComparer.Ordinal);
    private readonly Dictionary<NodeId, Task<Connection?>> _dials = new();
    // Dials still in their TCP connect (nothing sent to the peer yet). An inbound connection that makes one moot takes it
    // out (InboundStatus), which is how the dial learns that it was abandoned.
    private readonly Dictionary<NodeId, HandshakeIo> _connecting = new();
    private readonly ConcurrentDictionary<Connection, Task> _releasing = new();
    private readonly CancellationTokenSource _stopping = new();
    private volatile bool _quiescing;
    private readonly SemaphoreSlim _handshakeSlots;
    private readonly Socket _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private int _disposed;

    /// <summary>A transport for the node <paramref name="localId"/>, accepting on <paramref name="listener"/> (from
    /// <see cref="Listen"/>) once started, and telling <paramref name="events"/> what happens.</summary>
    public Transport(NodeOptions options, NodeId localId, ulong incarnation, Socket listener, ITransportEvents events)
    {
        _options = options;
        _secret = new HandshakeSecret(options.ClusterSecret);
        LocalId = localId;
        Incarnation = incarnation;
        _listener = listener;
        _events = events;
        _handshakeSlots = new SemaphoreSlim(options.MaxPendingHandshakes, options.MaxPendingHandshakes);
    }

    /// <summary>This node's incarnation, bound into every handshake.</summary>
    public ulong Incarnation { get; }

    /// <summary>This node's id.</summary>
    public NodeId LocalId { get; }

    /// <summary>Binds a listening socket to <see cref="NodeOptions.Host"/> and <see cref="NodeOptions.Port"/> (a free
    /// port for 0): the node's id needs the port before the transport can exist.</summary>
    /// <exception cref="InvalidClusterConfigException">The host does not resolve, or is not an address of this machine.</exception>
    /// <exception cref="SocketException">The address is in use or cannot be bound.</exception>
    public static Socket Listen(NodeOptions options)
    {
        var address = BindAddress(options.Host);
        var listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Equals(IPAddress.IPv6Any))
            {
                // "::" means every interface, IPv4 included, as users who write it expect.
                listener.DualMode = true;
            }
            listener.Bind(new IPEndPoint(address, options.Port));
            listener.Listen(512);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressNotAvailable)
        {
            listener.Dispose();
            throw new InvalidClusterConfigException(nameof(NodeOptions.Host), $"'{options.Host}' ({address}) is not an address of this machine");
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        return listener;
    }

    /// <summary>The address to bind for <paramref name="host"/>: an IP address as written, or a host name's IPv4
    /// address (else its first), resolved now.</summary>
    private static IPAddress BindAddress(string host)
    {
        var bare = host.Trim('[', ']');
        if (IPAddress.TryParse(bare, out var address))
        {
            return address;
        }
        IPAddress[] addresses;
        try
        {
            addresses = Dns.GetHostAddresses(bare);
        }
        catch (SocketException e)
        {
            throw new InvalidClusterConfigException(nameof(NodeOptions.Host), $"'{host}' does not resolve ({e.SocketErrorCode}: {e.Message})");
        }
        return addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new InvalidClusterConfigException(nameof(NodeOptions.Host), $"'{host}' resolves to no address");
    }

    /// <summary>
    /// Whether <paramref name="remote"/>, the end of a connect, is this node's own listener: its port, and the listener's
    /// address (a wildcard listener: any loopback or interface address of this machine, or of its network namespace).
    /// </summary>
    private bool IsOwnListener(EndPoint? remote)
    {
        if (remote is not IPEndPoint { } end || _listener.LocalEndPoint is not IPEndPoint { } own || end.Port != own.Port)
        {
            return false;
        }
        var address = end.Address.IsIPv4MappedToIPv6 ? end.Address.MapToIPv4() : end.Address;
        var bound = own.Address.IsIPv4MappedToIPv6 ? own.Address.MapToIPv4() : own.Address;
        if (!bound.Equals(IPAddress.Any) && !bound.Equals(IPAddress.IPv6Any))
        {
            return address.Equals(bound);
        }
        return IPAddress.IsLoopback(address) || NetworkInterface.GetAllNetworkInterfaces()
            .Any(i => i.GetIPProperties().UnicastAddresses.Any(u => u.Address.Equals(address)));
    }

    /// <summary>Starts accepting.</summary>
    public void Start() => _acceptLoop = Task.Run(AcceptLoopAsync);

    public bool TryGetConnection(NodeId peer, [NotNullWhen(true)] out Connection? connection) =>
        TryGetConnection(peer.ToString(), out connection);

    public bool TryGetConnection(string peer, [NotNullWhen(true)] out Connection? connection) =>
        _connections.TryGetValue(peer, out connection) && !connection.IsClosed;

    public Connection[] GetConnections() => _connections.Values.Where(c => !c.IsClosed).ToArray();

    /// <summary>
    /// Dials <paramref name="peer"/> unless a connection or a dial to it exists. Returns the connection, or null when the
    /// peer keeps another connection (a simultaneous dial it won).
    /// </summary>
    /// <exception cref="NodeNotReachableException">The peer could not be reached within the connect timeout.</exception>
    /// <exception cref="HandshakeException">The handshake failed.</exception>
    public Task<Connection?> ConnectAsync(NodeId peer)
    {
        lock (_lock)
        {
            if (_connections.TryGetValue(peer.ToString(), out var existing) && !existing.IsClosed)
            {
                return Task.FromResult<Connection?>(existing);
            }
            if (_dials.TryGetValue(peer, out var pending))
            {
                return pending;
            }
            if (_quiescing)
            {
                return Task.FromResult<Connection?>(null);
            }
            var dial = DialAsync(peer);
            _dials[peer] = dial;
            return dial;
        }
    }

    /// <summary>
    /// The first step of a graceful stop: no new dial starts, and the dials in flight finish (within
    /// <paramref name="grace"/>) rather than being cut off mid-handshake, where the peer may already count the connection
    /// as up and would see it end without the goodbye. The node tells connections adopted from now on goodbye at once.
    /// </summary>
    public async Task QuiesceAsync(TimeSpan grace)
    {
        Task[] dials;
        lock (_lock)
        {
            _quiescing = true;
            dials = _dials.Values.ToArray();
        }
        try
        {
            await Task.WhenAll(dials).WaitAsync(grace).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Failed dials and the grace running out both mean: nothing more to wait for.
        }
    }

    /// <summary>
    /// Removes a closed connection from the table (the node calls this from OnClosed) and releases it once its loops have
    /// ended: its socket's descriptor is closed now, not whenever the finalizer runs.
    /// </summary>
    public void Forget(Connection connection)
    {
        lock (_lock)
        {
            _connections.TryRemove(new KeyValuePair<string, Connection>(connection.PeerText, connection));
        }
        // OnClosed may run on the connection's own read thread, whose end the release waits for: never inline.
        var release = Task.Run(async () =>
        {
            try
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
            {
                // A TLS stream failing its close notification on a dead socket: the connection is released regardless.
            }
        });
        _releasing[connection] = release;
        _ = release.ContinueWith(_ => _releasing.TryRemove(connection, out Task? _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stopping.Cancel();
        _listener.Dispose();
        await _acceptLoop.ConfigureAwait(false);
        Connection[] connections;
        lock (_lock)
        {
            connections = _connections.Values.ToArray();
            _connections.Clear();
        }
        foreach (var connection in connections)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        // And the ones that closed before: the stop returns when every connection's threads have ended.
        await Task.WhenAll(_releasing.Values).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private async Task<Connection?> DialAsync(NodeId peer)
    {
        await Task.Yield();
        HandshakeIo? io = null;
        try
        {
            io = new HandshakeIo(null, _options.TimeProvider, _stopping.Token);
            lock (_lock)
            {
                _connecting[peer] = io;
            }
            var handshake = await DedicatedThread.Run("noex dial", () => DialHandshake(io, peer)).ConfigureAwait(false);
            if (handshake is null)
            {
                return null;
            }
            var connection = new Connection(io.Socket, io.Stream, peer, handshake.PeerIncarnation, handshake.Keys!, _options, _events)
            {
                Protocol = handshake.Negotiated,
            };
            if (Adopt(connection))
            {
                return connection;
            }
            await connection.DisposeAsync().ConfigureAwait(false);
            return TryGetConnection(peer, out var winner) ? winner : null;
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            var e = new HandshakeException(HandshakeFailure.Timeout, false, $"Handshake with {peer} did not finish within {_options.HandshakeTimeout.TotalMilliseconds} ms");
            ReportFailure(null, peer, e);
            throw e;
        }
        catch (HandshakeException e)
        {
            ReportFailure(null, peer, e);
            throw;
        }
        catch (System.Security.Authentication.AuthenticationException e)
        {
            var failure = new HandshakeException(HandshakeFailure.Tls, false, $"TLS with {peer} failed: {e.Message}");
            ReportFailure(null, peer, failure);
            throw failure;
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            // The TCP connect succeeded (its failures are thrown above), so the peer hung up on the handshake.
            var failure = new HandshakeException(HandshakeFailure.PeerClosed, false, $"{peer} closed the connection during the handshake ({e.Message}); does it expect TLS, or is it not a Noex.Lite node?");
            ReportFailure(null, peer, failure);
            throw failure;
        }
        finally
        {
            lock (_lock)
            {
                _dials.Remove(peer);
                _connecting.Remove(peer);
            }
            io?.Dispose();
        }
    }

    /// <summary>Ends <paramref name="peer"/>'s dial's connect phase; true if an inbound connection from the peer was kept
    /// meanwhile (<see cref="InboundStatus"/> took the dial out), so the dial must stop before it sends anything.</summary>
    private bool WasAbandoned(NodeId peer)
    {
        lock (_lock)
        {
            return !_connecting.Remove(peer);
        }
    }

    /// <summary>Tells the node of a failed handshake, naming where it came from.</summary>
    private void ReportFailure(EndPoint? remote, NodeId? peer, HandshakeException error)
    {
        error.Peer ??= peer;
        error.RemoteEndPoint ??= remote;
        _events.OnHandshakeFailed(error);
    }

    /// <summary>The dialing side's blocking part, on its own thread: connect, TLS, hello, proof. Null for a duplicate.</summary>
    private Handshake? DialHandshake(HandshakeIo io, NodeId peer)
    {
        try
        {
            io.Connect(peer, _options.ConnectTimeout);
        }
        catch (NodeNotReachableException) when (WasAbandoned(peer))
        {
            // Aborted because the peer's own connection came first and was kept: not a failure.
            return null;
        }
        if (WasAbandoned(peer))
        {
            return null;
        }
        if (IsOwnListener(io.Socket.RemoteEndPoint))
        {
            throw new HandshakeException(HandshakeFailure.SelfDial, false, $"{peer} is at this node's own address ({io.Socket.RemoteEndPoint}); that node is gone from there");
        }
        io.StartDeadline(_options.HandshakeTimeout);
        Handshake handshake;
        byte[] proof;
        try
        {
            (handshake, proof) = Challenge(io, peer, fallback: false);
        }
        catch (HandshakeException e) when (e is { ByPeer: true, Failure: HandshakeFailure.Version } && _options.Protocol.Max > 1)
        {
            // §4.6: a version-1 node refuses the newer HELLO and closes; dial again with a version-1 HELLO marked as a
            // fallback, within the same deadline. This is how a rolling upgrade from version 1 keeps its connections.
            io.Reconnect(peer, _options.ConnectTimeout);
            (handshake, proof) = Challenge(io, peer, fallback: true);
        }
        io.Write(proof);
        try
        {
            handshake.OnWelcome(io.Read());
        }
        catch (HandshakeException e) when (e.Failure == HandshakeFailure.Duplicate)
        {
            // The peer keeps the other connection of a simultaneous dial: not a failure.
            return null;
        }
        io.HandOver();
        return handshake;
    }

    /// <summary>TLS, HELLO and CHALLENGE on a connected socket: the handshake and its PROOF to send.</summary>
    private (Handshake Handshake, byte[] Proof) Challenge(HandshakeIo io, NodeId peer, bool fallback)
    {
        if (_options.TlsClientOptions is { } tls)
        {
            io.AuthenticateAsClient(tls);
        }
        var handshake = Handshake.Dial(_secret, LocalId, Incarnation, peer, RandomNumberGenerator.GetBytes(Handshake.NonceLength),
            _options.Protocol, fallback);
        io.Write(handshake.CreateHello());
        try
        {
            return (handshake, handshake.OnChallenge(io.Read()));
        }
        catch (HandshakeException e) when (!e.ByPeer)
        {
            // §4.3: the dialer refuses a CHALLENGE with a REJECT too (wrong_node at a recycled seed address), so the
            // acceptor learns why rather than seeing the connection simply end.
            io.TryWrite(Handshake.CreateReject(e.Failure));
            throw;
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // A connection reset before accept completes (or fd exhaustion): the listener itself is fine.
                continue;
            }
            catch (Exception e)
            {
                // Nothing else is expected here; if it happens the node accepts no more connections, which must not go unsaid.
                NoexLog.Log.ListenerFailed(LocalId.ToString(), e.GetType().Name, e.Message);
                throw;
            }
            socket.NoDelay = true;
            if (!_handshakeSlots.Wait(0))
            {
                // Too many handshakes in progress: refuse at once rather than queue attackers' sockets.
                _ = RefuseAsync(socket);
                continue;
            }
            _ = Task.Run(() => AcceptAsync(socket));
        }
    }

    private async Task RefuseAsync(Socket socket)
    {
        var remote = socket.RemoteEndPoint;
        try
        {
            await socket.SendAsync(Handshake.CreateReject(HandshakeFailure.Busy), SocketFlags.None).ConfigureAwait(false);
        }
        catch (SocketException)
        {
        }
        finally
        {
            socket.Dispose();
        }
        ReportFailure(remote, null, new HandshakeException(HandshakeFailure.Busy, false,
            $"Refused a connection from {remote}: {_options.MaxPendingHandshakes} handshakes are in progress ({nameof(NodeOptions.MaxPendingHandshakes)})"));
    }

    private async Task AcceptAsync(Socket socket)
    {
        var remote = socket.RemoteEndPoint;
        var io = new HandshakeIo(socket, _options.TimeProvider, _stopping.Token);
        Handshake? handshake = null;
        try
        {
            handshake = Handshake.Accept(_secret, LocalId, Incarnation, RandomNumberGenerator.GetBytes(Handshake.NonceLength), _options.Protocol);
            var accepted = handshake;
            if (!await DedicatedThread.Run("noex accept", () => AcceptHandshake(io, accepted)).ConfigureAwait(false))
            {
                return;
            }
            var connection = new Connection(io.Socket, io.Stream, handshake.PeerId!, handshake.PeerIncarnation, handshake.Keys!, _options, _events)
            {
                Protocol = handshake.Negotiated,
                Inbound = true,
            };
            if (!Adopt(connection))
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            ReportFailure(remote, handshake?.PeerId, new HandshakeException(HandshakeFailure.Timeout, false,
                $"A connection from {remote} did not finish its handshake within {_options.HandshakeTimeout.TotalMilliseconds} ms"));
        }
        catch (HandshakeException e)
        {
            ReportFailure(remote, handshake?.PeerId, e);
        }
        catch (System.Security.Authentication.AuthenticationException e)
        {
            ReportFailure(remote, null, new HandshakeException(HandshakeFailure.Tls, false, $"TLS with {remote} failed: {e.Message}"));
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer went away mid-handshake, or this node is stopping: nothing was adopted, nothing to report.
        }
        finally
        {
            _handshakeSlots.Release();
            io.Dispose();
        }
    }

    /// <summary>The accepting side's blocking part, on its own thread: TLS, hello, challenge, proof, welcome. False when
    /// the welcome turned the peer away (a duplicate or superseded connection).</summary>
    private bool AcceptHandshake(HandshakeIo io, Handshake handshake)
    {
        io.StartDeadline(_options.HandshakeTimeout);
        if (_options.TlsServerOptions is { } tls)
        {
            io.AuthenticateAsServer(tls);
        }
        byte[] challenge;
        try
        {
            challenge = handshake.OnHello(io.Read());
        }
        catch (HandshakeException e) when (!e.ByPeer)
        {
            io.TryWrite(Handshake.CreateReject(e.Failure));
            throw;
        }
        io.Write(challenge);
        try
        {
            handshake.OnProof(io.Read());
        }
        catch (HandshakeException e) when (!e.ByPeer)
        {
            io.TryWrite(Handshake.CreateReject(e.Failure));
            throw;
        }
        var status = InboundStatus(handshake.PeerId!, handshake.PeerIncarnation);
        io.Write(handshake.CreateWelcome(status));
        if (status != WelcomeStatus.Accepted)
        {
            return false;
        }
        io.HandOver();
        return true;
    }

    /// <summary>
    /// Whether an inbound connection from <paramref name="peer"/> must give way (protocol.md §4.3, §4.4): to a live
    /// connection of the same incarnation or to this node's own dial in progress when this node's id is the smaller one
    /// and the dial has reached the peer (duplicate), or to a live connection of a newer incarnation of that id
    /// (superseded: an older process claims an identity that a newer one holds, so it must not take it back).
    /// </summary>
    private WelcomeStatus InboundStatus(NodeId peer, ulong incarnation)
    {
        lock (_lock)
        {
            if (_connections.TryGetValue(peer.ToString(), out var existing) && !existing.IsClosed)
            {
                return existing.PeerIncarnation > incarnation ? WelcomeStatus.Superseded
                    : existing.PeerIncarnation == incarnation ? WelcomeStatus.Duplicate
                    : WelcomeStatus.Accepted;
            }
            if (!_dials.ContainsKey(peer) || LocalId > peer)
            {
                return WelcomeStatus.Accepted;
            }
            if (!_connecting.Remove(peer, out var dial))
            {
                return WelcomeStatus.Duplicate;
            }
            // This node's dial has not reached the peer yet, and may wait on a lost SYN for the whole connect timeout
            // (after a network outage, say): the peer's own connection proves it reachable, so it is kept, and the dial is
            // abandoned before it sends a byte, so the two nodes still agree on one connection (§4.4).
            dial.AbortConnect();
            return WelcomeStatus.Accepted;
        }
    }

    /// <summary>
    /// Makes <paramref name="connection"/> the one connection to its peer, unless a live one of the same or a newer
    /// incarnation already is; a live one of an older incarnation is closed as Restarted.
    /// </summary>
    private bool Adopt(Connection connection)
    {
        Connection? replaced = null;
        lock (_lock)
        {
            if (_stopping.IsCancellationRequested)
            {
                return false;
            }
            if (_connections.TryGetValue(connection.PeerText, out var existing) && !existing.IsClosed)
            {
                if (existing.PeerIncarnation >= connection.PeerIncarnation)
                {
                    return false;
                }
                replaced = existing;
            }
            _connections[connection.PeerText] = connection;
        }
        replaced?.Close(NodeDownReason.Restarted, detail:
            $"incarnation {connection.PeerIncarnation} of {connection.Peer} connected, so incarnation {replaced.PeerIncarnation} is gone");
        connection.Start();
        _events.OnConnectionUp(connection, replaced);
        return true;
    }
}
