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
/// a ratio to the raw-socket baseline measured in the same run. Even that ratio swings from run to run, so --rounds R
/// repeats baseline and subjects in turn, each round with fresh server processes, and prints medians and ranges.
/// </remarks>
public static class RemoteHarness
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = 5.0;
        var outstanding = 100;
        var stats = false;
        var roundCount = 1;
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
                case "--rounds" when i + 1 < args.Length:
                    roundCount = int.Parse(args[++i], CultureInfo.InvariantCulture);
                    break;
                case "--stats":
                    stats = true;
                    break;
                case "--peer" when i + 1 < args.Length:
                    peers.AddRange(args[++i].Split(',', StringSplitOptions.RemoveEmptyEntries));
                    break;
                default:
                    Console.Error.WriteLine($"remote: unknown option '{args[i]}' (use --seconds S, --outstanding N, --rounds R, --stats, --peer {string.Join('|', RemotePeers.Names)})");
                    return 2;
            }
        }
        if (roundCount < 1)
        {
            Console.Error.WriteLine($"remote: --rounds must be at least 1 (was {roundCount})");
            return 2;
        }
        if (peers.FirstOrDefault(p => !RemotePeers.Names.Contains(p)) is { } unknownPeer)
        {
            Console.Error.WriteLine($"remote: unknown peer '{unknownPeer}' (known: {string.Join(", ", RemotePeers.Names)})");
            return 2;
        }
        var duration = TimeSpan.FromSeconds(seconds);
        var rounds = new List<IReadOnlyList<ScenarioResult>>();
        var peersOk = true;
        // Baseline and subjects alternate round by round, so that each round's ratios share that round's noise.
        for (var round = 1; round <= roundCount; round++)
        {
            if (roundCount > 1)
            {
                Console.WriteLine($"round {round} of {roundCount}");
            }
            var results = new List<ScenarioResult>();
            await using (var server = await ServerProcess.StartAsync("raw-echo"))
            {
                Console.WriteLine($"server process {server.Pid} listening on 127.0.0.1:{server.Port}; {seconds} s per scenario");
                results.Add(await RawEcho.RunClientAsync("baseline-1", server.Port, 1, duration));
                results.Add(await RawEcho.RunClientAsync($"baseline-{outstanding}", server.Port, outstanding, duration));
            }

            foreach (var inline in new[] { false, true })
            {
                await using var server = await ServerProcess.StartAsync(inline ? "noex-inline" : "noex");
                results.AddRange(await NoexRemote.RunClientAsync(server.Detail, outstanding, duration, inline, stats, server.Pid, typedFirst: round % 2 == 0));
            }

            peersOk &= await RemotePeers.RunAsync(peers, outstanding, duration, results);
            rounds.Add(results);
        }

        Print(ScenarioSummary.Summarize(rounds), roundCount);
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
            case LargeMessages.RawServerKind:
                await LargeMessages.RunRawServerAsync();
                return 0;
            case "noex":
            case "noex-inline":
                await NoexRemote.RunServerAsync(inline: kind == "noex-inline");
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

    private static void Print(List<ScenarioSummary> summaries, int roundCount)
    {
        // One round prints as the harness always has; several add the ratios' ranges and call-1's latency ratio.
        var several = roundCount > 1;
        static string Times(double? x) => x is { } v ? v.ToString("0.00x", CultureInfo.InvariantCulture) : "";
        Console.WriteLine();
        if (several)
        {
            Console.WriteLine($"medians of {roundCount} rounds; vs raw is the median of the per-round ratios (min–max)");
        }
        var ratioHeader = several ? $" {"vs raw (min–max)",-22} {"p50 vs raw",10}" : $" {"vs raw",8}";
        Console.WriteLine($"{"scenario",-26} {"ops/s",12} {"p50 us",9} {"p99 us",9} {"alloc B/op",11}{ratioHeader}");
        foreach (var s in summaries)
        {
            var ratio = several
                ? $" {(s.VsRaw is null ? "" : string.Create(CultureInfo.InvariantCulture, $"{s.VsRaw:0.00}x ({s.VsRawMin:0.00}–{s.VsRawMax:0.00})")),-22} {Times(s.P50VsRaw),10}"
                : $" {Times(s.VsRaw),8}";
            Console.WriteLine($"{s.Scenario,-26} {s.OpsPerSecond,12:N0} {s.P50Micros,9:0.0} {s.P99Micros,9:0.0} {s.AllocBytesPerOp,11:0.0}{ratio}".TrimEnd());
        }
        Console.WriteLine();
        foreach (var s in summaries)
        {
            var line = new Dictionary<string, object>
            {
                ["scenario"] = s.Scenario,
                ["ops_per_s"] = Math.Round(s.OpsPerSecond, 1),
                ["p50_us"] = Math.Round(s.P50Micros, 2),
                ["p99_us"] = Math.Round(s.P99Micros, 2),
                ["alloc_bytes_per_op"] = Math.Round(s.AllocBytesPerOp, 2),
                ["vs_raw"] = Rounded(s.VsRaw),
                ["raw_scenario"] = s.RawScenario,
            };
            if (several)
            {
                line["rounds"] = s.Rounds;
                line["vs_raw_min"] = Rounded(s.VsRawMin);
                line["vs_raw_max"] = Rounded(s.VsRawMax);
                if (s.P50VsRaw is not null)
                {
                    line["p50_vs_raw"] = Rounded(s.P50VsRaw);
                }
            }
            Console.WriteLine(JsonSerializer.Serialize(line));
        }
    }

    private static object Rounded(double? ratio) => ratio is { } x ? Math.Round(x, 4) : null!;
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
