using Noex.Lite;
using Noex.Lite.Examples;

// An interactive counter. Counters are spawned on any node and registered cluster-wide as "counter:<name>"; any node
// increments and reads them; /watch monitors one, and when its node dies the watcher says it went DOWN.
const string Usage = """
    Usage: DistributedCounter --node 1|2|3
           DistributedCounter --name <name> [--port <port>] [--seed <name@host:port>]... [--secret <secret>]
      --node N is a preset: node1 on port 4369, node2 on 4370, node3 on 4371, all seeding from node1.
    """;
const string Behavior = "distributed-counter:counter";
const string Prefix = "counter:";

var config = ExampleArgs.Parse(args, Usage, "--node");
if (config is null)
{
    return 2;
}
if (config.Extra.TryGetValue("--node", out var preset))
{
    if (preset is not ("1" or "2" or "3"))
    {
        ExampleArgs.Fail($"--node '{preset}' must be 1, 2 or 3", Usage);
        return 2;
    }
    // Presets for three nodes on one machine: node1 is the seed of the others.
    var n = int.Parse(preset, System.Globalization.CultureInfo.InvariantCulture);
    config.Name = config.Name.Length > 0 ? config.Name : $"node{n}";
    config.Port = config.PortGiven ? config.Port : 4368 + n;
    if (n != 1 && config.Seeds.Count == 0)
    {
        config.Seeds.Add("node1@127.0.0.1:4369");
    }
}
if (config.Name.Length == 0)
{
    ExampleArgs.Fail("--name or --node is required", Usage);
    return 2;
}

using var lifetime = new ExampleLifetime();
var node = await ExampleNode.StartAsync(config);
if (node is null)
{
    return 1;
}
await using (node)
{
    node.Behaviors.Register(Behavior, () => new Counter());
    node.NodeUp += info => Console.WriteLine($"Node joined: {info.Id}");
    node.NodeDown += down => Console.WriteLine($"Node left: {down.Node} ({ExampleNode.Snake(down.Reason)})");
    var watcher = await node.Runtime.StartAsync(new CounterWatcher());
    Console.WriteLine($"Distributed Counter on {node.Id}");
    Console.WriteLine("Type /help for commands.");
    await ExampleNode.WaitForSeedsAsync(node, TimeSpan.FromSeconds(5), lifetime.Stopping);

    await lifetime.RunCommandsAsync(async line =>
    {
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        switch (words[0])
        {
            case "/help":
                Help();
                break;
            case "/create" when words.Length is 2 or 4 && (words.Length == 2 || words[2] == "on"):
                await CreateAsync(node, words[1], words.Length == 4 ? words[3] : null);
                break;
            case "/inc" or "/dec" when words.Length is 2 or 3:
                await ChangeAsync(node, words[0] == "/inc", words[1], words.Length == 3 ? words[2] : "1");
                break;
            case "/get" when words.Length == 2:
                if (Find(node, words[1]) is { } counter)
                {
                    var value = await node.Runtime.CallAsync<CounterCall, long>(counter, new Get());
                    Console.WriteLine($"Counter \"{words[1]}\" on {counter.Node}: value {value}");
                }
                break;
            case "/watch" when words.Length == 2:
                if (Find(node, words[1]) is { } watched)
                {
                    await node.Runtime.CallAsync<WatchCall, bool>(watcher, new Watch(words[1], watched.Node, watched.Id));
                    Console.WriteLine($"Now watching counter \"{words[1]}\" on {watched.Node}");
                }
                break;
            case "/unwatch" when words.Length == 2:
                var was = await node.Runtime.CallAsync<WatchCall, bool>(watcher, new Unwatch(words[1]));
                Console.WriteLine(was ? $"Stopped watching counter \"{words[1]}\"." : $"Not watching counter \"{words[1]}\".");
                break;
            case "/counters":
                await ListAsync(node);
                break;
            case "/nodes":
                Nodes(node);
                break;
            default:
                Console.WriteLine($"Unknown command or wrong arguments: {line} (type /help)");
                break;
        }
    });
    Console.WriteLine("Shutting down...");
    await node.StopAsync();
}
return 0;

