using System.Globalization;
using Noex.Lite;
using Noex.Lite.Testing;

// Usage: NodeHost --name N [--host ADDR] [--port P] [--advertised-host H] [--advertised-port P] [--seed ID]...
//                 [--secret S] [--heartbeat MS] [--threshold K] [--remove-after MS] [--dns HOSTNAME] [--seed-poll MS]
// (--dns: seeds from the addresses of HOSTNAME, as N@address:P, polled every --seed-poll.)
// Speaks NodeProcessHost's lines (the test kit): "READY <id> <incarnation>", then "UP <id>", "DOWN <id> <reason>",
// "REMOVED <id> <reason>" and "HANDSHAKE-FAILED <peer> <failure>" as they happen; "stop" on standard input, or its end,
// stops gracefully. Its own commands (Console.Out is synchronized, so they print whole lines too): "spawn ..."
// (SpawnCommands.cs); "echo", "call ...", "flow ..." (CallCommands.cs); "peers <tag>", "members <tag>" (PeerCommands.cs).
// "start-idle" starts a process that does nothing and prints "STARTED <id>" (a target for remote monitors and links).
// "dsup-start ..." and the other named-supervisor commands: SupervisionGroupCommands.cs.
var options = new NodeOptions { Host = "127.0.0.1", Port = 0 };
var seeds = new List<string>();
string? dnsName = null;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    var value = args[i + 1];
    options = args[i] switch
    {
        "--name" => options with { Name = value },
        "--host" => options with { Host = value },
        "--port" => options with { Port = int.Parse(value, CultureInfo.InvariantCulture) },
        "--advertised-host" => options with { AdvertisedHost = value },
        "--advertised-port" => options with { AdvertisedPort = int.Parse(value, CultureInfo.InvariantCulture) },
        "--secret" => options with { ClusterSecret = value },
        "--heartbeat" => options with { HeartbeatInterval = TimeSpan.FromMilliseconds(int.Parse(value, CultureInfo.InvariantCulture)) },
        "--threshold" => options with { HeartbeatMissThreshold = int.Parse(value, CultureInfo.InvariantCulture) },
        "--remove-after" => options with { RemoveUnreachableAfter = TimeSpan.FromMilliseconds(int.Parse(value, CultureInfo.InvariantCulture)) },
        "--seed-poll" => options with { SeedPollInterval = TimeSpan.FromMilliseconds(int.Parse(value, CultureInfo.InvariantCulture)) },
        "--dns" => options,
        "--seed" => options,
        _ => throw new ArgumentException($"unknown option {args[i]}"),
    };
    if (args[i] == "--seed")
    {
        seeds.Add(value);
    }
    if (args[i] == "--dns")
    {
        dnsName = value;
    }
}
if (dnsName is not null)
{
    // After the loop: the provider names nodes with this node's own name and port.
    options = options with { SeedProvider = new DnsSeedProvider(dnsName, options.Name, options.Port) };
}
options = options with
{
    Seeds = seeds,
    ReconnectBaseDelay = TimeSpan.FromMilliseconds(50),
    ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
};

await using var node = await Node.StartAsync(options);
SpawnCommands.Register(node, Console.Out);
GlobalRegistryCommands.Attach(node, Console.Out);
SupervisionBehaviors.Register(node);
var groups = new SupervisionGroupCommands(node, Console.Out);
await using var __ = groups;
await NodeProcessHost.RunAsync(node, async (line, output) =>
{
    await groups.HandleAsync(line);
    SpawnCommands.TryHandle(node, line, output);
    PeerCommands.TryHandle(node, line, output);
    await CallCommands.TryHandleAsync(node, line, output);
    await GlobalRegistryCommands.HandleAsync(node, line, output);
    await MonitorLinkCommands.HandleAsync(node, line, output);
});

// ---- global registry (branch registry) ------------------------------------------------------------------------------
// "gregister NAME" starts an idle process and registers it globally: prints "GREGISTERED NAME <process id>".
// Every name that becomes visible here is printed as "GNAME NAME <ref>".
internal static class GlobalRegistryCommands
{
    public static void Attach(Node node, TextWriter output) =>
        node.GlobalRegistry.Registered += (name, target) => output.WriteLine($"GNAME {name} {target}");

    public static async Task HandleAsync(Node node, string line, TextWriter output)
    {
        if (!line.StartsWith("gregister ", StringComparison.Ordinal))
        {
            return;
        }
        var name = line["gregister ".Length..];
        var process = await node.Runtime.StartAsync(new IdleServer());
        node.GlobalRegistry.Register(name, process);
        output.WriteLine($"GREGISTERED {name} {process.Id.ToString(CultureInfo.InvariantCulture)}");
    }

    private sealed class IdleServer : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(Value.Null, state));

        protected override ValueTask<int> HandleCastAsync(Value message, int state) => new(state);
    }
}

// ---- monitors and links (branch monitor) ----------------------------------------------------------------------------
// "start-idle" starts a process that does nothing and prints "STARTED <process id>" (a target for remote monitors and
// links from the test process).
internal static class MonitorLinkCommands
{
    public static async Task HandleAsync(Node node, string line, TextWriter output)
    {
        if (line != "start-idle")
        {
            return;
        }
        var idle = await node.Runtime.StartAsync(new IdleServer());
        output.WriteLine($"STARTED {idle.Id.ToString(CultureInfo.InvariantCulture)}");
    }

    private sealed class IdleServer : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);
    }
}

// ---- distributed supervision (branch dsup) --------------------------------------------------------------------------
// Registers the behaviour "dsup-worker" that distributed supervisors in the test process spawn here: it answers every
// call with its init args (so a test can tell which child an instance is).
internal static class SupervisionBehaviors
{
    private static readonly System.Collections.Concurrent.ConcurrentQueue<ArgsServer> s_started = new();

    public static void Register(Node node) => node.Behaviors.Register("dsup-worker", () =>
    {
        var worker = new ArgsServer();
        s_started.Enqueue(worker);
        return worker;
    });

    /// <summary>The live instances started here: "id:process" each ("workers" prints them).</summary>
    public static IEnumerable<string> Live(Node node) => s_started
        .Where(w => !w.Self.IsEmpty && node.Runtime.IsAlive(w.Self))
        .Select(w => $"{w.ChildId}:{w.Self.Id.ToString(CultureInfo.InvariantCulture)}");

    private sealed class ArgsServer : GenServer<Value>
    {
        public string? ChildId { get; private set; }

        protected override ValueTask<Value> InitAsync(Value args, CancellationToken cancellationToken)
        {
            ChildId = args.TryGetProperty("id", out var id) && id.TryGetString(out var text) ? text : "?";
            return new(args);
        }

        protected override ValueTask<CallResult<Value>> HandleCallAsync(Value request, CallFrom from, Value state) =>
            new(CallResult<Value>.WithReply(state, state));
    }
}
