using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;

namespace Noex.Lite;

/// <summary>
/// The blocking socket work before a connection starts: the TCP connect, the TLS handshake and the messages of
/// protocol.md §4, run on a <see cref="DedicatedThread"/> within a deadline.
/// </summary>
/// <remarks>
/// <para>
/// Every call is synchronous on a socket in blocking mode, because one asynchronous call would turn the socket
/// non-blocking for good and route the connection's later receives through the runtime's event loop (see
/// <see cref="Connection"/>). A blocking call has no deadline of its own, so a timer (and the node's stop) aborts the
/// socket, which ends whatever call is blocked; the aborted call then surfaces as <see cref="OperationCanceledException"/>.
/// </para>
/// <para>
/// It reads exactly one message at a time (its length, then exactly its bytes) and never more: the peer's first frames
/// may follow its last handshake message in the same TCP segment, and they belong to the connection's frame reader.
/// </para>
/// </remarks>
internal sealed class HandshakeIo : IDisposable
{
    private static readonly TimerCallback s_onDeadline = static state => ((HandshakeIo)state!).Abort();
    private static readonly TimerCallback s_onConnectDeadline = static state => ((HandshakeIo)state!).AbortConnect();

    private readonly byte[] _buffer = new byte[2 + Handshake.MaxMessageLength];
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly CancellationToken _stopping;
    private readonly CancellationTokenRegistration _onStop;
    private Socket? _socket;
    private ITimer? _deadline;
    private bool _aborted;
    private bool _connecting;
    private bool _done;
    private bool _handedOver;

    /// <param name="socket">An accepted socket in blocking mode, or null to make one in <see cref="Connect"/>; owned by
    /// this object until <see cref="HandOver"/>.</param>
    /// <param name="time">The clock of the connect and handshake deadlines.</param>
    /// <param name="stopping">The node's stop, which aborts the socket.</param>
    public HandshakeIo(Socket? socket, TimeProvider time, CancellationToken stopping)
    {
        _socket = socket;
        _time = time;
        _stopping = stopping;
        _onStop = stopping.UnsafeRegister(static state => ((HandshakeIo)state!).Abort(), this);
    }

    /// <summary>The socket.</summary>
    public Socket Socket => _socket ?? throw new InvalidOperationException("not connected");

    /// <summary>The TLS stream once authenticated; null for plain TCP.</summary>
    public Stream? Stream { get; private set; }

