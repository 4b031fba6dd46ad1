using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Noex.Lite.Bench.Remote;

/// <summary>
/// The baseline: a plain length-prefixed TCP echo between the same two processes, with a message the size of a Noex.Lite
/// call request. Nothing can be faster over the same sockets, so it is the yardstick for every other scenario.
/// </summary>
public static class RawEcho
{
    /// <summary>The payload size: about what one encoded call request of the benchmark takes on the wire.</summary>
    public const int PayloadSize = 40;

    private const int FrameSize = 4 + PayloadSize;

    public static async Task RunServerAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        Console.WriteLine($"LISTENING {((IPEndPoint)listener.LocalEndPoint!).Port}");
        Console.Out.Flush();
        using var stop = new CancellationTokenSource();
        // The parent closes our standard input when it is done.
        _ = Task.Run(() => { Console.In.ReadToEnd(); stop.Cancel(); });
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var socket = await listener.AcceptAsync(stop.Token);
                _ = Task.Run(() => EchoAsync(socket, stop.Token));
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task EchoAsync(Socket socket, CancellationToken cancellationToken)
    {
        socket.NoDelay = true;
        var buffer = new byte[256 * 1024];
        var filled = 0;
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(filled), cancellationToken);
                if (read == 0)
                {
                    return;
                }
                filled += read;
                // Echo every complete frame in one send, as a batching server would; keep the partial tail.
                var complete = 0;
                while (filled - complete >= 4)
                {
                    var length = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(complete));
                    if (filled - complete < 4 + length)
                    {
                        break;
                    }
                    complete += 4 + length;
                }
                if (complete > 0)
                {
                    await socket.SendAsync(buffer.AsMemory(0, complete), cancellationToken);
                    buffer.AsSpan(complete, filled - complete).CopyTo(buffer);
                    filled -= complete;
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
        }
        finally
        {
            socket.Dispose();
        }
    }

    public static async Task<ScenarioResult> RunClientAsync(string scenario, int port, int outstanding, TimeSpan duration)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var request = new byte[FrameSize * outstanding];
        for (var i = 0; i < outstanding; i++)
        {
            BinaryPrimitives.WriteInt32LittleEndian(request.AsSpan(i * FrameSize), PayloadSize);
        }
        var receive = new byte[FrameSize * Math.Max(outstanding, 16) * 2];
        var sentAt = new long[outstanding];
        var recorder = new LatencyRecorder(1 << 20);

        // Warm up (JIT, TCP windows), then measure.
        await LoopAsync(socket, outstanding, request, receive, sentAt, null, Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2);
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        var ops = await LoopAsync(socket, outstanding, request, receive, sentAt, recorder, started + (long)(duration.TotalSeconds * Stopwatch.Frequency));
        var elapsed = Stopwatch.GetElapsedTime(started);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        return new ScenarioResult(scenario, outstanding, ops / elapsed.TotalSeconds, recorder.PercentileMicros(0.50), recorder.PercentileMicros(0.99), (double)allocated / ops);
    }

    private static async Task<long> LoopAsync(Socket socket, int outstanding, byte[] request, byte[] receive, long[] sentAt, LatencyRecorder? recorder, long until)
    {
        // Keep `outstanding` requests in flight: send a window, then answer every reply with a new request, batched per read.
        // Replies come back in order on one connection, so sentAt is a ring indexed by request number.
        long sent = 0, done = 0;
        var now = Stopwatch.GetTimestamp();
        for (var i = 0; i < outstanding; i++)
        {
            sentAt[sent++ % outstanding] = now;
        }
        await socket.SendAsync(request.AsMemory(0, FrameSize * outstanding));
        var filled = 0;
        while (done < sent)
        {
            filled += await socket.ReceiveAsync(receive.AsMemory(filled));
            var replies = filled / FrameSize;
            now = Stopwatch.GetTimestamp();
            for (var i = 0; i < replies; i++)
            {
                // Not `recorder?.Record(... done++ ...)`: a null recorder would skip the increment too.
                var latency = now - sentAt[done++ % outstanding];
                recorder?.Record(latency);
            }
            receive.AsSpan(replies * FrameSize, filled - replies * FrameSize).CopyTo(receive);
            filled -= replies * FrameSize;
            var again = now < until ? replies : 0;
            if (again > 0)
            {
                for (var i = 0; i < again; i++)
                {
                    sentAt[sent++ % outstanding] = now;
                }
                await socket.SendAsync(request.AsMemory(0, FrameSize * again));
            }
        }
        return done;
    }
}
