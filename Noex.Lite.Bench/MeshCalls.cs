using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Noex.Lite.Bench.Remote;

namespace Noex.Lite.Bench;

/// <summary>
/// `mesh-calls` (issue #21): CPU per call as the cluster grows under the same total load. For each N, N child processes
/// (one node each, on 127.0.0.1) form a full mesh; each runs an echo GenServer, and its callers call the echo servers of
/// the other nodes round-robin, one call in flight each. After a warm-up, the driver asks every child for its completed
/// calls, its CPU time and its context switches at the start and the end of each window: CPU per call is the sum of all
/// children's CPU over the window divided by all their calls, and is compared with the first size of the run (2 nodes).
/// </summary>
/// <remarks>
/// The driver and a child speak in lines: the child prints "&lt;node id&gt; &lt;echo process id&gt;"; the driver sends
/// "peers" and every node's pair; the child dials the nodes listed before it, and prints "meshed" once connected to all;
/// "start" starts its callers; each "mark" is answered with "&lt;calls&gt; &lt;cpu ms&gt; &lt;context switches&gt;
/// &lt;p50 µs since the last mark&gt;". The end of its standard input (the driver closing it, or ending) stops it.
/// </remarks>
public static class MeshCalls
{
    private static readonly Value s_ping = Value.Parse("""{"type":"ping"}""");

