using System.Diagnostics;
using System.Net.Sockets;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// Reliability cases T30 (random streams at the listener) and T26 (random faults under load), sized for CI by default
/// and for a real soak through the environment: <c>NOEX_FUZZ_STREAMS=100000</c>, <c>NOEX_SOAK_SECONDS=3600</c>.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Stress)]
public class SoakTests(ITestOutputHelper output)
{
    private static int Setting(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), out var value) && value > 0 ? value : fallback;

    private const string Secret = "soak";

    private static NodeOptions ShortHandshakes(NodeOptions options) => options with { HandshakeTimeout = TimeSpan.FromSeconds(1) };

    private static int OpenDescriptors() =>
        Directory.Exists("/proc/self/fd") ? Directory.GetFiles("/proc/self/fd").Length : Process.GetCurrentProcess().HandleCount;

    [Fact]
    public async Task Fuzz_RandomStreamsAtTheListener_NodeAndItsSessionsCarryOn()
    {
        var streams = Setting("NOEX_FUZZ_STREAMS", 3000);
        await using var pair = await TestCluster.StartAsync(2, Secret, ShortHandshakes);
        var (a, b) = pair;
        var echo = await a.Runtime.StartAsync(new Echo());
        using var unobserved = new UnobservedTasks();
        var events = NodeEvents.Watch(a);

        var next = -1;
        async Task ClientAsync(int seed)
        {
            var random = new Random(seed);
            var buffer = new byte[64];
            while (Interlocked.Increment(ref next) < streams)
            {
                using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await socket.ConnectAsync("127.0.0.1", a.ListenPort);
                    var garbage = new byte[random.Next(1, 2048)];
                    random.NextBytes(garbage);
                    if (garbage.Length >= 3 && random.Next(4) == 0)
                    {
                        // A plausible start (a HELLO-sized length) followed by garbage: it reaches the handshake parser.
                        garbage[0] = (byte)random.Next(40, 120);
                        garbage[1] = 0;
                        garbage[2] = 0x01;
                    }
                    await socket.SendAsync(garbage);
                    socket.Shutdown(SocketShutdown.Send);
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    while (await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token) > 0)
                    {
                    }
                }
                catch (SocketException)
                {
                    // Refused or reset by the node: what it should do with garbage.
                }
            }
        }

        var descriptorsBefore = OpenDescriptors();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();
        var fuzz = Task.WhenAll(Enumerable.Range(0, 16).Select(i => Task.Run(() => ClientAsync(i))));
        // The existing session keeps working while the door is hammered.
        var calls = 0;
        while (!fuzz.IsCompleted)
        {
            Assert.Equal(Value.FromInt64(calls), await b.Runtime.CallAsync(echo, Value.FromInt64(calls), TimeSpan.FromSeconds(30)));
            calls++;
        }
        await fuzz;
        var elapsed = clock.Elapsed;
        var growth = GC.GetTotalMemory(forceFullCollection: true) - memoryBefore;
        await Wait.UntilAsync(() => OpenDescriptors() <= descriptorsBefore + 16);
        await using var c = await Node.StartAsync(ShortHandshakes(TestNodes.Options("c", Secret, a.Id.ToString())));
        await Wait.UntilAsync(() => a.IsConnected(c.Id));
        unobserved.Flush();

        output.WriteLine($"{streams:N0} random streams in {elapsed.TotalSeconds:F1} s ({streams / elapsed.TotalSeconds:N0}/s); {calls:N0} calls meanwhile; managed heap {growth / 1024.0:N0} KiB; descriptors {descriptorsBefore} -> {OpenDescriptors()}");
        Assert.Empty(events.Downs);
        Assert.True(a.IsConnected(b.Id));
        Assert.True(growth < 8 * 1024 * 1024, $"the heap grew by {growth:N0} bytes");
        Assert.Equal(0, unobserved.Count);
    }

    [Fact]
    public async Task Soak_RandomFaultsUnderLoad_EveryCallEndsTypedAndTheClusterHeals()
    {
        var seconds = Setting("NOEX_SOAK_SECONDS", 15);
        // A proxy in front of each node, so that every connection between them, whoever dials, crosses the faults.
        // b (the callee) is the seed, a dials it.
        await using var pair = await TestCluster.StartAsync(["b", "a"], Secret, ShortHandshakes, proxied: true);
        var (b, a) = pair;
        FaultProxy[] proxies = [pair.Proxies[1], pair.Proxies[0]]; // a's, b's
        var echo = await b.Runtime.StartAsync(new Echo());
        using var unobserved = new UnobservedTasks();

        var events = NodeEvents.Watch(a);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        long ok = 0, typed = 0, casts = 0;
        var wrong = new System.Collections.Concurrent.ConcurrentQueue<string>();
        async Task CallerAsync(int id)
        {
            var n = 0L;
            while (!stop.IsCancellationRequested)
            {
                var request = Value.FromInt64(id * 1_000_000_000L + n++);
                try
                {
                    var reply = await a.Runtime.CallAsync(echo, request, TimeSpan.FromSeconds(2));
                    if (reply != request)
                    {
                        wrong.Enqueue($"caller {id}: sent {request}, got {reply}");
                    }
                    Interlocked.Increment(ref ok);
                }
                catch (NoexException)
                {
                    // Not reachable, timed out, overloaded: typed, and the loop goes on.
                    Interlocked.Increment(ref typed);
                    await Task.Yield();
                }
                catch (Exception e)
                {
                    wrong.Enqueue($"caller {id}: {e.GetType().Name}: {e.Message}");
                }
                if (a.Runtime.Cast(echo, request))
                {
                    Interlocked.Increment(ref casts);
                }
            }
        }

        async Task ChaosAsync()
        {
            var random = new Random(26);
            while (!stop.IsCancellationRequested)
            {
                var proxy = proxies[random.Next(2)];
                try
                {
                    await Task.Delay(random.Next(300, 1500), stop.Token);
                    switch (random.Next(5))
                    {
                        case 0:
                            proxy.ResetAll();
                            break;
                        case 1:
                            proxy.CorruptNextToTarget();
                            break;
                        case 2:
                            proxy.ReplayNextToTarget();
                            break;
                        case 3:
                            proxy.Blackhole = true;
                            await Task.Delay(random.Next(500, 4000), stop.Token);
                            break;
                        default:
                            proxy.Paused = true;
                            await Task.Delay(random.Next(100, 1500), stop.Token);
                            break;
                    }
                }
                catch (OperationCanceledException)
                {
                }
                finally
                {
                    proxy.Blackhole = false;
                    proxy.Paused = false;
                }
            }
        }

        var descriptorsBefore = OpenDescriptors();
        var memoryBefore = GC.GetTotalMemory(forceFullCollection: true);
        await Task.WhenAll([.. Enumerable.Range(0, 8).Select(i => Task.Run(() => CallerAsync(i))), Task.Run(ChaosAsync)]);

        // Healed: the link comes back, nothing is left waiting, and calls work again.
        await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));
        await Wait.UntilAsync(() => a.PendingRemoteCalls == 0);
        // A probe may still meet the last fault's aftermath (a timeout, or a link that a late-detected fault takes down
        // once more): its typed failure is kept, and it tries again once the link is up, for up to a minute.
        var answered = false;
        var failures = new List<string>();
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (!answered && Stopwatch.GetTimestamp() < deadline)
        {
            try
            {
                await Wait.UntilAsync(() => a.IsConnected(b.Id) && b.IsConnected(a.Id));
                answered = await a.Runtime.CallAsync(echo, Value.FromInt64(7), TimeSpan.FromSeconds(5)) == Value.FromInt64(7);
            }
            catch (NoexException e)
            {
                failures.Add($"{e.GetType().Name}: {e.Message}");
            }
        }
        Assert.True(answered, $"no call got through after the faults ended: {string.Join("; ", failures.TakeLast(5))}");
        if (failures.Count > 0)
        {
            output.WriteLine($"probes that failed before one got through: {failures.Count} ({string.Join("; ", failures.Take(3))})");
        }
        var growth = GC.GetTotalMemory(forceFullCollection: true) - memoryBefore;
        await Wait.UntilAsync(() => OpenDescriptors() <= descriptorsBefore + 16);
        unobserved.Flush();

        output.WriteLine($"{seconds} s of faults: {events.Downs.Count} node-downs, {ok:N0} calls answered, {typed:N0} failed typed, {casts:N0} casts sent; heap {growth / 1024.0:N0} KiB; descriptors {descriptorsBefore} -> {OpenDescriptors()}");
        Assert.Empty(wrong);
        Assert.True(events.Downs.Count >= 2, $"only {events.Downs.Count} faults took the link down: the chaos did not reach it");
        Assert.True(ok > 0, "no call got through between the faults");
        Assert.True(growth < 16 * 1024 * 1024, $"the heap grew by {growth:N0} bytes");
        Assert.Equal(0, unobserved.Count);
    }

    /// <summary>Counts task exceptions nobody observed while it is alive (the event is process-wide).</summary>
    private sealed class UnobservedTasks : IDisposable
    {
        private int _count;

        public UnobservedTasks()
        {
            // Flush what earlier tests left to the finalizer first, so that only this test's count.
            Flush();
            TaskScheduler.UnobservedTaskException += OnUnobserved;
        }

        public int Count => Volatile.Read(ref _count);

        /// <summary>Finalizes unreachable tasks now, so that their unobserved exceptions are counted.</summary>
        public void Flush()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        public void Dispose() => TaskScheduler.UnobservedTaskException -= OnUnobserved;

        private void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e) => Interlocked.Increment(ref _count);
    }

    /// <summary>Replies with the request; ignores casts.</summary>
    private sealed class Echo : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(request, state));

        protected override ValueTask<int> HandleCastAsync(Value message, int state) => new(state + 1);
    }
}
