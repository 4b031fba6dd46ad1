using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Noex.Lite;
using Noex.Lite.Dashboard;

// The Noex.Lite tour: what the library does, with real output. The parent process is node1; node2 and node3 are
// this same program started again as child processes (`--child <name> <seed>`), so the cluster is three OS processes on
// 127.0.0.1. Everything it starts, it stops; nothing is left behind. node1 serves the live dashboard (Noex.Lite.Dashboard)
// on a loopback port while the tour runs; with --keep-open, node1 listens on 127.0.0.1:4369 (so that other programs can
// join it with the seed node1@127.0.0.1:4369) and stays up, dashboard and all, until Ctrl+C or SIGTERM.
if (args is ["--child", var childName, var childSeed])
{
    return await Child.RunAsync(childName, childSeed);
}
var keepOpen = args is ["--keep-open"];
if (!keepOpen && args.Length > 0)
{
    Console.Error.WriteLine("usage: Tour [--keep-open]");
    return 2;
}

const string Secret = "tour-secret-0123456789abcdef";
var tour = Stopwatch.StartNew();
Section("1. The wire: a value, encoded, framed, signed, verified, decoded");
Wire.Show();

Section("2. A cluster of three processes, formed from one seed");
await using var node1 = await Node.StartAsync(new NodeOptions
{
    Name = "node1",
    Host = "127.0.0.1",
    Port = keepOpen ? 4369 : 0,
    ClusterSecret = Secret,
    HeartbeatInterval = TimeSpan.FromMilliseconds(500),
});
// The dashboard starts with node1, so that it records every node-down of the tour.
await using var dashboard = await NoexDashboard.StartAsync(node1);
node1.NodeUp += info => Say($"[CLUSTER] Node joined: {info.Id}");
node1.NodeDown += down => Say($"[CLUSTER] Node left: {down.Node} ({Snake(down.Reason)})");
Say($"Node ID: {node1.Id} (this process, pid {Environment.ProcessId})");
Say($"Dashboard: {dashboard.Url} (the live cluster in a browser, while the tour runs)");
await using var node2 = await ChildNode.StartAsync("node2", node1.Id);
await using var node3 = await ChildNode.StartAsync("node3", node1.Id);
await WaitAsync(() => node1.IsConnected(node2.Id) && node1.IsConnected(node3.Id), "the cluster to form");
await WaitAsync(() => node2.Saw($"UP {node3.Id}"), "node2 and node3 to find each other by gossip");
Say($"node2 (pid {node2.Pid}) and node3 (pid {node3.Pid}) were given only node1 as seed; gossip made the mesh:");
Say($"  node2 is connected to node3 without having been told about it.");

Section("3. A global name: registered on node2, found on node1");
node1.Behaviors.Register("counter", () => new TourCounter());
await WaitAsync(() => node1.GlobalRegistry.Whereis("tour:counter") == node2.Counter, "node2's registration to reach node1");
Say($"node2 registered its counter GenServer as \"tour:counter\"; the name reached every node.");
Say($"node1: whereis(\"tour:counter\") -> {node1.GlobalRegistry.Whereis("tour:counter")} (a local read, no round trip)");

Section("4. Calls and casts to a process on another node, written like local ones");
var counter = node1.GlobalRegistry.Whereis("tour:counter")!.Value;
var get = Value.Object(("type", "get"));
Say($"call get        -> {await node1.Runtime.CallAsync(counter, get)}");
var inc = Value.Object(("type", "inc"));
for (var i = 0; i < 10_000; i++)
{
    node1.Runtime.Cast(counter, inc);
}
Say($"cast inc x10000 -> call get -> {await node1.Runtime.CallAsync(counter, get)} (casts arrive in order, before the call)");
try
{
    await node1.Runtime.CallAsync(counter, Value.Object(("type", "boom")));
}
catch (CallFailedException e)
{
    Say($"call boom       -> {e.GetType().Name}: {e.Reason.ErrorType}: {e.Reason.Message} (the link stays up)");
}
try
{
    await node1.Runtime.CallAsync(new ProcessRef(node2.Id.ToString(), 424242), get);
}
catch (RemoteServerNotRunningException e)
{
    Say($"call a stale ref -> {e.GetType().Name}");
}
// The crash ended that counter, and its name went with it; node2 starts a new one under the same name.
counter = node2.Counter = await node2.WaitForNewRefAsync("counter", counter);
await WaitAsync(() => node1.GlobalRegistry.Whereis("tour:counter") == counter, "the new counter's name to reach node1");
Say($"the crashed counter's name went with it; node2 registered a new one: whereis -> {counter}");

