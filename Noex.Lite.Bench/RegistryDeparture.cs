using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace Noex.Lite.Bench;

/// <summary>
/// A node that holds many global names going away (issue #21): this process is a registrar node; each round a peer in a
/// child process registers N global names for its own processes, connects, and once the registrar holds them all, is
/// killed (kill -9). The registrar reports how long after it lost the connection it raised NodeDown, a remote monitor of
/// a process of the peer delivered its down message, Whereis stopped answering for the peer's last name, and the last of
/// the peer's names was unregistered; and the longest a Register on the registrar waited meanwhile (its registry lock).
/// </summary>
public static class RegistryDeparture
{
    private const string Secret = "registry-departure-bench";
    private const int NamesPerProcess = 1000;

    public static async Task<int> RunAsync(string[] args)
    {
        var names = BenchArgs.Int(args, "--names", 1_000_000);
        var rounds = BenchArgs.Int(args, "--rounds", 3);
        await using var registrar = await Node.StartAsync(new NodeOptions { Name = "reg", Host = "127.0.0.1", Port = 0, ClusterSecret = Secret });
        using var lost = new ConnectionLostListener();
        var probeTarget = await registrar.Runtime.StartAsync(new Watcher());
        // A first round with a thousand names, not counted: the first node-down and log events pay for their JIT.
        await RunRoundAsync(registrar, lost, probeTarget, 1000, -1);
        var results = new List<Round>();
        for (var round = 0; round < rounds; round++)
        {
            results.Add(await RunRoundAsync(registrar, lost, probeTarget, names, round));
        }
        static double Median(IEnumerable<double> xs)
        {
            var a = xs.Order().ToArray();
            return a.Length % 2 == 1 ? a[a.Length / 2] : (a[a.Length / 2 - 1] + a[a.Length / 2]) / 2;
        }
        Console.WriteLine(Format($"median of {rounds}", new Round(
            Median(results.Select(r => r.KillToLostMs)), Median(results.Select(r => r.NodeDownMs)), Median(results.Select(r => r.MonitorDownMs)),
            Median(results.Select(r => r.WhereisGoneMs)), Median(results.Select(r => r.AllGoneMs)), Median(results.Select(r => r.MaxRegisterWaitMs)), results.Sum(r => r.NamedAtDown))));
        return 0;
    }

    private static async Task<Round> RunRoundAsync(Node registrar, ConnectionLostListener lost, ProcessRef probeTarget, int names, int round)
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        var baseline = registrar.GlobalRegistry.Count;
        var start = PeerStart(registrar.Id.ToString(), names);
        using var peer = Process.Start(start) ?? throw new InvalidOperationException("could not start the peer");
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var peerId = NodeId.Parse(await peer.StandardOutput.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException("the peer said nothing"));
        var lastName = NameOf(names - 1);
        while (registrar.GlobalRegistry.Count < baseline + names || registrar.GlobalRegistry.Whereis(lastName) is null)
        {
            await Task.Delay(10, timeout.Token);
        }
        // A monitor from a process of the registrar on a process of the peer: its down message is one of the notices.
        var watcher = await registrar.Runtime.StartAsync(new Watcher());
        var watched = registrar.GlobalRegistry.Whereis(NameOf(0))!.Value;
        await registrar.Monitors.MonitorAsync(watcher, watched);

        long down = 0, allGone = 0, whereisGone = 0;
        var namedAtDown = false;
        var unregistered = 0;
        void OnDown(NodeDownEvent e)
        {
            if (e.Node == peerId && Interlocked.CompareExchange(ref down, Stopwatch.GetTimestamp(), 0) == 0)
            {
                // What a handler of NodeDown finds when it looks the peer's names up.
                namedAtDown = registrar.GlobalRegistry.Whereis(lastName) is not null;
            }
        }
        void OnUnregistered(string name, ProcessRef target)
        {
            if (target.Node == peerId.ToString() && Interlocked.Increment(ref unregistered) == names)
            {
                Volatile.Write(ref allGone, Stopwatch.GetTimestamp());
            }
        }
        registrar.NodeDown += OnDown;
        registrar.GlobalRegistry.Unregistered += OnUnregistered;
        lost.Reset(peerId.ToString());
        Watcher.Reset();
        using var done = new CancellationTokenSource();
        // Whereis of the peer's last name, asked every millisecond from the kill on (a spinning thread would take one of
        // the two cores the bench was run on): when it stops answering.
        var whereis = Task.Factory.StartNew(() =>
        {
            while (registrar.GlobalRegistry.Whereis(lastName) is not null && !done.IsCancellationRequested)
            {
                Thread.Sleep(1);
            }
            whereisGone = Stopwatch.GetTimestamp();
        }, TaskCreationOptions.LongRunning);
        var maxWait = TimeSpan.Zero;
        var probe = Task.Run(async () =>
        {
            // A register and its withdrawal on the registrar while the peer's names go: how long its lock kept them waiting.
            while (!done.IsCancellationRequested)
            {
                var sw = Stopwatch.StartNew();
                registrar.GlobalRegistry.Register("probe", probeTarget);
                registrar.GlobalRegistry.Unregister("probe");
                maxWait = TimeSpan.FromTicks(Math.Max(maxWait.Ticks, sw.Elapsed.Ticks));
                await Task.Delay(1);
            }
        });

