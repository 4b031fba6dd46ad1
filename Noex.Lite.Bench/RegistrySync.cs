using System.Diagnostics;
using System.Globalization;

namespace Noex.Lite.Bench;

/// <summary>
/// The join sync of the global registry at scale: this process starts a node holding N global names (the registrar),
/// then, each round, a joining node in a child process (one node per OS process). It reports, per round and as medians:
/// how late the registrar raises NodeUp after the joiner does (both stamp the wall clock), how long after its NodeUp the
/// joiner sees every name, the registrar's peak RSS and managed-heap growth and its allocations during the sync, and the
/// longest a Register on the registrar waited meanwhile (its registry lock).
/// </summary>
public static class RegistrySync
{
    private const string Secret = "registry-sync-bench";

    public static async Task<int> RunAsync(string[] args)
    {
        var names = BenchArgs.Int(args, "--names", 1_000_000);
        var rounds = BenchArgs.Int(args, "--rounds", 3);
        await using var registrar = await Node.StartAsync(new NodeOptions { Name = "reg", Host = "127.0.0.1", Port = 0, ClusterSecret = Secret });
        var setup = Stopwatch.StartNew();
        const int NamesPerProcess = 1000;
        ProcessRef holder = default;
        for (var i = 0; i < names; i++)
        {
            if (i % NamesPerProcess == 0)
            {
                holder = await registrar.Runtime.StartAsync(new Idle());
            }
            registrar.GlobalRegistry.Register($"svc-{i:D7}", holder);
        }
        var probeTarget = await registrar.Runtime.StartAsync(new Idle());
        Console.WriteLine($"registry-sync: {names:N0} names registered in {setup.Elapsed.TotalSeconds:0.0} s");
        long upTicks = 0;
        registrar.NodeUp += _ => Interlocked.Exchange(ref upTicks, DateTime.UtcNow.Ticks);
        registrar.ConnectionClosed += e => Console.WriteLine($"  (registrar: connection to {e.Peer} closed: {e.Cause}, {e.Detail})");
        registrar.HandshakeFailed += e => Console.WriteLine($"  (registrar: handshake failed: {e.Message})");
        var results = new List<Round>();
        for (var round = 0; round < rounds; round++)
        {
            Interlocked.Exchange(ref upTicks, 0);
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            using var self = Process.GetCurrentProcess();
            self.Refresh();
            var rss0 = self.WorkingSet64;
            var heap0 = GC.GetTotalMemory(false);
            var alloc0 = GC.GetTotalAllocatedBytes(precise: true);
            long peakRss = rss0, peakHeap = heap0;
            using var done = new CancellationTokenSource();
            var sampler = Task.Run(async () =>
            {
                using var me = Process.GetCurrentProcess();
                while (!done.IsCancellationRequested)
                {
                    me.Refresh();
                    peakRss = Math.Max(peakRss, me.WorkingSet64);
                    peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
                    await Task.Delay(5);
                }
            });
            var maxWait = TimeSpan.Zero;
            var probe = Task.Run(async () =>
            {
                // A register and its withdrawal on the registrar while the sync runs: how long its lock kept them waiting.
                while (!done.IsCancellationRequested)
                {
                    var sw = Stopwatch.StartNew();
                    registrar.GlobalRegistry.Register("probe", probeTarget);
                    registrar.GlobalRegistry.Unregister("probe");
                    maxWait = TimeSpan.FromTicks(Math.Max(maxWait.Ticks, sw.Elapsed.Ticks));
                    await Task.Delay(1);
                }
            });
            // Before issue #21's fix, registering faster than one name per millisecond moved the registrar's hybrid clock
            // ahead of the wall clock (a million names: about 17 minutes), past the 60 s a peer accepts, so the joiner's wall
            // clock is set as far ahead. Now the clock stays at the wall clock and this is 0; it stays for runs of the
            // bench against earlier commits.
            var ahead = Math.Max(0, registrar.GlobalRegistry.Clock - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
            var result = await RunJoinerAsync(registrar.Id.ToString(), names, ahead);
            done.Cancel();
            await sampler;
            await probe;
            var alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
            var up = Interlocked.Read(ref upTicks);
            var r = new Round(
                NodeUpLagMs: up == 0 ? double.NaN : (up - result.UpTicks) / (double)TimeSpan.TicksPerMillisecond,
                SyncedMs: (result.SyncedTicks - result.UpTicks) / (double)TimeSpan.TicksPerMillisecond,
                PeakRssMb: (peakRss - rss0) / 1e6,
                PeakHeapMb: (peakHeap - heap0) / 1e6,
                AllocMb: alloc / 1e6,
                MaxRegisterWaitMs: maxWait.TotalMilliseconds);
            results.Add(r);
            Console.WriteLine(Format($"round {round + 1}", r));
            // The joiner has left: wait until the registrar has let go of the connection before the next round.
            while (registrar.GetConnectedNodes().Count > 0)
            {
                await Task.Delay(10);
            }
        }
        static double Median(IEnumerable<double> xs)
        {
            var a = xs.Order().ToArray();
            return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
        }
        Console.WriteLine(Format("median", new Round(
            Median(results.Select(r => r.NodeUpLagMs)), Median(results.Select(r => r.SyncedMs)), Median(results.Select(r => r.PeakRssMb)),
            Median(results.Select(r => r.PeakHeapMb)), Median(results.Select(r => r.AllocMb)), Median(results.Select(r => r.MaxRegisterWaitMs)))));
        return 0;
    }

    private static string Format(string label, Round r) => string.Create(CultureInfo.InvariantCulture,
        $"{label}: registrar NodeUp {r.NodeUpLagMs:0.0} ms after the joiner's; all names at the joiner {r.SyncedMs:0} ms after its NodeUp; registrar peak RSS +{r.PeakRssMb:0.0} MB, managed heap +{r.PeakHeapMb:0.0} MB, allocated {r.AllocMb:0.0} MB; longest Register wait {r.MaxRegisterWaitMs:0.0} ms");

    /// <summary>The joining node, in this program started again: prints its NodeUp and when it holds every name (wall-clock ticks).</summary>
    public static async Task<int> RunJoinerAsync(string[] args)
    {
        var seed = args[0];
        var names = int.Parse(args[1], CultureInfo.InvariantCulture);
        var up = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        var ahead = TimeSpan.FromMilliseconds(long.Parse(args[2], CultureInfo.InvariantCulture));
        var options = new NodeOptions
        {
            Name = "join", Host = "127.0.0.1", Port = 0, ClusterSecret = Secret, Seeds = [seed], TimeProvider = new AheadClock(ahead),
        };
        await using var node = await Node.StartAsync(options);
        // The dial has only begun (a handshake takes round trips), so the handler is in place before the node comes up;
        // should it not be, the moment it is found up stands in.
        node.NodeUp += _ => up.TrySetResult(DateTime.UtcNow.Ticks);
        node.ConnectionClosed += e => Console.Error.WriteLine($"  (joiner: connection to {e.Peer} closed: {e.Cause}, {e.Detail})");
        node.HandshakeFailed += e => Console.Error.WriteLine($"  (joiner: handshake failed: {e.Message})");
        if (node.GetConnectedNodes().Count > 0)
        {
            up.TrySetResult(DateTime.UtcNow.Ticks);
        }
        var upTicks = await up.Task;
        while (node.GlobalRegistry.Count < names)
        {
            await Task.Delay(1);
        }
        var synced = DateTime.UtcNow.Ticks;
        Console.WriteLine($"{upTicks} {synced}");
        await Console.In.ReadToEndAsync();
        return 0;
    }

    private static async Task<(long UpTicks, long SyncedTicks)> RunJoinerAsync(string seed, int names, long aheadMs)
    {
        var self = Environment.ProcessPath!;
        var dll = typeof(RegistrySync).Assembly.Location;
        var start = Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? new ProcessStartInfo(self) { ArgumentList = { dll } }
            : new ProcessStartInfo(self);
        start.ArgumentList.Add("registry-sync-joiner");
        start.ArgumentList.Add(seed);
        start.ArgumentList.Add(names.ToString(CultureInfo.InvariantCulture));
        start.ArgumentList.Add(aheadMs.ToString(CultureInfo.InvariantCulture));
        start.RedirectStandardOutput = true;
        start.RedirectStandardInput = true;
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the joiner");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var line = await process.StandardOutput.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException("the joiner said nothing");
        var words = line.Split(' ');
        process.StandardInput.Close();
        await process.WaitForExitAsync(timeout.Token);
        return (long.Parse(words[0], CultureInfo.InvariantCulture), long.Parse(words[1], CultureInfo.InvariantCulture));
    }

    private readonly record struct Round(double NodeUpLagMs, double SyncedMs, double PeakRssMb, double PeakHeapMb, double AllocMb, double MaxRegisterWaitMs);

    /// <summary>The wall clock moved ahead; timestamps (heartbeats, timeouts) as they are.</summary>
    private sealed class AheadClock(TimeSpan ahead) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + ahead;
    }

    private sealed class Idle : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);
    }
}
