using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

/// <summary>
/// A TCP forwarder that adds latency: every chunk it reads is forwarded <see cref="Delay"/> after it arrived, in each
/// direction, in order. A node that advertises the relay's address and port (NodeOptions.AdvertisedHost and
/// AdvertisedPort) receives every dial through it, so each connection to that node carries the delay both ways.
/// </summary>
/// <remarks>
/// Each direction is a reader and a writer joined by a queue of chunks stamped with their due time: the reader keeps
/// reading while the writer waits for the head of the queue, so the delay is added once per chunk and does not throttle
/// the throughput. A closing (FIN) is delayed like data; a reset or an error ends both sides at once. The writers run on
/// threads of their own, for a delay accurate to a fraction of a millisecond.
/// </remarks>
public sealed class DelayRelay : IAsyncDisposable
{
    private const int ChunkSize = 64 * 1024;

    private readonly Socket _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly Lock _lock = new();
    private readonly List<Socket> _sockets = [];
    private readonly List<Task> _pumps = [];
    private readonly Task _acceptLoop;

    /// <summary>Listens on <paramref name="address"/> (an OS-chosen port) and forwards to <paramref name="target"/>.</summary>
    public DelayRelay(IPAddress address, IPEndPoint target, TimeSpan delay)
    {
        _target = target;
        Delay = delay;
        _listener = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(address, 0));
        _listener.Listen(64);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The latency added to each direction.</summary>
    public TimeSpan Delay { get; }

    /// <summary>The address the relay listens on.</summary>
    public IPAddress Address => ((IPEndPoint)_listener.LocalEndPoint!).Address;

    /// <summary>The port to dial (and for the target node to advertise).</summary>
    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    /// <summary>How many connections have been accepted.</summary>
    public int Accepted { get; private set; }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        Task[] pumps;
        lock (_lock)
        {
            foreach (var socket in _sockets)
            {
                Reset(socket);
            }
            pumps = [.. _pumps];
        }
        await _acceptLoop;
        await Task.WhenAll(pumps);
        _stop.Dispose();
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
            var server = new Socket(_target.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            client.NoDelay = true;
            lock (_lock)
            {
                _sockets.Add(client);
                _sockets.Add(server);
                Accepted++;
                _pumps.Add(RelayAsync(client, server));
            }
        }
    }

    private async Task RelayAsync(Socket client, Socket server)
    {
        try
        {
            await server.ConnectAsync(_target, _stop.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            Reset(client);
            Reset(server);
            return;
        }
        await Task.WhenAll(PumpAsync(client, server), PumpAsync(server, client));
        client.Dispose();
        server.Dispose();
    }

    /// <summary>Forwards what <paramref name="from"/> sends to <paramref name="to"/>, each chunk <see cref="Delay"/> late.</summary>
    private async Task PumpAsync(Socket from, Socket to)
    {
        using var chunks = new BlockingCollection<Chunk>();
        var written = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        new Thread(() => Write(chunks, from, to, written)) { IsBackground = true, Name = "DelayRelay writer" }.Start();
        try
        {
            while (true)
            {
                var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                chunks.Add(new Chunk(buffer, read, Stopwatch.GetTimestamp() + Ticks(Delay)));
                if (read == 0)
                {
                    break;
                }
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            Reset(from);
            Reset(to);
        }
        chunks.CompleteAdding();
        await written.Task;
    }

    /// <summary>
    /// The writer of one direction, on a thread of its own: the thread pool's timers are too coarse for a delay of a
    /// millisecond (Task.Delay(1) takes about 4 ms on some machines), so it sleeps to within a millisecond of each
    /// chunk's due time and yields the rest.
    /// </summary>
    private void Write(BlockingCollection<Chunk> chunks, Socket from, Socket to, TaskCompletionSource written)
    {
        try
        {
            foreach (var chunk in chunks.GetConsumingEnumerable(_stop.Token))
            {
                Until(chunk.Due);
                if (chunk.Length == 0)
                {
                    // The sender closed its side: pass the FIN on, as late as its data.
                    ArrayPool<byte>.Shared.Return(chunk.Buffer);
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                for (var sent = 0; sent < chunk.Length;)
                {
                    sent += to.Send(chunk.Buffer, sent, chunk.Length - sent, SocketFlags.None);
                }
                ArrayPool<byte>.Shared.Return(chunk.Buffer);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            Reset(from);
            Reset(to);
        }
        finally
        {
            written.TrySetResult();
        }
    }

    /// <summary>Waits until the <see cref="Stopwatch"/> reads <paramref name="due"/>: never early, and late by well under a millisecond.</summary>
    private static void Until(long due)
    {
        var millisecond = Stopwatch.Frequency / 1000;
        while (due - Stopwatch.GetTimestamp() is var remaining && remaining > 0)
        {
            if (remaining > 2 * millisecond)
            {
                Thread.Sleep((int)(remaining / millisecond) - 1);
            }
            else
            {
                Thread.Yield();
            }
        }
    }

    private static long Ticks(TimeSpan delay) => (long)(delay.TotalSeconds * Stopwatch.Frequency);

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

    private readonly record struct Chunk(byte[] Buffer, int Length, long Due);
}