Section("5. Remote spawn, a monitor, and a supervisor across nodes");
var spawned = await node1.SpawnAsync("counter", node3.Id, new SpawnOptions { Name = "tour:spawned", Registration = SpawnRegistration.Global });
Say($"node1 spawned a \"counter\" on node3: {spawned}, registered globally as \"tour:spawned\"");
node1.Runtime.Cast(spawned, inc);
Say($"cast inc, call get -> {await node1.Runtime.CallAsync(spawned, get)}");
var watcher = await node1.Runtime.StartAsync(new DownWatcher());
node1.Runtime.Monitor(watcher, spawned);
Say($"a watcher on node1 ({watcher}) monitors it: it will be told when that process ends, and why.");
// The supervisor's child goes to node3 while node3 is there, else to node2, else here.
var prefer = NodeSelector.Custom((nodes, _) =>
    (nodes.FirstOrDefault(n => n.Id == node3.Id) ?? nodes.FirstOrDefault(n => n.Id == node2.Id) ?? nodes[0]).Id);
await using var supervisor = await DistributedSupervisor.StartAsync(node1, new DistributedSupervisorOptions
{
    NodeSelector = prefer,
    Children = [new DistributedChildSpec("worker", "counter") { GlobalName = "tour:worker" }],
});
var migrated = new TaskCompletionSource<DistributedSupervisorEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
supervisor.LifecycleEvent += e =>
{
    if (e.Kind is DistributedSupervisorEventKind.ChildMigrated or DistributedSupervisorEventKind.ChildRestarted)
    {
        migrated.TrySetResult(e);
    }
};
Say($"a DistributedSupervisor on node1 started its child \"worker\" on {supervisor.GetChild("worker")!.Node}, named \"tour:worker\"");

Section("6. Remote-call throughput: 100 concurrent callers for 3 seconds");
var calls = 0L;
var stop = Stopwatch.GetTimestamp() + 3 * Stopwatch.Frequency;
var workers = Enumerable.Range(0, 100).Select(async _ =>
{
    while (Stopwatch.GetTimestamp() < stop)
    {
        await node1.Runtime.CallAsync(counter, get);
        Interlocked.Increment(ref calls);
    }
});
var started = Stopwatch.GetTimestamp();
await Task.WhenAll(workers);
var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
Say($"{calls:N0} calls in {seconds:0.0} s = {calls / seconds:N0} calls/s between two processes, over HMAC-signed frames");
Say("(the full benchmark, with a raw-socket baseline: dotnet run -c Release --project Noex.Lite.Bench -- remote)");