        var killed = Stopwatch.GetTimestamp();
        peer.Kill();
        while (Volatile.Read(ref allGone) == 0 || Watcher.DownAt == 0 || Volatile.Read(ref down) == 0)
        {
            await Task.Delay(5, timeout.Token);
        }
        done.Cancel();
        await whereis;
        await probe;
        await peer.WaitForExitAsync(timeout.Token);
        registrar.NodeDown -= OnDown;
        registrar.GlobalRegistry.Unregistered -= OnUnregistered;
        await registrar.Runtime.StopAsync(watcher);
        // The registrar redials the peer it lost until it gives up: it is forgotten so that the next round starts alone.
        registrar.Forget(peerId);

        var at = lost.At;
        double Ms(long t) => Stopwatch.GetElapsedTime(at, t).TotalMilliseconds;
        var r = new Round(Stopwatch.GetElapsedTime(killed, at).TotalMilliseconds, Ms(down), Ms(Watcher.DownAt), Ms(whereisGone), Ms(allGone), maxWait.TotalMilliseconds,
            namedAtDown ? 1 : 0);
        Console.WriteLine(Format(round < 0 ? "warm-up" : $"round {round + 1}", r));
        return r;
    }

    private static string NameOf(int i) => $"svc-{i:D7}";

    private static string Format(string label, Round r) => string.Create(CultureInfo.InvariantCulture,
        $"{label}: from the lost connection ({r.KillToLostMs:0.0} ms after the kill): NodeDown {r.NodeDownMs:0.00} ms, monitor down {r.MonitorDownMs:0.00} ms, Whereis of its last name null {r.WhereisGoneMs:0.0} ms (polled each ms; still named in NodeDown's handler: {r.NamedAtDown}), every name unregistered {r.AllGoneMs:0.0} ms; longest Register wait {r.MaxRegisterWaitMs:0.0} ms");

    private static ProcessStartInfo PeerStart(string seed, int names)
    {
        var self = Environment.ProcessPath!;
        var dll = typeof(RegistryDeparture).Assembly.Location;
        var start = Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? new ProcessStartInfo(self) { ArgumentList = { dll } }
            : new ProcessStartInfo(self);
        start.ArgumentList.Add("registry-departure-peer");
        start.ArgumentList.Add(seed);
        start.ArgumentList.Add(names.ToString(CultureInfo.InvariantCulture));
        start.RedirectStandardOutput = true;
        start.RedirectStandardInput = true;
        return start;
    }

    /// <summary>
    /// The peer, in this program started again: registers its names, then dials the registrar, prints its node id and
    /// waits to be killed.
    /// </summary>
    /// <remarks>
    /// Registering faster than one name per millisecond moves a node's hybrid clock ahead of the wall clock (a million
    /// names: about 17 minutes), past the 60 s a peer accepts. The peer's wall clock is set back by a millisecond per name,
    /// so that its stamps end near the real time; its names are registered before it connects, so that they reach the
    /// registrar in the join sync, which may carry claims made earlier.
    /// </remarks>
    public static async Task<int> RunPeerAsync(string[] args)
    {
        var seed = NodeId.Parse(args[0]);
        var names = int.Parse(args[1], CultureInfo.InvariantCulture);
        var options = new NodeOptions
        {
            Name = "peer", Host = "127.0.0.1", Port = 0, ClusterSecret = Secret, TimeProvider = new ShiftedClock(TimeSpan.FromMilliseconds(-names)),
        };
        await using var node = await Node.StartAsync(options);
        ProcessRef holder = default;
        for (var i = 0; i < names; i++)
        {
            if (i % NamesPerProcess == 0)
            {
                holder = await node.Runtime.StartAsync(new Watcher());
            }
            node.GlobalRegistry.Register(NameOf(i), holder);
        }
        if (await node.DialAsync(seed) is null)
        {
            Console.Error.WriteLine("peer: could not reach the registrar");
            return 1;
        }
        Console.WriteLine(node.Id.ToString());
        await Console.In.ReadToEndAsync();
        return 0;
    }

    private readonly record struct Round(double KillToLostMs, double NodeDownMs, double MonitorDownMs, double WhereisGoneMs, double AllGoneMs, double MaxRegisterWaitMs,
        double NamedAtDown);

    /// <summary>The wall clock shifted; timestamps (heartbeats, timeouts) as they are.</summary>
    private sealed class ShiftedClock(TimeSpan shift) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => base.GetUtcNow() + shift;
    }

    /// <summary>
    /// The moment the registrar's transport reported the connection to the peer lost: the log's <c>ConnectionLost</c>
    /// event, written on the connection's read thread before any service hears of the close.
    /// </summary>
    private sealed class ConnectionLostListener : EventListener
    {
        private string _peer = "";
        private long _at;

        public long At => Volatile.Read(ref _at);

        public void Reset(string peer)
        {
            Volatile.Write(ref _peer, peer);
            Volatile.Write(ref _at, 0);
        }

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == NoexDiagnostics.EventSourceName)
            {
                EnableEvents(eventSource, EventLevel.Warning);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            // Event 12: "connection to {peer} lost"; its payload's second item is the peer.
            if (e.EventId == 12 && e.Payload is { Count: > 1 } payload && payload[1] as string == Volatile.Read(ref _peer))
            {
                Interlocked.CompareExchange(ref _at, Stopwatch.GetTimestamp(), 0);
            }
        }
    }

    /// <summary>A process that does nothing, and records when a down message reaches any watcher.</summary>
    private sealed class Watcher : GenServer<int>
    {
        private static long s_downAt;

        public static long DownAt => Volatile.Read(ref s_downAt);

        public static void Reset() => Volatile.Write(ref s_downAt, 0);

        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<int> HandleInfoAsync(InfoMessage info, int state)
        {
            if (info.Kind == InfoKind.Down)
            {
                Interlocked.CompareExchange(ref s_downAt, Stopwatch.GetTimestamp(), 0);
            }
            return new(state);
        }
    }
}
