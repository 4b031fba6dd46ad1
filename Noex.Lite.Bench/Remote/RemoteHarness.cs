using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Noex.Lite.Bench.Remote;

/// <summary>
/// The two-process harness behind `-- remote`: starts this program again as the server process, runs each scenario
/// against it for a fixed time, and prints a human table and then one JSON line per scenario.
/// </summary>
/// <remarks>
/// Figures are only comparable within one run (the machines are shared and noisy), so every scenario is also printed as
/// a ratio to the raw-socket baseline measured in the same run.
/// </remarks>
public static class RemoteHarness
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = 5.0;
        var outstanding = 100;
        var stats = false;
        var peers = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--seconds" when i + 1 < args.Length:
                    seconds = double.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--outstanding" when i + 1 < args.Length:
                    outstanding = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--stats":
                    stats = true;
                    break;
                case "--peer" when i + 1 < args.Length:
                    peers.AddRange(args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries));
                    break;
                default:
                    Console.Error.WriteLine($"remote: unknown option '{args[i]}' (use --seconds S, --outstanding N, --stats, --peer {string.Join('|', RemotePeers.Names)})");
                    return 2;
            }
        }
        if (peers.FirstOrDefault(p => !RemotePeers.Names.Contains(p)) is { } unknownPeer)
        {
            Console.Error.WriteLine($"remote: unknown peer '{unknownPeer}' (known: {string.Join(", ", RemotePeers.Names)})");
            return 2;
        }
        var duration = TimeSpan.FromSeconds(seconds);
        var results = new List<ScenarioResult>();

        await using (var server = await ServerProcess.StartAsync("raw-echo"))
        {
            Console.WriteLine($"server process {server.Pid} listening on 127.0.0.1:{server.Port}; {seconds} s per scenario");
            results.Add(await RawEcho.RunClientAsync("baseline-1", server.Port, 1, duration));
            results.Add(await RawEcho.RunClientAsync($"baseline-{outstanding}", server.Port, outstanding, duration));
        }

        await using (var server = await ServerProcess.StartAsync("noex"))
        {
            results.AddRange(await NoexRemote.RunClientAsync(server.Detail, outstanding, duration, stats));
        }

        var peersOk = await RemotePeers.RunAsync(peers, outstanding, duration, results);

        Print(results);
        return peersOk ? 0 : 1;
    }

    /// <summary>The hidden verb the harness starts in the second process.</summary>
    public static async Task<int> RunServerAsync(string[] args)
    {
        var kind = args.Length > 0 ? args[0] : "";
        switch (kind)
        {
            case "raw-echo":
                await RawEcho.RunServerAsync();
                return 0;
            case "noex":
                await NoexRemote.RunServerAsync();
                return 0;
            default:
                if (await RemotePeers.TryRunServerAsync(kind))
                {
                    return 0;
                }
                Console.Error.WriteLine($"remote-server: unknown server kind '{kind}'");
                return 2;
        }
    }

    private static void Print(List<ScenarioResult> results)
    {
        var baseline = results.FirstOrDefault(r => r.Scenario == "baseline-1");
        var pipelined = results.FirstOrDefault(r => r.Scenario.StartsWith("baseline-", StringComparison.Ordinal) && r.Scenario != "baseline-1");
        Console.WriteLine();
        // Casts are set against the pipelined baseline: the raw rate of same-sized messages with many in flight.
        ScenarioResult? Reference(ScenarioResult r) => r.Outstanding == 1 && !r.Scenario.EndsWith("cast", StringComparison.Ordinal) ? baseline : pipelined;
        double? Ratio(ScenarioResult r) => Reference(r) is { OpsPerSecond: > 0 } reference ? r.OpsPerSecond / reference.OpsPerSecond : null;
        Console.WriteLine($"{"scenario",-26} {"ops/s",12} {"p50 us",9} {"p99 us",9} {"alloc B/op",11} {"vs raw",8}");
        foreach (var r in results)
        {
            var ratio = Ratio(r) is { } x ? x.ToString("0.00x", CultureInfo.InvariantCulture) : "";
            Console.WriteLine($"{r.Scenario,-26} {r.OpsPerSecond,12:N0} {r.P50Micros,9:0.0} {r.P99Micros,9:0.0} {r.AllocBytesPerOp,11:0.0} {ratio,8}");
        }
        Console.WriteLine();
        foreach (var r in results)
        {
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["scenario"] = r.Scenario,
                ["ops_per_s"] = Math.Round(r.OpsPerSecond, 1),
                ["p50_us"] = Math.Round(r.P50Micros, 2),
                ["p99_us"] = Math.Round(r.P99Micros, 2),
                ["alloc_bytes_per_op"] = Math.Round(r.AllocBytesPerOp, 2),
                ["vs_raw"] = Ratio(r) is { } x ? Math.Round(x, 4) : null!,
                ["raw_scenario"] = Reference(r)?.Scenario ?? "",
            }));
        }
    }
}

