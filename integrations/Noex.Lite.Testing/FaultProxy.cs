using System.Net;
using System.Net.Sockets;

namespace Noex.Lite.Testing;

/// <summary>
/// A TCP proxy on loopback that injects faults into the connections through it: a black hole (bytes held, sockets kept
/// open), loss in one direction, a flipped bit, a replayed chunk, or a reset. A node that advertises the proxy's port
/// (NodeOptions.AdvertisedPort) receives every dial through it. With a proxy in front of each node, <see cref="Cut"/> silences
/// the links of one pair of nodes only (an overlapping partition), which is how <see cref="TestCluster.Partition"/> works.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<(Socket Client, Socket Server)> _pairs = new();
    private readonly HashSet<Socket> _frozen = new();
    private readonly Lock _lock = new();
    private readonly Task _acceptLoop;
    private volatile bool _blackhole;
    private volatile bool _dropToTarget;
    private volatile bool _dropFromTarget;
    private int _corruptToTarget;
    private long _bytesPerSecond;
    private volatile TaskCompletionSource? _paused;
    private int _replayToTarget;
    private readonly HashSet<string> _cutDialers = new();

    private FaultProxy()
    {
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(64);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The port to dial (and for the target node to advertise).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    /// <summary>The port of the real listener behind the proxy.</summary>
    public int TargetPort { get; set; }

    /// <summary>How many connections have passed through.</summary>
    public int Accepted { get; private set; }

    /// <summary>Starts a proxy on a free loopback port; set <see cref="TargetPort"/> before anyone dials it.</summary>
    public static FaultProxy Start() => new();

    /// <summary>Holds every byte in both directions while the sockets stay open (a partition the OS cannot see).</summary>
    public bool Blackhole { get => _blackhole; set => _blackhole = value; }

    /// <summary>Drops what the dialler sends to the target.</summary>
    public bool DropToTarget { get => _dropToTarget; set => _dropToTarget = value; }

    /// <summary>Drops what the target sends back.</summary>
    public bool DropFromTarget { get => _dropFromTarget; set => _dropFromTarget = value; }

    /// <summary>Limits each direction of each connection to this many bytes per second (0: no limit), as a slow link.</summary>
    public long BytesPerSecond { get => Interlocked.Read(ref _bytesPerSecond); set => Interlocked.Exchange(ref _bytesPerSecond, value); }

    /// <summary>
    /// Stops reading in both directions while set, so the senders' socket buffers fill and TCP pushes back on them (a
    /// slow or stuck receiver). Unlike a black hole, nothing is lost: everything flows once it is cleared.
    /// </summary>
    public bool Paused
    {
        get => _paused is not null;
        set
        {
            if (value)
            {
                _paused ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            else
            {
                Interlocked.Exchange(ref _paused, null)?.TrySetResult();
            }
        }
    }

    /// <summary>Flips one bit in the last byte of the next chunk sent to the target.</summary>
    public void CorruptNextToTarget() => Interlocked.Exchange(ref _corruptToTarget, 1);

    /// <summary>Sends the next chunk to the target twice.</summary>
    public void ReplayNextToTarget() => Interlocked.Exchange(ref _replayToTarget, 1);

    /// <summary>
    /// Freezes the connections through the proxy now: their bytes and their closing are held, so each end thinks the
    /// other is still there, while new connections pass normally (a node that died behind a partition, then restarted).
    /// </summary>
    public void FreezeExisting()
    {
        lock (_lock)
        {
            foreach (var (client, server) in _pairs)
            {
                _frozen.Add(client);
                _frozen.Add(server);
            }
        }
    }

    private bool IsFrozen(Socket socket)
    {
        lock (_lock)
        {
            return _frozen.Contains(socket);
        }
    }

    /// <summary>
    /// Black-holes only the connections dialled by the node named <paramref name="dialerName"/> (read from the HELLO's
    /// <c>from</c>, protocol.md §4.2), so that with a proxy in front of each node one pair can be cut while the others
    /// stay healthy (an overlapping partition, T09). A connection whose HELLO has not passed yet is held until it has.
    /// </summary>
    public void Cut(string dialerName)
    {
        lock (_lock)
        {
            _cutDialers.Add(dialerName);
        }
    }

    /// <summary>Lets the connections dialled by <paramref name="dialerName"/> through again.</summary>
    public void Mend(string dialerName)
    {
        lock (_lock)
        {
            _cutDialers.Remove(dialerName);
        }
    }

    private bool IsCut(Dialer dialer)
    {
        lock (_lock)
        {
            return dialer.Name is { } name && _cutDialers.Contains(name);
        }
    }

    /// <summary>Who dialled a connection, once its HELLO has been seen.</summary>
    private sealed class Dialer
    {
        public volatile string? Name;

        /// <summary>Reads the dialer's node name from the first chunk, if it holds a whole HELLO up to its <c>from</c>.</summary>
        public void Learn(ReadOnlySpan<byte> chunk)
        {
            // length u16, type 0x01, "NOEX", version, flags, nonce 32, incarnation 8, from str8.
            const int FromAt = 49;
            if (Name is not null || chunk.Length <= FromAt || chunk[2] != 0x01 || chunk.Length < FromAt + 1 + chunk[FromAt])
            {
                return;
            }
            var id = System.Text.Encoding.UTF8.GetString(chunk.Slice(FromAt + 1, chunk[FromAt]));
            var at = id.IndexOf('@');
            Name = at < 0 ? id : id[..at];
        }
    }

    /// <summary>Closes every connection through the proxy cleanly: each end gets a FIN, as if its peer had closed it.</summary>
    public void CloseAll()
    {
        lock (_lock)
        {
            foreach (var (client, server) in _pairs)
            {
                foreach (var socket in new[] { client, server })
                {
                    try
                    {
                        socket.Shutdown(SocketShutdown.Both);
                    }
                    catch (Exception e) when (e is SocketException or ObjectDisposedException)
                    {
                    }
                }
            }
        }
    }

    /// <summary>Resets every connection through the proxy (RST, as a crashed middlebox would).</summary>
    public void ResetAll()
    {
        lock (_lock)
        {
            foreach (var (client, server) in _pairs)
            {
                Reset(client);
                Reset(server);
            }
            _pairs.Clear();
        }
    }

    /// <summary>Stops accepting and resets every connection through the proxy.</summary>
    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        ResetAll();
        await _acceptLoop;
    }

    private static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await server.ConnectAsync(new IPEndPoint(IPAddress.Loopback, TargetPort), _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                Reset(client);
                server.Dispose();
                continue;
            }
            client.NoDelay = true;
            lock (_lock)
            {
                _pairs.Add((client, server));
                Accepted++;
            }
            var dialer = new Dialer();
            _ = RunPairAsync(client, server, dialer);
        }
    }

    /// <summary>
    /// Pumps both ways, and once both directions have ended closes the pair's sockets and forgets it, as a middlebox
    /// drops a connection both ends have left: a long run of faults must not pile up the proxy's descriptors (a test that
    /// counts the process's descriptors would take them for a leak in the nodes).
    /// </summary>
    private async Task RunPairAsync(Socket client, Socket server, Dialer dialer)
    {
        await Task.WhenAll(PumpAsync(client, server, toTarget: true, dialer), PumpAsync(server, client, toTarget: false, dialer));
        lock (_lock)
        {
            _pairs.Remove((client, server));
            _frozen.Remove(client);
            _frozen.Remove(server);
        }
        client.Dispose();
        server.Dispose();
    }

    private async Task PumpAsync(Socket from, Socket to, bool toTarget, Dialer dialer)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                if (_paused is { } gate)
                {
                    await gate.Task.WaitAsync(_stop.Token);
                }
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (toTarget)
                {
                    dialer.Learn(buffer.AsSpan(0, read));
                }
                if (read == 0)
                {
                    // A black hole or a frozen link carries no FIN either: the other end must find out by itself.
                    if (!IsFrozen(from) && !_blackhole && !IsCut(dialer))
                    {
                        to.Shutdown(SocketShutdown.Send);
                    }
                    return;
                }
                if (IsFrozen(from) || _blackhole || IsCut(dialer) || (toTarget ? _dropToTarget : _dropFromTarget))
                {
                    continue;
                }
                if (_paused is { } held)
                {
                    // A chunk read by a receive that began before the pause is held too, so a pause stops everything at once.
                    await held.Task.WaitAsync(_stop.Token);
                }
                if (toTarget && Interlocked.Exchange(ref _corruptToTarget, 0) == 1)
                {
                    // The chunk's last byte: normally inside a frame's tag, never in a length prefix (a longer length
                    // would make the reader wait for bytes that never come instead of failing the MAC).
                    buffer[read - 1] ^= 0x10;
                }
                var limit = BytesPerSecond;
                if (limit > 0)
                {
                    // Pace a slow link: forward in slices of a tenth of a second's worth. (Simulating bandwidth, not
                    // waiting for an outcome: the tests themselves wait on events.)
                    var slice = (int)Math.Max(1, limit / 10);
                    for (var offset = 0; offset < read; offset += slice)
                    {
                        var length = Math.Min(slice, read - offset);
                        await to.SendAsync(buffer.AsMemory(offset, length), SocketFlags.None, _stop.Token);
                        await Task.Delay(TimeSpan.FromSeconds((double)length / limit), _stop.Token);
                    }
                }
                else
                {
                    await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
                }
                if (toTarget && Interlocked.Exchange(ref _replayToTarget, 0) == 1)
                {
                    await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            Reset(to);
        }
    }
}