    /// <summary>Connects to <paramref name="peer"/> within <paramref name="timeout"/>, trying each of its addresses.</summary>
    /// <exception cref="NodeNotReachableException">No address accepted the connection in time.</exception>
    public void Connect(NodeId peer, TimeSpan timeout)
    {
        var started = _time.GetTimestamp();
        var addresses = Resolve(peer, timeout);
        var failure = "the host name has no address";
        // A blocking connect, which the deadline ends by closing the socket: an asynchronous or non-blocking connect
        // would leave the socket non-blocking for good (the runtime never switches one back). The lookup counts.
        var left = timeout - _time.GetElapsedTime(started);
        using var deadline = _time.CreateTimer(s_onConnectDeadline, this, left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        foreach (var candidate in addresses)
        {
            Socket socket;
            lock (_lock)
            {
                if (_aborted)
                {
                    break;
                }
                // A socket whose connect failed cannot try again, so each address gets a new one.
                _socket?.Dispose();
                _socket = socket = new Socket(candidate.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                _connecting = true;
            }
            try
            {
                socket.Connect(candidate, peer.Port);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                failure = e is SocketException error ? error.SocketErrorCode.ToString() : failure;
                continue;
            }
            lock (_lock)
            {
                _connecting = false;
                if (!_aborted)
                {
                    return;
                }
            }
        }
        _stopping.ThrowIfCancellationRequested();
        throw new NodeNotReachableException(peer, Volatile.Read(ref _aborted) ? $"no connection within {timeout.TotalMilliseconds} ms" : failure);
    }

    /// <summary>Drops the connection (and its TLS stream) and connects to <paramref name="peer"/> again, for a handshake
    /// that starts over; the handshake's deadline keeps running.</summary>
    /// <exception cref="NodeNotReachableException">No address accepted the connection in time.</exception>
    public void Reconnect(NodeId peer, TimeSpan timeout)
    {
        Stream?.Dispose();
        Stream = null;
        Connect(peer, timeout);
    }

    /// <summary>The addresses of <paramref name="peer"/>'s host: itself if it is an IP address, else a DNS lookup within
    /// <paramref name="timeout"/> (a lookup is asynchronous, so it does not touch any socket of the connection).</summary>
    /// <exception cref="NodeNotReachableException">The name does not resolve, or not in time.</exception>
    private IPAddress[] Resolve(NodeId peer, TimeSpan timeout)
    {
        var host = peer.Host.Trim('[', ']');
        if (IPAddress.TryParse(host, out var address))
        {
            return [address];
        }
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, _stopping);
        try
        {
            return Dns.GetHostAddressesAsync(host, linked.Token).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            throw new NodeNotReachableException(peer, $"the host name '{host}' did not resolve within {timeout.TotalMilliseconds} ms");
        }
        catch (SocketException e)
        {
            throw new NodeNotReachableException(peer, $"the host name '{host}' does not resolve ({e.SocketErrorCode}: {e.Message})");
        }
    }

    /// <summary>Starts the handshake's deadline: after <paramref name="timeout"/> the socket is aborted.</summary>
    public void StartDeadline(TimeSpan timeout) => _deadline = _time.CreateTimer(s_onDeadline, this, timeout, Timeout.InfiniteTimeSpan);

    /// <summary>TLS as the dialing side.</summary>
    public void AuthenticateAsClient(SslClientAuthenticationOptions options)
    {
        var ssl = new SslStream(new NetworkStream(Socket, ownsSocket: false));
        Stream = ssl;
        Guard(() => ssl.AuthenticateAsClient(options));
    }

    /// <summary>TLS as the accepting side.</summary>
    public void AuthenticateAsServer(SslServerAuthenticationOptions options)
    {
        var ssl = new SslStream(new NetworkStream(Socket, ownsSocket: false));
        Stream = ssl;
        Guard(() => ssl.AuthenticateAsServer(options));
    }

    /// <summary>Reads one whole handshake message (its 2-byte length included).</summary>
    public byte[] Read()
    {
        ReadExactly(_buffer.AsSpan(0, 2));
        var length = BinaryPrimitives.ReadUInt16LittleEndian(_buffer);
        if (Handshake.TryReadMessage(_buffer.AsSpan(0, 2), out _) == OperationStatus.InvalidData)
        {
            throw new HandshakeException(HandshakeFailure.Malformed, false, $"a handshake message's length {length} is outside 1–{Handshake.MaxMessageLength} bytes");
        }
        ReadExactly(_buffer.AsSpan(2, length));
        return _buffer.AsSpan(0, 2 + length).ToArray();
    }

    /// <summary>Writes one handshake message.</summary>
    public void Write(byte[] message) => Guard(() =>
    {
        if (Stream is null)
        {
            Socket.Send(message, SocketFlags.None);
        }
        else
        {
            Stream.Write(message);
            Stream.Flush();
        }
    });

    /// <summary>Writes a rejection the peer may never read (it may be gone): failures are ignored.</summary>
    public void TryWrite(byte[] message)
    {
        try
        {
            Write(message);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Ends the deadline (a later firing finds the handshake done and does nothing; <see cref="Dispose"/> releases the
    /// timer): the socket and TLS stream now belong to a connection and are not disposed here.
    /// </summary>
    /// <exception cref="OperationCanceledException">The deadline or the stop came first.</exception>
    public void HandOver()
    {
        lock (_lock)
        {
            _done = true;
            if (_aborted)
            {
                throw Canceled();
            }
            _handedOver = true;
        }
    }

    /// <summary>Disposes the socket and stream unless handed over, and the deadline.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _done = true;
        }
        _deadline?.Dispose();
        _onStop.Dispose();
        if (!_handedOver)
        {
            Stream?.Dispose();
            _socket?.Dispose();
        }
    }

    private void ReadExactly(Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int read;
            try
            {
                read = Stream is null ? Socket.Receive(destination, SocketFlags.None) : Stream.Read(destination);
            }
            catch (Exception e) when (IsAbort(e))
            {
                throw Canceled();
            }
            if (read == 0)
            {
                throw Volatile.Read(ref _aborted) ? Canceled() : new IOException("the peer closed the connection during the handshake");
            }
            destination = destination[read..];
        }
    }

    private void Guard(Action io)
    {
        try
        {
            io();
        }
        catch (Exception e) when (IsAbort(e))
        {
            throw Canceled();
        }
    }

    private bool IsAbort(Exception e) =>
        Volatile.Read(ref _aborted) && e is IOException or SocketException or ObjectDisposedException or System.Security.Authentication.AuthenticationException;

    private OperationCanceledException Canceled() =>
        _stopping.IsCancellationRequested ? new OperationCanceledException(_stopping) : new OperationCanceledException("the handshake's deadline passed");

    /// <summary>Ends whatever blocking call is under way: shutdown wakes a blocked receive or send, and only closing the
    /// socket ends a pending connect.</summary>
    private void Abort()
    {
        Socket? socket;
        bool connecting;
        lock (_lock)
        {
            if (_done)
            {
                return;
            }
            _aborted = true;
            socket = _socket;
            connecting = _connecting;
        }
        try
        {
            if (connecting)
            {
                socket?.Dispose();
            }
            else
            {
                socket?.Shutdown(SocketShutdown.Both);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already gone.
        }
    }

    /// <summary>The connect's deadline: it ends the connect if one is still pending, and nothing after.</summary>
    /// <summary>Ends a connect still in progress (its deadline passed, or the node no longer needs it); once connected,
    /// nothing.</summary>
    public void AbortConnect()
    {
        lock (_lock)
        {
            if (!_connecting)
            {
                return;
            }
        }
        Abort();
    }
}
