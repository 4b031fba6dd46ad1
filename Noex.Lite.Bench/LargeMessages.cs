using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Noex.Lite.Bench.Remote;

namespace Noex.Lite.Bench;

/// <summary>
/// `-- large`: calls that carry a large payload (64 KiB, 1 MiB, 8 MiB by default) between two OS processes on 127.0.0.1,
/// against a raw socket copy of the same bytes between the same two processes, in MB/s (part of issue #21: "close the
/// gap if it is more than 2x").
/// </summary>
/// <remarks>
/// <para>
/// The raw baseline is a plain length-prefixed TCP copy: the client sends <c>[length u32][S bytes]</c> in blocking sends
/// from one buffer, the server receives the S bytes into a buffer of its own and answers with a 4-byte ack. Nothing that
/// moves S bytes from one process into the other's memory over the same sockets can be faster. The Noex.Lite subject is
/// a remote call whose request is <c>{"type":"put","key":"k1","data":&lt;S-byte binary&gt;}</c> to the remote
/// benchmark's store, which answers with an integer.
/// </para>
/// <para>
/// Each round starts both servers afresh and measures, size by size, raw and Noex.Lite in turn (the order alternating
/// from round to round), each with one call in flight and then with <c>--outstanding</c> in flight; the ratios are taken
/// within a round and the table shows their medians. CPU per call is this process's and the server process's
/// (/proc/pid/stat), which together say where a call's time goes better than MB/s on a loaded machine.
/// </para>
/// </remarks>
internal static class LargeMessages
{
    /// <summary>The raw server's kind, for <see cref="RemoteHarness.RunServerAsync"/>.</summary>
    public const string RawServerKind = "large-raw";