Section("7. Failure: kill -9 node3, then stop node2 gracefully");
var killedAt = Stopwatch.GetTimestamp();
node3.Kill();
await WaitAsync(() => !node1.IsConnected(node3.Id), "node1 to notice node3 is gone");
Say($"node1 noticed node3's death {Stopwatch.GetElapsedTime(killedAt).TotalMilliseconds:0} ms after the kill (its socket closed; no heartbeat wait)");
var down = await DownWatcher.Down.Task.WaitAsync(TimeSpan.FromSeconds(30));
Say($"the monitor fired: {down.From} went down, reason {down.Reason}");
await WaitAsync(() => node1.GlobalRegistry.Whereis("tour:spawned") is null, "the spawned process's name to go");
Say("\"tour:spawned\" left the global registry with its node: whereis -> null");
var failover = await migrated.Task.WaitAsync(TimeSpan.FromSeconds(30));
Say($"the supervisor restarted \"worker\" on {failover.Node} (it was on {failover.FromNode ?? node3.Id}), {Stopwatch.GetElapsedTime(killedAt).TotalMilliseconds:0} ms after the kill");
var moved = supervisor.GetChild("worker")!.Ref;
await WaitAsync(() => node1.GlobalRegistry.Whereis("tour:worker") == moved, "the worker's name to follow it");
Say($"its name followed it: whereis(\"tour:worker\") -> {moved}; call get -> {await node1.Runtime.CallAsync(moved, get)}");
await supervisor.StopAsync();
var pending = node1.Runtime.CallAsync(counter, Value.Object(("type", "hang")), TimeSpan.FromMinutes(1)).AsTask();
await node2.StopAsync();
try
{
    await pending;
}
catch (NodeNotReachableException e)
{
    Say($"a call waiting on node2 failed at once: {e.GetType().Name} (not after its 1-minute timeout)");
}
await WaitAsync(() => node1.GetConnectedNodes().Count == 0, "node1 to be alone");

Section("Done");
Say($"The tour took {tour.Elapsed.TotalSeconds:0.0} s. More in examples/: DistributedKv, DistributedCounter, DistributedChat, WorkerPool.");
if (!keepOpen)
{
    Say($"Dashboard: {dashboard.Url} (it closes with the tour; run with --keep-open to keep it)");
    return 0;
}
Say($"Dashboard: {dashboard.Url} (open while this runs; Ctrl+C or SIGTERM stops node1 and the dashboard)");
Say($"node1 listens on {node1.Id}; join it from another terminal, e.g.:");
Say($"  dotnet run -c Release --project examples/DistributedKv -- -n nodeB -p 4370 -s {node1.Id} --secret {Secret}");
await KeepOpen.UntilSignalledAsync();
Say("Stopping node1.");
return 0;

static void Section(string title)
{
    Console.WriteLine();
    Console.WriteLine($"== {title}");
}

static void Say(string line) => Console.WriteLine(line);

