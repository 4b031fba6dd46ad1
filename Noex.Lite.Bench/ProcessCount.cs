using System.Diagnostics;
using System.Globalization;
using System.Runtime;

namespace Noex.Lite.Bench;

/// <summary>
/// What a process costs at scale: N idle processes started in one runtime (no node), their retained heap and RSS per
/// process and the start rate; then, while they sit idle, a steady allocation load (casts to a few worker processes that
/// make garbage, some of it surviving a while), with the collections and pauses it causes; then one induced full
/// blocking collection.
/// </summary>
public static class ProcessCount
{
    public static async Task<int> RunAsync(string[] args)
    {
        var count = BenchArgs.Int(args, "--count", 1_000_000);
        var seconds = BenchArgs.Int(args, "--seconds", 10);
        var workers = BenchArgs.Int(args, "--workers", 1000);
        var rateMb = BenchArgs.Int(args, "--rate-mb", 100);
        var garbage = BenchArgs.Int(args, "--garbage", 1024);
        var retainMb = BenchArgs.Int(args, "--retain-mb", 256);

        Console.WriteLine($"processes: gc server={GCSettings.IsServerGC} latency={GCSettings.LatencyMode}, {Environment.ProcessorCount} cores");
        await using var runtime = new ProcessRuntime();
        // Warm the start path (JIT, pools) before the baseline is taken, so the delta is the processes alone.
        for (var i = 0; i < 1000; i++)
        {
            await runtime.StartAsync(new Idle());
        }

        var heap0 = FullHeap();
        var rss0 = Rss();
        var started = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            await runtime.StartAsync(new Idle());
        }

