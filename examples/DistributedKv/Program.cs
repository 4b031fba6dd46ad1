using Noex.Lite;
using Noex.Lite.Examples;

// Getting started: a key-value store on two nodes. The first node creates the store and registers it cluster-wide as
// "kv:main"; a node started with a seed finds it there, and both write and read it.
const string Usage = """
    Usage: DistributedKv --name <name> [--port <port>] [--seed <name@host:port>]... [--secret <secret>]
      e.g. DistributedKv --name nodeA --port 4369
           DistributedKv --name nodeB --port 4370 --seed nodeA@127.0.0.1:4369
    """;
const string GlobalName = "kv:main";

var config = ExampleArgs.Parse(args, Usage);
if (config is null)
{
    return 2;
}
if (config.Name.Length == 0)
{
    ExampleArgs.Fail("--name is required", Usage);
    return 2;
}

using var lifetime = new ExampleLifetime();
Console.WriteLine(new string('=', 50));
Console.WriteLine("  Distributed Key-Value Store");
Console.WriteLine(new string('=', 50));
Console.WriteLine();

Console.WriteLine($"Starting node: {config.Name}@127.0.0.1:{config.Port}");
var node = await ExampleNode.StartAsync(config);
if (node is null)
{
    return 1;
}
await using (node)
{
    Console.WriteLine($"Node ID: {node.Id}");
    node.NodeUp += info => Console.WriteLine($"[CLUSTER] Node joined: {info.Id}");
    node.NodeDown += down => Console.WriteLine($"[CLUSTER] Node left: {down.Node} ({ExampleNode.Snake(down.Reason)})");

    // A node with seeds first joins and lets the registry sync, so that it finds the store instead of making a second one.
    if (config.Seeds.Count > 0)
    {
        if (!await ExampleNode.WaitForSeedsAsync(node, TimeSpan.FromSeconds(10), lifetime.Stopping))
        {
            Console.WriteLine("\nShutting down...");
            return 1;
        }
        await WaitForNameAsync(node, GlobalName, TimeSpan.FromSeconds(3));
    }

    if (node.GlobalRegistry.Whereis(GlobalName) is null)
    {
        Console.WriteLine("Creating KV store...");
        var store = await node.Runtime.StartAsync(new KvStore("main"));
        node.GlobalRegistry.Register(GlobalName, store);
        Console.WriteLine("KV store created and registered globally.");
    }
    else
    {
        Console.WriteLine("KV store already exists in cluster.");
    }

    await DemonstrateAsync(node);

    Console.WriteLine("\nNode is running. Press Ctrl+C to exit.");
    await lifetime.WaitAsync();
    Console.WriteLine("\nShutting down...");
    await node.StopAsync();
}
return 0;

static async Task DemonstrateAsync(Node node)
{
    if (node.GlobalRegistry.Whereis(GlobalName) is not { } kv)
    {
        Console.WriteLine("KV store not found in registry.");
        return;
    }
    Console.WriteLine($"\nKV store location: {kv.Node}");
    Console.WriteLine("Demonstrating operations...\n");

    // Typed messages: the records below are checked by the compiler and travel as {"type":"set","key":...,"value":...},
    // the shape a value-level or TypeScript peer sends.
    var name = node.Id.Name;
    node.Runtime.Cast(kv, new Set($"greeting-{name}", $"Hello from {name}!"));
    node.Runtime.Cast(kv, new Set($"timestamp-{name}", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ss.fffZ")));

    // Casts and calls from one process to another arrive in order, so no delay is needed before reading them back.
    var keys = await node.Runtime.CallAsync<Keys, Value>(kv, new Keys());
    Console.WriteLine($"Keys in store: {JsArray(keys)}");
    var size = await node.Runtime.CallAsync<Size, long>(kv, new Size());
    Console.WriteLine($"Total entries: {size}");
    var greeting = await node.Runtime.CallAsync<Get, string?>(kv, new Get($"greeting-{name}"));
    Console.WriteLine($"Our greeting: {greeting}");
}

// The keys as [ 'a', 'b' ], the form the transcript in README.md shows.
static string JsArray(Value items) =>
    items.Count == 0 ? "[]" : $"[ {string.Join(", ", items.AsArray().ToArray().Select(v => $"'{(string?)v}'"))} ]";

static async Task WaitForNameAsync(Node node, string name, TimeSpan timeout)
{
    var deadline = DateTime.UtcNow + timeout;
    while (node.GlobalRegistry.Whereis(name) is null && DateTime.UtcNow < deadline)
    {
        await Task.Delay(20);
    }
}

/// <summary>The store: a map of keys to values; calls read it, casts change it.</summary>
/// <remarks>Replies differ by request (a value, a flag, a list, a count), so the reply type is <see cref="Value"/>; a caller
/// reads one as the type it expects (<c>CallAsync&lt;Size, long&gt;</c>).</remarks>
internal sealed class KvStore(string name) : GenServer<Dictionary<string, Value>, KvCall, Value, KvCast>
{
    protected override ValueTask<Dictionary<string, Value>> InitAsync(Value args, CancellationToken cancellationToken) =>
        new(new Dictionary<string, Value>(StringComparer.Ordinal));

    protected override ValueTask<CallResult<Dictionary<string, Value>, Value>> HandleCallAsync(KvCall request, CallFrom<Value> from,
        Dictionary<string, Value> data)
    {
        Value reply = request switch
        {
            Get get => data.GetValueOrDefault(get.Key),
            Has has => data.ContainsKey(has.Key),
            Keys => Value.Array(data.Keys.Select(Value.FromString)),
            Size => data.Count,
            _ => throw new ArgumentException($"unknown call {request}"),
        };
        return new(Reply(reply, data));
    }

    protected override ValueTask<Dictionary<string, Value>> HandleCastAsync(KvCast message, Dictionary<string, Value> data)
    {
        switch (message)
        {
            case Set set:
                data[set.Key] = set.Value;
                break;
            case Delete delete:
                data.Remove(delete.Key);
                break;
            case Clear:
                data.Clear();
                break;
        }
        return new(data);
    }

    protected override ValueTask TerminateAsync(ExitReason reason, Dictionary<string, Value> data)
    {
        Console.WriteLine($"KV store \"{name}\" terminated: {ExampleNode.Describe(reason)}");
        return default;
    }
}

/// <summary>What the store answers: <c>{"type":"get","key":...}</c> and the rest, as the seeds' store takes them.</summary>
[NoexMessage]
[NoexDerivedType(typeof(Get), "get")]
[NoexDerivedType(typeof(Has), "has")]
[NoexDerivedType(typeof(Keys), "keys")]
[NoexDerivedType(typeof(Size), "size")]
internal abstract partial record KvCall;

[NoexMessage]
internal sealed partial record Get(string Key) : KvCall;

[NoexMessage]
internal sealed partial record Has(string Key) : KvCall;

[NoexMessage]
internal sealed partial record Keys : KvCall;

[NoexMessage]
internal sealed partial record Size : KvCall;

/// <summary>What changes the store: <c>{"type":"set","key":...,"value":...}</c> and the rest.</summary>
[NoexMessage]
[NoexDerivedType(typeof(Set), "set")]
[NoexDerivedType(typeof(Delete), "delete")]
[NoexDerivedType(typeof(Clear), "clear")]
internal abstract partial record KvCast;

[NoexMessage]
internal sealed partial record Set(string Key, Value Value) : KvCast;

[NoexMessage]
internal sealed partial record Delete(string Key) : KvCast;

[NoexMessage]
internal sealed partial record Clear : KvCast;