    public static async Task<int> RunAsync(string[] args)
    {
        var sizes = new[] { 2, 4, 8, 16 };
        var nodeIndex = Array.IndexOf(args, "--nodes");
        if (nodeIndex >= 0 && nodeIndex + 1 < args.Length)
        {
            sizes = args[nodeIndex + 1].Split(',').Select(n => int.Parse(n, CultureInfo.InvariantCulture)).ToArray();
            args = [.. args[..nodeIndex], .. args[(nodeIndex + 2)..]];
        }
        // --raw: the same processes, topology and load over plain sockets with no Noex.Lite node (RawMesh), to tell the
        // cost of 16 processes' sockets and threads on the machine from the library's own. Taken out before the
        // options, which BenchArgs reads in pairs.
        var raw = args.Contains("--raw");
        args = [.. args.Where(a => a != "--raw")];
        var callers = BenchArgs.Int(args, "--callers", 64);
        var perNode = BenchArgs.Int(args, "--callers-per-node", 0);
        var seconds = BenchArgs.Int(args, "--seconds", 3);
        var rounds = BenchArgs.Int(args, "--rounds", 1);
        var maxWarmup = BenchArgs.Int(args, "--max-warmup", 30);
        var load = perNode > 0 ? $"{perNode} caller(s) per node" : $"{callers} callers in total, spread over the nodes";
        Console.WriteLine($"mesh-calls{(raw ? " --raw (plain sockets, no Noex.Lite node)" : "")}: {load}, one call in flight each, to the other nodes' echo servers round-robin; warm-up until the nodes' JIT is quiet "
            + $"(at least 0.5 s, at most {maxWarmup} s), then "
            + $"{rounds} window(s) of {seconds} s per size (median by CPU per call); CPU and context switches summed over all node processes");
        var results = new List<Result>();
        foreach (var size in sizes)
        {
            var spread = Enumerable.Range(0, size).Select(i => perNode > 0 ? perNode : callers / size + (i < callers % size ? 1 : 0)).ToArray();
            results.Add(await MeasureAsync(spread, seconds, rounds, maxWarmup, raw));
        }
        var baseline = results[0].CpuMicrosPerCall;
        Console.WriteLine();
        Console.WriteLine($"nodes | callers | calls/s   | CPU us/call | ctx sw/call | p50 us  | cores | wind-down | idle cores | CPU vs {sizes[0]} nodes");
        foreach (var r in results)
        {
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{r.Nodes,5} | {r.Callers,7} | {r.CallsPerSecond,9:N0} | {r.CpuMicrosPerCall,11:0.00} | {r.SwitchesPerCall,11:0.000} | {r.P50Micros,7:0.0} | {r.Cores,5:0.00} | {r.WindDownCores,9:0.000} | {r.IdleCores,10:0.000} | {r.CpuMicrosPerCall / baseline:0.00}x"));
        }
        Console.WriteLine();
        foreach (var r in results)
        {
            Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["verb"] = "mesh-calls",
                ["raw"] = raw,
                ["nodes"] = r.Nodes,
                ["callers"] = r.Callers,
                ["callers_per_node"] = perNode,
                ["seconds"] = seconds,
                ["calls_per_s"] = Math.Round(r.CallsPerSecond, 1),
                ["cpu_us_per_call"] = Math.Round(r.CpuMicrosPerCall, 3),
                ["ctx_switches_per_call"] = Math.Round(r.SwitchesPerCall, 4),
                ["p50_us"] = Math.Round(r.P50Micros, 1),
                ["cores"] = Math.Round(r.Cores, 3),
                ["idle_cores"] = Math.Round(r.IdleCores, 4),
                ["wind_down_cores"] = Math.Round(r.WindDownCores, 4),
                ["cpu_vs_first"] = Math.Round(r.CpuMicrosPerCall / baseline, 3),
                ["first_nodes"] = sizes[0],
            }));
        }
        return 0;
    }

    /// <summary>One cluster of <c>spread.Length</c> node processes, <c>spread[i]</c> callers on node i: its median window.</summary>
    private static async Task<Result> MeasureAsync(int[] spread, int seconds, int rounds, int maxWarmup, bool raw)
    {
        var secret = Guid.NewGuid().ToString();
        var children = new List<Process>();
        try
        {
            for (var i = 0; i < spread.Length; i++)
            {
                string[] nodeArgs = ["mesh-calls-node", i.ToString(CultureInfo.InvariantCulture), spread[i].ToString(CultureInfo.InvariantCulture), secret];
                children.Add(StartChild(raw ? [.. nodeArgs, "--raw"] : nodeArgs));
            }
            var peers = await Task.WhenAll(children.Select(c => ReadAsync(c, TimeSpan.FromMinutes(2))));
            await Task.WhenAll(children.Select(c => c.StandardInput.WriteLineAsync("peers " + string.Join(' ', peers))));
            await Task.WhenAll(children.Select(async c =>
            {
                var said = await ReadAsync(c, TimeSpan.FromMinutes(1));
                if (said != "meshed")
                {
                    throw new InvalidOperationException($"a node did not join the mesh (said: '{said}')");
                }
            }));
            await Task.WhenAll(children.Select(c => c.StandardInput.WriteLineAsync("start")));
            var before = await WarmUpAsync(children, maxWarmup);
            var windows = new List<Result>();
            for (var round = 0; round < rounds; round++)
            {
                await Task.Delay(TimeSpan.FromSeconds(seconds));
                var after = await MarkAsync(children);
                var calls = after.Calls - before.Calls;
                var window = new Result(spread.Length, spread.Sum(), calls / Stopwatch.GetElapsedTime(before.At, after.At).TotalSeconds,
                    (after.CpuMs - before.CpuMs) * 1000 / Math.Max(1, calls), (double)(after.Switches - before.Switches) / Math.Max(1, calls), after.P50Micros, Cores(before, after), 0);
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  {spread.Length} nodes, window {round + 1}: {window.CallsPerSecond:N0} calls/s, {window.CpuMicrosPerCall:0.00} us CPU/call, {window.SwitchesPerCall:0.000} context switches/call, p50 {window.P50Micros:0.0} us, {window.Cores:0.00} cores, {after.Jitted - before.Jitted} methods compiled"));
                windows.Add(window);
                before = after;
            }
            // The first second after the load (wind-down) and the cluster's floor: its CPU over a second with nobody
            // calling (heartbeats, timers, idle threads), in cores, two seconds later. The first second is mostly the JIT
            // (a profile of 16 nodes: ~40% of its samples in libclrjit, tier-1 recompiles queued during the load and the
            // stop path's first calls) and the pool's workers spinning down, not a cost that stays.
            await StopAsync(children);
            var quiet = await MarkAsync(children);
            await Task.Delay(1000);
            var settling = await MarkAsync(children);
            var windDown = Cores(quiet, settling);
            await Task.Delay(2000);
            var floorFrom = await MarkAsync(children);
            await Task.Delay(1000);
            var idleCores = Cores(floorFrom, await MarkAsync(children));
            return windows.OrderBy(w => w.CpuMicrosPerCall).ElementAt(windows.Count / 2) with { IdleCores = idleCores, WindDownCores = windDown };
        }
        finally
        {
            await StopAsync(children);
            foreach (var child in children)
            {
                child.StandardInput.Close();
            }
            // Closing its standard input tells a node to exit; the nodes still running after 10 s are killed.
            try
            {
                await Task.WhenAll(children.Select(c => c.WaitForExitAsync())).WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                children.Where(c => !c.HasExited).ToList().ForEach(c => c.Kill(entireProcessTree: true));
            }
            children.ForEach(c => c.Dispose());
        }
    }

    /// <summary>
    /// Calls until the nodes' JIT is quiet: fewer than 5 methods a node compiled in a second (a trickle goes on for long). Half
    /// a second is not enough: 16 runtimes on 2 cores take about 10 s to move the call path to its optimised tier, and
    /// until then a call costs about 4x as much CPU (205 against 49 µs measured at 16 nodes, 64 callers).
    /// </summary>
    private static async Task<Mark> WarmUpAsync(List<Process> children, int maxSeconds)
    {
        var started = Stopwatch.GetTimestamp();
        await Task.Delay(500);
        var mark = await MarkAsync(children);
        while (Stopwatch.GetElapsedTime(started).TotalSeconds < maxSeconds)
        {
            await Task.Delay(1000);
            var next = await MarkAsync(children);
            var quiet = next.Jitted - mark.Jitted < 5 * children.Count;
            mark = next;
            if (quiet)
            {
                break;
            }
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {children.Count} nodes: warmed up in {Stopwatch.GetElapsedTime(started).TotalSeconds:0.0} s"));
        return mark;
    }

    /// <summary>Asks every child at once for its counters; the sums, and the median of the nodes' p50 latencies.</summary>
    private static async Task<Mark> MarkAsync(List<Process> children)
    {
        await Task.WhenAll(children.Select(c => c.StandardInput.WriteLineAsync("mark")));
        var at = Stopwatch.GetTimestamp();
        var lines = await Task.WhenAll(children.Select(c => ReadAsync(c, TimeSpan.FromSeconds(30))));
        var words = lines.Select(l => l.Split(' ').Select(w => double.Parse(w, CultureInfo.InvariantCulture)).ToArray()).ToArray();
        var p50s = words.Select(w => w[3]).Order().ToArray();
        return new Mark(at, (long)words.Sum(w => w[0]), words.Sum(w => w[1]), (long)words.Sum(w => w[2]), p50s[p50s.Length / 2], (long)words.Sum(w => w[4]));
    }

    /// <summary>Stops every child's callers before any child exits; a child that does not answer is killed after.</summary>
    private static async Task StopAsync(List<Process> children)
    {
        try
        {
            await Task.WhenAll(children.Where(c => !c.HasExited).Select(async c =>
            {
                await c.StandardInput.WriteLineAsync("stop");
                while (await ReadAsync(c, TimeSpan.FromSeconds(30)) != "stopped")
                {
                }
            }));
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException)
        {
            Console.Error.WriteLine($"mesh-calls: a node did not stop cleanly: {e.Message}");
        }
    }

    private static async Task<string> ReadAsync(Process child, TimeSpan timeout)
    {
        using var cancel = new CancellationTokenSource(timeout);
        return await child.StandardOutput.ReadLineAsync(cancel.Token) ?? throw new InvalidOperationException("a node process ended early");
    }

    /// <summary>This program again, through its apphost or as `dotnet &lt;dll&gt;`, talking over its standard input and output.</summary>
    private static Process StartChild(params string[] args)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardInput = true, RedirectStandardOutput = true };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(MeshCalls).Assembly.Location);
        }
        args.ToList().ForEach(start.ArgumentList.Add);
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start a node process");
        process.StandardInput.AutoFlush = true;
        return process;
    }

    /// <summary>A node process: an echo server and its callers (arguments: its index, its callers, the cluster secret).</summary>
    public static async Task<int> RunNodeAsync(string[] args)
    {
        if (args.Contains("--raw"))
        {
            return await RawMesh.RunNodeAsync(args);
        }
        var index = int.Parse(args[0], CultureInfo.InvariantCulture);
        var callers = int.Parse(args[1], CultureInfo.InvariantCulture);
        await using var node = await Node.StartAsync(new NodeOptions { Name = $"n{index}", Host = "127.0.0.1", Port = 0, ClusterSecret = args[2] });
        var echo = await node.Runtime.StartAsync(new Echo());
        Console.WriteLine($"{node.Id} {echo.Id}");
        var peers = (await Console.In.ReadLineAsync())?.Split(' ')[1..] ?? [];
        var targets = new List<ProcessRef>();
        for (var i = 0; i + 1 < peers.Length; i += 2)
        {
            var id = NodeId.Parse(peers[i]);
            if (i / 2 < index)
            {
                await node.DialAsync(id);
            }
            if (i / 2 != index)
            {
                targets.Add(new ProcessRef(peers[i], long.Parse(peers[i + 1], CultureInfo.InvariantCulture)));
            }
        }
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (!targets.All(t => node.IsConnected(NodeId.Parse(t.Node))))
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                Console.WriteLine("not meshed after 60 s");
                return 1;
            }
            await Task.Delay(10);
        }
        Console.WriteLine("meshed");
        // The commands are read on a thread of their own: Console.In blocks, even through its async methods.
        await Task.Factory.StartNew(() => Serve(index, callers, targets.Count, (_, next) => node.Runtime.CallAsync(targets[next], s_ping)), TaskCreationOptions.LongRunning);
        return 0;
    }

    /// <summary>
    /// A node process's commands, until its standard input ends: start, mark, stop. <paramref name="call"/> makes caller k's
    /// call to target <c>next</c> (of <paramref name="targets"/>); the raw mesh shares this loop so both count the same way.
    /// </summary>
    internal static void Serve<T>(int index, int callers, int targets, Func<int, int, ValueTask<T>> call)
    {
        using var stop = new CancellationTokenSource();
        // One counter a caller, each on its own cache line; the recorders are swapped at each mark.
        var counts = new long[callers * 16];
        var recorders = NewRecorders(callers);
        var running = new List<Task>();
        string? line;
        while ((line = Console.In.ReadLine()) is not null)
        {
            switch (line)
            {
                case "start":
                    running.AddRange(Enumerable.Range(0, callers).Select(k => Task.Run(async () =>
                    {
                        var next = (k + index) % targets;
                        while (!stop.IsCancellationRequested)
                        {
                            var started = Stopwatch.GetTimestamp();
                            await call(k, next);
                            Volatile.Read(ref recorders)[k].Record(Stopwatch.GetTimestamp() - started);
                            Volatile.Write(ref counts[k * 16], counts[k * 16] + 1);
                            next = (next + 1) % targets;
                        }
                    })));
                    break;
                case "mark":
                    var calls = Enumerable.Range(0, callers).Sum(k => Volatile.Read(ref counts[k * 16]));
                    var cpu = Environment.CpuUsage.TotalTime.TotalMilliseconds;
                    var switches = TransportStats.ContextSwitches(Environment.ProcessId);
                    var window = Interlocked.Exchange(ref recorders, NewRecorders(callers));
                    var p50 = LatencyRecorder.Merge(window).PercentileMicros(0.50);
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{calls} {cpu:0.###} {switches} {p50:0.0} {System.Runtime.JitInfo.GetCompiledMethodCount()}"));
                    break;
                case "stop":
                    // Every node stops calling before any leaves, so that no call waits on a node that has gone.
                    stop.Cancel();
                    Task.WhenAll(running).GetAwaiter().GetResult();
                    Console.WriteLine("stopped");
                    break;
            }
        }
    }

    private static LatencyRecorder[] NewRecorders(int callers) => Enumerable.Range(0, callers).Select(_ => new LatencyRecorder(4096)).ToArray();

    private readonly record struct Mark(long At, long Calls, double CpuMs, long Switches, double P50Micros, long Jitted);

    private readonly record struct Result(int Nodes, int Callers, double CallsPerSecond, double CpuMicrosPerCall, double SwitchesPerCall, double P50Micros, double Cores,
        double IdleCores, double WindDownCores = 0);

    /// <summary>The CPU all nodes used between two marks, in cores (2 on the bench machine: all of it).</summary>
    private static double Cores(Mark before, Mark after) => (after.CpuMs - before.CpuMs) / Stopwatch.GetElapsedTime(before.At, after.At).TotalMilliseconds;

    /// <summary>Answers every call with its request.</summary>
    private sealed class Echo : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) => new(CallResult<int>.WithReply(request, state));
    }
}