static string Snake(NodeDownReason reason) => string.Concat(reason.ToString().Select((c, i) => i > 0 && char.IsUpper(c) ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

static async Task WaitAsync(Func<bool> condition, string what)
{
    var deadline = Stopwatch.GetTimestamp() + 30 * Stopwatch.Frequency;
    while (!condition())
    {
        if (Stopwatch.GetTimestamp() > deadline)
        {
            throw new TimeoutException($"gave up waiting for {what}");
        }
        await Task.Delay(10);
    }
}

/// <summary>With <c>--keep-open</c>: waits for Ctrl+C or SIGTERM, which then stop the node gracefully instead of killing the program.</summary>
internal static class KeepOpen
{
    public static async Task UntilSignalledAsync()
    {
        var signalled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void OnSignal(PosixSignalContext context)
        {
            // Cancel = true keeps the runtime from exiting at once: the program stops its node and dashboard first.
            context.Cancel = true;
            signalled.TrySetResult();
        }
        using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        await signalled.Task;
    }
}

/// <summary>
/// Part 1: the bytes a message becomes. The value codec is the library's; the frame is built here from protocol.md §3.1
/// alone, with the key of its examples, and comes out as its vector <c>frame-small-get</c> byte for byte: the wire is a
/// contract anyone can implement, not an internal format.
/// </summary>
internal static class Wire
{
    private const int HeaderSize = 16; // length u32, version, kind, flags u16, seq u64
    private const int TagSize = 32;

    public static void Show()
    {
        var message = Value.Parse("""{"type":"get","key":"k1"}""");
        var encoded = ValueCodec.Encode(message);
        Console.WriteLine($"value   {message}");
        Console.WriteLine($"encoded {encoded.Length} bytes: {Convert.ToHexString(encoded).ToLowerInvariant()}");
        // protocol.md §3.5's key; a real connection derives a key per direction in its handshake (§4.1).
        var key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var frame = Frame(key, seq: 0, encoded);
        Console.WriteLine($"framed  {frame.Length} bytes: 4 length + 12 header (version, kind, flags, seq) + 4+{encoded.Length} message + 32 HMAC-SHA256 tag");
        Console.WriteLine($"        {Convert.ToHexString(frame).ToLowerInvariant()} (protocol.md §3.5, frame-small-get)");
        if (Verifies(key, frame))
        {
            var payload = frame.AsSpan(HeaderSize + 4, BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(HeaderSize)));
            Console.WriteLine($"verified seq {BinaryPrimitives.ReadUInt64LittleEndian(frame.AsSpan(8))}, decoded back: {ValueCodec.Decode(payload)}");
        }
        frame[^1] ^= 1;
        Console.WriteLine($"one bit flipped in the tag: verifies {Verifies(key, frame)}: a reader closes the connection (BadTag)");
    }

    /// <summary>A data frame holding one message: §3.1's layout, the tag over every byte before it.</summary>
    private static byte[] Frame(byte[] key, ulong seq, byte[] message)
    {
        var frame = new byte[HeaderSize + 4 + message.Length + TagSize];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)(frame.Length - 4));
        frame[4] = 1; // version
        frame[5] = 1; // kind: data
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(8), seq);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(HeaderSize), (uint)message.Length);
        message.CopyTo(frame, HeaderSize + 4);
        HMACSHA256.HashData(key, frame.AsSpan(0, frame.Length - TagSize), frame.AsSpan(frame.Length - TagSize));
        return frame;
    }

    private static bool Verifies(byte[] key, byte[] frame) =>
        CryptographicOperations.FixedTimeEquals(HMACSHA256.HashData(key, frame.AsSpan(0, frame.Length - TagSize)), frame.AsSpan(frame.Length - TagSize));
}

/// <summary>A child node: this program in another process, reporting its events and process refs on stdout.</summary>
internal sealed class ChildNode : IAsyncDisposable
{
    private readonly Process _process;
    private readonly List<string> _lines = new();
    private readonly Lock _lock = new();

    private ChildNode(Process process) => _process = process;

    public NodeId Id { get; private set; } = null!;

    public ProcessRef Counter { get; set; }

    public int Pid => _process.Id;

    public static async Task<ChildNode> StartAsync(string name, NodeId seed)
    {
        var self = Environment.ProcessPath!;
        var start = Path.GetFileNameWithoutExtension(self) == "dotnet"
            ? new ProcessStartInfo(self) { ArgumentList = { typeof(Wire).Assembly.Location } }
            : new ProcessStartInfo(self);
        foreach (var arg in new[] { "--child", name, seed.ToString() })
        {
            start.ArgumentList.Add(arg);
        }
        start.RedirectStandardOutput = true;
        start.RedirectStandardInput = true;
        var child = new ChildNode(Process.Start(start)!);
        child._process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (child._lock)
                {
                    child._lines.Add(e.Data);
                }
            }
        };
        child._process.BeginOutputReadLine();
        child.Id = NodeId.Parse((await child.WaitForLineAsync("READY "))["READY ".Length..]);
        child.Counter = await child.WaitForRefAsync("counter");
        return child;
    }

    public bool Saw(string line)
    {
        lock (_lock)
        {
            return _lines.Contains(line);
        }
    }

    public async Task<ProcessRef> WaitForRefAsync(string name)
    {
        var line = await WaitForLineAsync($"REF {name} ", last: true);
        return new ProcessRef(Id.ToString(), long.Parse(line.Split(' ')[2], CultureInfo.InvariantCulture));
    }

    public async Task<ProcessRef> WaitForNewRefAsync(string name, ProcessRef old)
    {
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (true)
        {
            var latest = await WaitForRefAsync(name);
            if (latest != old || Stopwatch.GetTimestamp() > deadline)
            {
                return latest;
            }
            await Task.Delay(10);
        }
    }

    public void Kill() => _process.Kill();

    public async Task StopAsync()
    {
        await _process.StandardInput.WriteLineAsync("stop");
        await _process.StandardInput.FlushAsync();
        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }

    private async Task<string> WaitForLineAsync(string prefix, bool last = false)
    {
        var deadline = Stopwatch.GetTimestamp() + 60 * Stopwatch.Frequency;
        while (true)
        {
            lock (_lock)
            {
                var found = last ? _lines.LastOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal)) : _lines.FirstOrDefault(l => l.StartsWith(prefix, StringComparison.Ordinal));
                if (found is not null)
                {
                    return found;
                }
            }
            if (_process.HasExited || Stopwatch.GetTimestamp() > deadline)
            {
                throw new InvalidOperationException($"the child node did not say '{prefix}...'");
            }
            await Task.Delay(10);
        }
    }
}