static void Help()
{
    Console.WriteLine("""
        Commands:
          /help                      Show this help
          /create <name>             Create a counter on this node
          /create <name> on <node>   Create a counter on another node (node2 or node2@127.0.0.1:4370)
          /inc <name> [amount]       Increment a counter (default 1)
          /dec <name> [amount]       Decrement a counter (default 1)
          /get <name>                Show a counter's value and node
          /watch <name>              Monitor a counter: be told when it goes down
          /unwatch <name>            Stop monitoring a counter
          /counters                  List the counters across the cluster
          /nodes                     List the connected nodes
          /quit                      Leave the cluster and exit
        """);
}

static ProcessRef? Find(Node node, string name)
{
    if (node.GlobalRegistry.Whereis(Prefix + name) is { } found)
    {
        return found;
    }
    Console.WriteLine($"Counter \"{name}\" not found. Use /counters to list them.");
    return null;
}

static async Task CreateAsync(Node node, string name, string? on)
{
    if (node.GlobalRegistry.Whereis(Prefix + name) is { } existing)
    {
        Console.WriteLine($"Counter \"{name}\" already exists on {existing.Node}.");
        return;
    }
    if (ResolveNode(node, on) is not { } target)
    {
        return;
    }
    Console.WriteLine($"Creating counter \"{name}\" on {target}...");
    var counter = await node.SpawnAsync(Behavior, target, new SpawnOptions { Name = Prefix + name, Registration = SpawnRegistration.Global });
    var value = await node.Runtime.CallAsync<CounterCall, long>(counter, new Get());
    Console.WriteLine($"Counter \"{name}\" created on {target} with value {value}.");
}

static async Task ChangeAsync(Node node, bool up, string name, string amountText)
{
    if (!long.TryParse(amountText, out var amount))
    {
        Console.WriteLine($"\"{amountText}\" is not a number.");
        return;
    }
    if (Find(node, name) is not { } counter)
    {
        return;
    }
    var value = await node.Runtime.CallAsync<CounterCall, long>(counter, up ? new Increment(amount) : new Decrement(amount));
    Console.WriteLine($"Counter \"{name}\" {(up ? "incremented" : "decremented")} by {amount}. New value: {value}");
}