    private const int AckSize = 4;

    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = BenchArgs.Int(args, "--seconds", 3);
        var roundCount = BenchArgs.Int(args, "--rounds", 1);
        var outstanding = BenchArgs.Int(args, "--outstanding", 4);
        var sizes = (Text(args, "--sizes") ?? "65536,1048576,8388608").Split(',').Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        if (roundCount < 1 || seconds < 1 || outstanding < 1 || sizes.Any(s => s < 1 || s > 15 * 1024 * 1024))
        {
            Console.Error.WriteLine("large: --seconds, --rounds and --outstanding must be at least 1, and each size 1 to 15 MiB (the default maximum frame is 16 MiB)");
            return 2;
        }
        var duration = TimeSpan.FromSeconds(seconds);
        var results = new List<Result>();
        for (var round = 1; round <= roundCount; round++)
        {
            Console.WriteLine($"round {round} of {roundCount}");
            await using var raw = await ServerProcess.StartAsync(RawServerKind);
            await using var noex = await ServerProcess.StartAsync("noex");
            await using var client = await NoexClient.StartAsync(noex.Detail);
            foreach (var size in sizes)
            {
                foreach (var inFlight in outstanding == 1 ? [1] : new[] { 1, outstanding })
                {
                    // Raw first in odd rounds, Noex.Lite first in even ones: whichever runs second inherits a warmer (or
                    // busier) machine.
                    var rawFirst = round % 2 == 1;
                    Result? rawResult = null, noexResult = null;
                    for (var turn = 0; turn < 2; turn++)
                    {
                        if ((turn == 0) == rawFirst)
                        {
                            rawResult = await MeasureAsync(round, "raw", size, inFlight, raw.Pid, duration, until => RawCopy.RunAsync(raw.Port, size, inFlight, until));
                        }
                        else
                        {
                            noexResult = await MeasureAsync(round, "noex", size, inFlight, noex.Pid, duration, until => client.RunAsync(size, inFlight, until));
                        }
                    }
                    results.Add(rawResult!);
                    results.Add(noexResult!);
                    Console.WriteLine($"  {Describe(size),8} x{inFlight}: raw {rawResult!.MegabytesPerSecond,8:N0} MB/s, noex {noexResult!.MegabytesPerSecond,8:N0} MB/s, "
                        + $"{noexResult.MegabytesPerSecond / rawResult.MegabytesPerSecond:0.00}x");
                }
            }
        }
        Print(results, roundCount);
        return 0;
    }

    /// <summary>The raw server: accepts connections and, on each, receives frames and acks each one.</summary>
    public static async Task RunRawServerAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        Console.WriteLine($"LISTENING {((IPEndPoint)listener.LocalEndPoint!).Port}");
        Console.Out.Flush();
        _ = Task.Run(() =>
        {
            // The parent closes our standard input when it is done.
            Console.In.ReadToEnd();
            listener.Dispose();
        });
        try
        {
            while (true)
            {
                var socket = await listener.AcceptAsync();
                new Thread(() => Receive(socket)) { IsBackground = true }.Start();
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
        }

        static void Receive(Socket socket)
        {
            // Blocking receives on a thread of its own, as a Noex.Lite connection reads: the fairest yardstick.
            socket.NoDelay = true;
            var header = new byte[4];
            var data = Array.Empty<byte>();
            var ack = new byte[AckSize];
            try
            {
                while (ReceiveExactly(socket, header))
                {
                    var length = BinaryPrimitives.ReadInt32LittleEndian(header);
                    if (data.Length < length)
                    {
                        data = new byte[length];
                    }
                    if (!ReceiveExactly(socket, data.AsSpan(0, length)))
                    {
                        return;
                    }
                    socket.Send(ack);
                }
            }
            catch (SocketException)
            {
            }
            finally
            {
                socket.Dispose();
            }
        }
    }

    private static bool ReceiveExactly(Socket socket, Span<byte> buffer)
    {
        while (!buffer.IsEmpty)
        {
            var read = socket.Receive(buffer);
            if (read == 0)
            {
                return false;
            }
            buffer = buffer[read..];
        }
        return true;
    }

    private static async Task<Result> MeasureAsync(int round, string subject, int size, int inFlight, int serverPid, TimeSpan duration,
        Func<long, Task<(long Calls, LatencyRecorder Latencies)>> run)
    {
        // Warm up (JIT tiers, pools, TCP windows, the largest buffers), then measure.
        await run(Stopwatch.GetTimestamp() + Stopwatch.Frequency / 2);
        using var cpu = new TransportStats(serverPid);
        var before = cpu.Snapshot();
        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        var started = Stopwatch.GetTimestamp();
        var (calls, latencies) = await run(started + (long)(duration.TotalSeconds * Stopwatch.Frequency));
        var elapsed = Stopwatch.GetElapsedTime(started);
        allocated = GC.GetTotalAllocatedBytes(precise: true) - allocated;
        var after = cpu.Snapshot();
        return new Result(round, subject, size, inFlight, calls / elapsed.TotalSeconds, (double)size * calls / elapsed.TotalSeconds / 1e6,
            latencies.PercentileMicros(0.5), (double)allocated / calls,
            (after.ClientCpuMs - before.ClientCpuMs) * 1000 / calls, (after.ServerCpuMs - before.ServerCpuMs) * 1000 / calls,
            (double)(after.Sends - before.Sends) / calls);
    }

    private static void Print(List<Result> results, int roundCount)
    {
        Console.WriteLine();
        Console.WriteLine($"medians of {roundCount} round(s); vs raw is the median of the per-round ratios (min–max); CPU is per call, in µs");
        Console.WriteLine($"{"size",8} {"in flight",9} {"subject",7} {"MB/s",8} {"calls/s",9} {"p50 us",9} {"alloc B/call",12} {"CPU client",10} {"CPU server",10} {"vs raw",18}");
        foreach (var group in results.GroupBy(r => (r.Size, r.InFlight, r.Subject)).OrderBy(g => g.Key.Size).ThenBy(g => g.Key.InFlight).ThenByDescending(g => g.Key.Subject))
        {
            var rows = group.ToList();
            var ratios = rows.Select(r => r.MegabytesPerSecond / results.Single(b => b.Round == r.Round && b.Size == r.Size && b.InFlight == r.InFlight && b.Subject == "raw").MegabytesPerSecond).ToList();
            var ratio = group.Key.Subject == "raw" ? "" : string.Create(CultureInfo.InvariantCulture, $"{Median(ratios):0.00}x ({ratios.Min():0.00}–{ratios.Max():0.00})");
            Console.WriteLine($"{Describe(group.Key.Size),8} {group.Key.InFlight,9} {group.Key.Subject,7} {Median(rows, r => r.MegabytesPerSecond),8:N0} {Median(rows, r => r.CallsPerSecond),9:N0} "
                + $"{Median(rows, r => r.P50Micros),9:N0} {Median(rows, r => r.AllocBytesPerCall),12:N0} {Median(rows, r => r.ClientCpuMicros),10:N0} {Median(rows, r => r.ServerCpuMicros),10:N0} {ratio,18}");
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["size"] = group.Key.Size,
                ["in_flight"] = group.Key.InFlight,
                ["subject"] = group.Key.Subject,
                ["mb_per_s"] = Math.Round(Median(rows, r => r.MegabytesPerSecond), 1),
                ["p50_us"] = Math.Round(Median(rows, r => r.P50Micros), 1),
                ["alloc_bytes_per_call"] = Math.Round(Median(rows, r => r.AllocBytesPerCall), 1),
                ["cpu_client_us"] = Math.Round(Median(rows, r => r.ClientCpuMicros), 1),
                ["cpu_server_us"] = Math.Round(Median(rows, r => r.ServerCpuMicros), 1),
                ["socket_writes_per_call"] = Math.Round(Median(rows, r => r.WritesPerCall), 2),
                ["vs_raw"] = group.Key.Subject == "raw" ? 1.0 : Math.Round(Median(ratios), 3),
            }));
        }
    }

    private static double Median(List<Result> rows, Func<Result, double> field) => Median(rows.Select(field).ToList());

    private static double Median(List<double> values)
    {
        values.Sort();
        return values.Count % 2 == 1 ? values[values.Count / 2] : (values[values.Count / 2 - 1] + values[values.Count / 2]) / 2;
    }

    private static string Describe(int size) =>
        size % (1024 * 1024) == 0 ? $"{size / (1024 * 1024)} MiB" : size % 1024 == 0 ? $"{size / 1024} KiB" : $"{size} B";

    private static string? Text(string[] args, string name)
    {
        string? value = null;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == name)
            {
                value = args[i + 1];
            }
        }
        return value;
    }

    /// <summary>One subject's figures at one size and depth in one round.</summary>
    private sealed record Result(int Round, string Subject, int Size, int InFlight, double CallsPerSecond, double MegabytesPerSecond, double P50Micros,
        double AllocBytesPerCall, double ClientCpuMicros, double ServerCpuMicros, double WritesPerCall);

    /// <summary>The raw client: one connection per measurement, a sender thread keeping <c>inFlight</c> frames unacked and
    /// a receiver thread reading the acks.</summary>
    private static class RawCopy
    {
        public static Task<(long Calls, LatencyRecorder Latencies)> RunAsync(int port, int size, int inFlight, long until) => Task.Run(() =>
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
            var frame = new byte[4 + size];
            BinaryPrimitives.WriteInt32LittleEndian(frame, size);
            Random.Shared.NextBytes(frame.AsSpan(4));
            var recorder = new LatencyRecorder(1 << 16);
            var sentAt = new long[inFlight];
            using var window = new SemaphoreSlim(inFlight, inFlight);
            long sent = 0, done = 0; // sent: the sender's count; done: the receiver's
            var receiver = new Thread(() =>
            {
                var ack = new byte[AckSize];
                // Until the server closes, which it does once the sender has had every ack and shut its half down.
                while (ReceiveExactly(socket, ack))
                {
                    // Acks come back in order, so sentAt is a ring indexed by frame number; the window keeps the sender
                    // from overwriting a slot before its ack is here.
                    recorder.Record(Stopwatch.GetTimestamp() - sentAt[done++ % inFlight]);
                    window.Release();
                }
            }) { IsBackground = true };
            receiver.Start();
            while (Stopwatch.GetTimestamp() < until)
            {
                window.Wait();
                sentAt[sent++ % inFlight] = Stopwatch.GetTimestamp();
                socket.Send(frame);
            }
            // Wait for the acks still owed, then let the receiver go by closing our half.
            for (var i = 0; i < inFlight; i++)
            {
                window.Wait();
            }
            socket.Shutdown(SocketShutdown.Send);
            receiver.Join();
            return (done, recorder);
        });
    }

    /// <summary>The Noex.Lite client: a node connected to the server process's node, calling its store.</summary>
    private sealed class NoexClient : IAsyncDisposable
    {
        private const string Secret = "bench-secret-0123456789abcdef";
        private readonly Node _node;
        private readonly ProcessRef _store;
        private readonly Dictionary<int, Value> _requests = [];

        private NoexClient(Node node, ProcessRef store)
        {
            _node = node;
            _store = store;
        }

        public static async Task<NoexClient> StartAsync(string serverLine)
        {
            var parts = serverLine.Split(' ');
            var store = new ProcessRef(parts[0], long.Parse(parts[1], CultureInfo.InvariantCulture));
            var node = await Node.StartAsync(new NodeOptions { Name = "client", Host = "127.0.0.1", Port = 0, ClusterSecret = Secret, Seeds = [parts[0]] });
            var deadline = Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency;
            while (!node.IsConnected(NodeId.Parse(parts[0])))
            {
                if (Stopwatch.GetTimestamp() > deadline)
                {
                    await node.DisposeAsync();
                    throw new TimeoutException("the client node did not connect to the server node");
                }
                await Task.Delay(10);
            }
            return new NoexClient(node, store);
        }

        public async Task<(long Calls, LatencyRecorder Latencies)> RunAsync(int size, int inFlight, long until)
        {
            // One request per size, made once: a Value is immutable, and the benchmark measures the call, not building it.
            if (!_requests.TryGetValue(size, out var request))
            {
                var data = new byte[size];
                Random.Shared.NextBytes(data);
                request = Noex.Lite.Value.Object(("type", "put"), ("key", "k1"), ("data", Noex.Lite.Value.Binary(data)));
                _requests[size] = request;
            }
            var recorders = Enumerable.Range(0, inFlight).Select(_ => new LatencyRecorder((1 << 16) / inFlight)).ToArray();
            var total = 0L;
            await Task.WhenAll(Enumerable.Range(0, inFlight).Select(async i =>
            {
                var count = 0L;
                while (Stopwatch.GetTimestamp() < until)
                {
                    var start = Stopwatch.GetTimestamp();
                    var reply = await _node.Runtime.CallAsync(_store, request, TimeSpan.FromSeconds(60));
                    recorders[i].Record(Stopwatch.GetTimestamp() - start);
                    if (reply.AsInt64() != 42)
                    {
                        throw new InvalidOperationException($"the store answered {reply}, not 42");
                    }
                    count++;
                }
                Interlocked.Add(ref total, count);
            }));
            return (total, LatencyRecorder.Merge(recorders));
        }

        public ValueTask DisposeAsync() => _node.DisposeAsync();
    }
}