/// <summary>What a child process runs: a node with a counter GenServer, until told to stop or its parent goes.</summary>
internal static class Child
{
    public static async Task<int> RunAsync(string name, string seed)
    {
        var output = TextWriter.Synchronized(Console.Out);
        await using var node = await Node.StartAsync(new NodeOptions
        {
            Name = name,
            Host = "127.0.0.1",
            Port = 0,
            Seeds = [seed],
            ClusterSecret = "tour-secret-0123456789abcdef",
            HeartbeatInterval = TimeSpan.FromMilliseconds(500),
        });
        node.NodeUp += info => output.WriteLine($"UP {info.Id}");
        node.Behaviors.Register("counter", () => new TourCounter());
        output.WriteLine($"READY {node.Id}");
        var counter = await node.Runtime.StartAsync(new TourCounter());
        Register(node, counter);
        output.WriteLine($"REF counter {counter.Id}");
        // A crashed counter (the "boom" call) is started again here by hand, as a supervisor would.
        _ = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    await node.Runtime.WaitForExitAsync(counter);
                    counter = await node.Runtime.StartAsync(new TourCounter());
                    Register(node, counter);
                    output.WriteLine($"REF counter {counter.Id}");
                }
            }
            catch (Exception e) when (e is not ObjectDisposedException)
            {
                // Said on stderr, which the tour shows when it fails, rather than lost in an unobserved task.
                Console.Error.WriteLine($"the counter's restart loop failed: {e.GetType().Name}: {e.Message}");
            }
        });
        // The parent closes our stdin (or dies): stop gracefully so peers see graceful_shutdown.
        while (await Console.In.ReadLineAsync() is { } line && line != "stop")
        {
        }
        await node.StopAsync();
        return 0;
    }

    // node2 names its counter; on node3 the name would be taken, so only the first child registers it.
    private static void Register(Node node, ProcessRef counter)
    {
        if (node.Id.Name == "node2")
        {
            node.GlobalRegistry.Register("tour:counter", counter);
        }
    }
}

/// <summary>The tour's counter: get, inc (cast), and a crash and a call that never answers, for the failure parts.</summary>
internal sealed class TourCounter : GenServer<long>
{
    protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) => new(0L);

    protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long state) =>
        request["type"].AsString() switch
        {
            "get" => new(CallResult<long>.WithReply(state, state)),
            "boom" => throw new InvalidOperationException("the counter was asked to explode"),
            "hang" => new(CallResult<long>.NoReply(state)),
            _ => new(CallResult<long>.WithReply(Value.Null, state)),
        };

    protected override ValueTask<long> HandleCastAsync(Value message, long state) => new(state + 1);
}

/// <summary>A process on node1 that monitors one on another node and hands over the down message it receives.</summary>
internal sealed class DownWatcher : GenServer<int>
{
    public static TaskCompletionSource<InfoMessage> Down { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

    protected override ValueTask<int> HandleInfoAsync(InfoMessage info, int state)
    {
        if (info.Kind == InfoKind.Down)
        {
            Down.TrySetResult(info);
        }
        return new(state);
    }
}