static async Task ListAsync(Node node)
{
    var names = node.GlobalRegistry.GetNames().Where(n => n.StartsWith(Prefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
    if (names.Length == 0)
    {
        Console.WriteLine("No counters yet. Create one with /create <name>.");
        return;
    }
    Console.WriteLine("Counters:");
    foreach (var name in names)
    {
        if (node.GlobalRegistry.Whereis(name) is not { } counter)
        {
            continue;
        }
        string value;
        try
        {
            value = (await node.Runtime.CallAsync<CounterCall, long>(counter, new Get())).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (NoexException e)
        {
            value = $"unavailable ({e.GetType().Name})";
        }
        Console.WriteLine($"  - {name[Prefix.Length..]} = {value} (on {counter.Node})");
    }
}

static void Nodes(Node node)
{
    Console.WriteLine($"This node: {node.Id}");
    var others = node.GetConnectedNodes();
    if (others.Count == 0)
    {
        Console.WriteLine("No other nodes connected.");
        return;
    }
    Console.WriteLine("Connected nodes:");
    foreach (var info in others)
    {
        Console.WriteLine($"  - {info.Id}");
    }
}

// "node2", "node2@127.0.0.1:4370" or nothing (this node) to a node id, among this node and the connected ones.
static NodeId? ResolveNode(Node node, string? text)
{
    if (text is null)
    {
        return node.Id;
    }
    var candidates = node.GetConnectedNodes().Select(n => n.Id).Prepend(node.Id).ToArray();
    var match = candidates.FirstOrDefault(id => id.ToString() == text) ?? candidates.FirstOrDefault(id => id.Name == text);
    if (match is null)
    {
        Console.WriteLine($"Unknown node \"{text}\". Connected: {string.Join(", ", candidates.Select(c => c.ToString()))}");
    }
    return match;
}

/// <summary>A counter (the behaviour "distributed-counter:counter"): calls get, increment and decrement, as typed
/// messages that travel as the seeds' <c>{"type":"increment","by":1}</c>.</summary>
internal sealed class Counter : GenServer<long, CounterCall, long, CounterCall>
{
    protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) => new(0L);

    protected override ValueTask<CallResult<long, long>> HandleCallAsync(CounterCall request, CallFrom<long> from, long value)
    {
        value = Apply(request, value);
        return new(Reply(value, value));
    }

    protected override ValueTask<long> HandleCastAsync(CounterCall message, long value) => new(Apply(message, value));

    private static long Apply(CounterCall message, long value) => message switch
    {
        Increment increment => value + increment.By,
        Decrement decrement => value - decrement.By,
        _ => value,
    };
}

/// <summary>What a counter takes.</summary>
[NoexMessage]
[NoexDerivedType(typeof(Get), "get")]
[NoexDerivedType(typeof(Increment), "increment")]
[NoexDerivedType(typeof(Decrement), "decrement")]
internal abstract partial record CounterCall;

[NoexMessage]
internal sealed partial record Get : CounterCall;

[NoexMessage]
internal sealed partial record Increment(long By = 1) : CounterCall;

[NoexMessage]
internal sealed partial record Decrement(long By = 1) : CounterCall;

/// <summary>What the watcher takes: watch a counter (by its ref's node and id) or stop; both answer whether it was watched.</summary>
[NoexMessage]
[NoexDerivedType(typeof(Watch), "watch")]
[NoexDerivedType(typeof(Unwatch), "unwatch")]
internal abstract partial record WatchCall(string Name);

[NoexMessage]
internal sealed partial record Watch(string Name, string Node, long Id) : WatchCall(Name);

[NoexMessage]
internal sealed partial record Unwatch(string Name) : WatchCall(Name);

/// <summary>
/// The watcher: monitors counters on any node and prints when one goes down, with the reason
/// (noconnection when its node is lost).
/// </summary>
internal sealed class CounterWatcher : GenServer<Dictionary<string, MonitorRef>, WatchCall, bool, Value>
{
    protected override ValueTask<Dictionary<string, MonitorRef>> InitAsync(Value args, CancellationToken cancellationToken) =>
        new(new Dictionary<string, MonitorRef>(StringComparer.Ordinal));

    protected override ValueTask<CallResult<Dictionary<string, MonitorRef>, bool>> HandleCallAsync(WatchCall request, CallFrom<bool> from,
        Dictionary<string, MonitorRef> watched)
    {
        var was = watched.Remove(request.Name, out var old) && Runtime.Demonitor(old);
        if (request is Watch watch)
        {
            watched[watch.Name] = Runtime.Monitor(Self, new ProcessRef(watch.Node, watch.Id));
        }
        return new(Reply(was, watched));
    }
    protected override ValueTask<Dictionary<string, MonitorRef>> HandleInfoAsync(InfoMessage info, Dictionary<string, MonitorRef> watched)
    {
        if (info.Kind == InfoKind.Down)
        {
            foreach (var (name, monitor) in watched)
            {
                if (monitor.Id == info.Monitor.Id)
                {
                    Console.WriteLine($"Counter \"{name}\" on {info.From.Node} went DOWN! Reason: {ExampleNode.Describe(info.Reason)}");
                    watched.Remove(name);
                    break;
                }
            }
        }
        return new(watched);
    }
}