/// <summary>One scenario's figures.</summary>
public sealed record ScenarioResult(string Scenario, int Outstanding, double OpsPerSecond, double P50Micros, double P99Micros, double AllocBytesPerOp);

/// <summary>The server half, running as a child process; it prints its port on its first line and ends with the parent.</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, int port, string detail)
    {
        _process = process;
        Port = port;
        Detail = detail;
    }

    public int Port { get; }

    /// <summary>What the server said after its port (the Noex.Lite server: its node id and process id).</summary>
    public string Detail { get; }

    public int Pid => _process.Id;

    public static async Task<ServerProcess> StartAsync(string kind)
    {
        // Run the same build of this program: through its apphost if that is what runs us, else `dotnet <dll>`.
        var self = Environment.ProcessPath!;
        var dll = typeof(RemoteHarness).Assembly.Location;
        var start = Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? new ProcessStartInfo(self) { ArgumentList = { dll } }
            : new ProcessStartInfo(self);
        start.ArgumentList.Add("remote-server");
        start.ArgumentList.Add(kind);
        start.RedirectStandardOutput = true;
        start.RedirectStandardInput = true;
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the server process");
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
        if (line is null || !line.StartsWith("LISTENING ", StringComparison.Ordinal))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"the server process did not report its port (said: '{line}')");
        }
        var words = line["LISTENING ".Length..].Split(' ', 2);
        return new ServerProcess(process, int.Parse(words[0], CultureInfo.InvariantCulture), words.Length > 1 ? words[1] : "");
    }

    public async ValueTask DisposeAsync()
    {
        // Closing its standard input tells the server to exit; kill it if it does not within a few seconds.
        _process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }
}

/// <summary>Latency samples in Stopwatch ticks, preallocated so that recording allocates nothing.</summary>
public sealed class LatencyRecorder(int capacity)
{
    private readonly long[] _samples = new long[capacity];
    private int _count;

    public void Record(long ticks)
    {
        // Past capacity, keep a uniform subsample by overwriting a random slot (reservoir sampling).
        var n = _count++;
        if (n < _samples.Length)
        {
            _samples[n] = ticks;
        }
        else
        {
            var slot = Random.Shared.NextInt64(n + 1);
            if (slot < _samples.Length)
            {
                _samples[slot] = ticks;
            }
        }
    }

    /// <summary>All samples of several recorders, for a percentile across callers.</summary>
    public static LatencyRecorder Merge(IReadOnlyList<LatencyRecorder> recorders)
    {
        var merged = new LatencyRecorder(Math.Max(1, recorders.Sum(r => Math.Min(r._count, r._samples.Length))));
        foreach (var recorder in recorders)
        {
            for (var i = 0; i < Math.Min(recorder._count, recorder._samples.Length); i++)
            {
                merged.Record(recorder._samples[i]);
            }
        }
        return merged;
    }

    public double PercentileMicros(double p)
    {
        var n = Math.Min(_count, _samples.Length);
        if (n == 0)
        {
            return 0;
        }
        var sorted = _samples.AsSpan(0, n).ToArray();
        Array.Sort(sorted);
        var index = Math.Clamp((int)Math.Ceiling(p * n) - 1, 0, n - 1);
        return sorted[index] * 1_000_000.0 / Stopwatch.Frequency;
    }
}