        started.Stop();
        var heap1 = FullHeap();
        var rss1 = Rss();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"start: {count:N0} processes in {started.Elapsed.TotalSeconds:0.00} s = {count / started.Elapsed.TotalSeconds:N0}/s; heap +{(heap1 - heap0) / 1048576.0:N0} MB = {(double)(heap1 - heap0) / count:N0} B/process; RSS +{(rss1 - rss0) / 1048576.0:N0} MB = {(double)(rss1 - rss0) / count:N0} B/process"));

        // The load: a few workers among the idle crowd, each cast making `garbage` bytes, which the workers keep until
        // they have made `retainMb` more (mid-life objects, as caches, sessions and buffers are: at 100 MB/s and 256 MB
        // they live 2.5 s, long enough to reach gen2 and die there, so that background collections must run).
        var refs = new ProcessRef[workers];
        var keep = Math.Max(1, (int)((long)retainMb * 1048576 / workers / Math.Max(1, garbage)));
        for (var i = 0; i < workers; i++)
        {
            refs[i] = await runtime.StartAsync(new Churn(garbage, keep));
        }

        var message = (Value)"work";
        var perSecond = (long)rateMb * 1048576 / garbage;
        var probe = await runtime.StartAsync(new Churn(0, 1));
        var stats = new GcWatch();
        stats.Start();
        var load = Stopwatch.StartNew();
        long sent = 0;
        var maxProbe = TimeSpan.Zero;
        var probes = new List<double>();
        while (load.Elapsed.TotalSeconds < seconds)
        {
            // Paced in 10 ms slices, so the rate is steady rather than one burst a second.
            var due = (long)(load.Elapsed.TotalSeconds * perSecond);
            for (; sent < due; sent++)
            {
                runtime.Cast(refs[sent % workers], message);
            }

            var call = Stopwatch.StartNew();
            await runtime.CallAsync(probe, message);
            probes.Add(call.Elapsed.TotalMilliseconds);
            await Task.Delay(10);
        }

        foreach (var worker in refs)
        {
            await runtime.CallAsync(worker, message);
        }

        load.Stop();
        var under = stats.Stop();
        probes.Sort();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"load: {sent:N0} casts in {load.Elapsed.TotalSeconds:0.0} s to {workers} workers keeping {retainMb} MB, {under.AllocatedBytes / load.Elapsed.TotalSeconds / 1048576.0:N0} MB/s allocated; collections gen0 {under.Gen0}, gen1 {under.Gen1}, gen2 {under.Gen2} (each counted once, by its generation; {under.Background} background, {under.FullBlocking} full blocking seen); pause total {under.Pause.TotalMilliseconds:N0} ms = {under.Pause.TotalMilliseconds / load.Elapsed.TotalMilliseconds * 100:0.0}% of the time, longest seen {under.MaxPause.TotalMilliseconds:N1} ms ({under.MaxPauseKind}), seen {under.Seen} of {under.Gen0 + under.Gen1 + under.Gen2}; probe call p50 {probes[probes.Count / 2]:0.00} ms, p99 {probes[probes.Count * 99 / 100]:0.00} ms, max {probes[^1]:0.00} ms"));

        var pause0 = GC.GetTotalPauseDuration();
        var induced = Stopwatch.StartNew();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false);
        induced.Stop();
        var info = GC.GetGCMemoryInfo(GCKind.FullBlocking);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"induced full blocking collection: {induced.Elapsed.TotalMilliseconds:N0} ms wall, pause {(GC.GetTotalPauseDuration() - pause0).TotalMilliseconds:N0} ms, heap after {info.HeapSizeBytes / 1048576.0:N0} MB, promoted {info.PromotedBytes / 1048576.0:N0} MB"));
        GC.KeepAlive(runtime);
        return 0;
    }

    private static long FullHeap()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    private static long Rss()
    {
        using var self = Process.GetCurrentProcess();
        return self.WorkingSet64;
    }

    private sealed class Idle : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);
    }

    /// <summary>Makes garbage per message and keeps each buffer for its next <c>keep</c> messages.</summary>
    private sealed class Churn(int garbage, int keep) : GenServer<int>
    {
        private readonly byte[]?[] _kept = new byte[]?[keep];

        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<int> HandleCastAsync(Value message, int state)
        {
            if (garbage > 0)
            {
                _kept[state % _kept.Length] = new byte[garbage];
            }

            return new(state + 1);
        }

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(state, state));
    }

    /// <summary>
    /// Collections and pauses over a window: counts and total pause from the GC's own counters, and the longest pause
    /// by sampling the last collection's record every millisecond (a collection between two samples of the same kind is
    /// missed, hence "seen").
    /// </summary>
    private sealed class GcWatch
    {
        private readonly int[] _counts = new int[3];
        private Thread? _thread;
        private volatile bool _stop;
        private long _allocated;
        private TimeSpan _pause;
        private readonly HashSet<long> _seen = [];
        private TimeSpan _max;
        private string _maxKind = "none";
        private int _background;
        private int _fullBlocking;

        public void Start()
        {
            for (var g = 0; g < 3; g++)
            {
                _counts[g] = GC.CollectionCount(g);
            }

            _allocated = GC.GetTotalAllocatedBytes();
            _pause = GC.GetTotalPauseDuration();
            _thread = new Thread(Sample) { IsBackground = true, Priority = ThreadPriority.AboveNormal };
            _thread.Start();
        }

        public Result Stop()
        {
            _stop = true;
            _thread!.Join();
            int gen0 = GC.CollectionCount(0) - _counts[0], gen1 = GC.CollectionCount(1) - _counts[1], gen2 = GC.CollectionCount(2) - _counts[2];
            return new Result(GC.GetTotalAllocatedBytes() - _allocated, gen0 - gen1, gen1 - gen2, gen2, _background, _fullBlocking,
                GC.GetTotalPauseDuration() - _pause, _max, _maxKind, _seen.Count);
        }

        private void Sample()
        {
            var start = GC.GetGCMemoryInfo(GCKind.Any).Index;
            while (!_stop)
            {
                foreach (var kind in (ReadOnlySpan<GCKind>)[GCKind.Ephemeral, GCKind.Background, GCKind.FullBlocking])
                {
                    var info = GC.GetGCMemoryInfo(kind);
                    if (info.Index <= start || !_seen.Add(info.Index))
                    {
                        continue;
                    }

                    if (kind == GCKind.Background)
                    {
                        _background++;
                    }
                    else if (kind == GCKind.FullBlocking)
                    {
                        _fullBlocking++;
                    }

                    foreach (var pause in info.PauseDurations)
                    {
                        if (pause > _max)
                        {
                            _max = pause;
                            _maxKind = $"{kind} gen{info.Generation}";
                        }
                    }
                }

                Thread.Sleep(1);
            }
        }

        public readonly record struct Result(long AllocatedBytes, int Gen0, int Gen1, int Gen2, int Background, int FullBlocking,
            TimeSpan Pause, TimeSpan MaxPause, string MaxPauseKind, int Seen);
    }
}
