using System.Globalization;
using Noex.Lite;
using Noex.Lite.Examples;

/// <summary>
/// A supervised worker pool: a named DistributedSupervisor, "pool", whose children, the workers, are spawned on the worker
/// nodes; when a worker node dies, its workers are started again on the nodes that remain. The supervisor node starts
/// the pool; every worker node joins it as a standby, so that when the supervisor node itself dies a worker node takes
/// over, keeps the workers where they run, and goes on. Whichever member is active sends every worker a job each round and
/// says which nodes did them.
/// </summary>
internal static class SupervisedPool
{
    public const string Behavior = "pool:worker";
    public const string Name = "pool";

    /// <summary>
    /// The pool's options, the same on every member. Workers go to the worker nodes in turn (worker-1 to the first,
    /// worker-2 to the second, ...); the supervisor node takes them only when no worker node is left. A lost node is
    /// not a candidate, so its workers move.
    /// </summary>
    private static DistributedSupervisorOptions PoolOptions(int workers, string hubName) => new()
    {
        Name = Name,
        NodeSelector = NodeSelector.Custom((nodes, childId) =>
        {
            var remotes = nodes.Where(n => n.Id.Name != hubName).OrderBy(n => n.Id.ToString(), StringComparer.Ordinal).ToArray();
            var index = int.Parse(childId.AsSpan(childId.LastIndexOf('-') + 1), CultureInfo.InvariantCulture) - 1;
            return remotes.Length == 0 ? nodes[0].Id : remotes[index % remotes.Length].Id;
        }),
        // A node failure restarts every worker that was on it: allow that many restarts at once.
        MaxRestarts = workers * 2,
        Children = Enumerable.Range(1, workers)
            .Select(i => new DistributedChildSpec($"worker-{i}", Behavior) { Args = Value.Object(("id", $"worker-{i}")) })
            .ToArray(),
    };

    private static int Workers(ExampleArgs config) => config.Extra.TryGetValue("--workers", out var count) ? int.Parse(count, CultureInfo.InvariantCulture) : 4;

    private static TimeSpan Interval(ExampleArgs config) =>
        TimeSpan.FromMilliseconds(config.Extra.TryGetValue("--interval", out var ms) ? int.Parse(ms, CultureInfo.InvariantCulture) : 2000);

    public static async Task<int> RunSupervisorAsync(ExampleArgs config, ExampleLifetime lifetime)
    {
        var workers = Workers(config);
        var nodesWanted = config.Extra.TryGetValue("--nodes", out var wanted) ? int.Parse(wanted, CultureInfo.InvariantCulture) : 2;
        var node = await ExampleNode.StartAsync(config);
        if (node is null)
        {
            return 1;
        }
        await using (node)
        {
            node.Behaviors.Register(Behavior, () => new PoolWorker());
            Console.WriteLine($"Node ID: {node.Id}");
            Console.WriteLine("Supervisor starting...");
            node.NodeUp += info => Console.WriteLine($"[CLUSTER] Node joined: {info.Id}");
            node.NodeDown += down => Console.WriteLine($"[CLUSTER] Node left: {down.Node} ({ExampleNode.Snake(down.Reason)})");
            Console.WriteLine($"Waiting for {nodesWanted} worker node(s) (start them with: WorkerPool node --name node-a --seed {node.Id})...");
            while (node.GetConnectedNodes().Count < nodesWanted)
            {
                try
                {
                    await Task.Delay(50, lifetime.StoppingOrInputEnded);
                }
                catch (OperationCanceledException)
                {
                    Console.WriteLine("\nShutting down supervisor...");
                    await node.StopAsync();
                    return 0;
                }
            }

            Console.WriteLine($"Starting {workers} workers under the DistributedSupervisor \"{Name}\"...");
            await using var supervisor = await DistributedSupervisor.StartAsync(node, PoolOptions(workers, node.Id.Name));
            supervisor.LifecycleEvent += e => Report(supervisor, e);
            foreach (var child in supervisor.GetChildren())
            {
                Console.WriteLine($"  {child.Id} on {child.Node}");
            }
            Console.WriteLine($"Pool ready: {supervisor.CountChildren()} workers on {supervisor.GetStats().ChildrenByNode.Count} nodes.");

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(lifetime.Stopping);
            var rounds = RoundsAsync(node, supervisor, Interval(config), stop.Token);
            await lifetime.RunCommandsAsync(async line =>
            {
                var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                switch (words[0])
                {
                    case "/status":
                        var stats = supervisor.GetStats();
                        Console.WriteLine($"Workers: {stats.ChildCount}, restarts: {stats.TotalRestarts} ({stats.NodeFailureRestarts} after node failures)");
                        foreach (var child in supervisor.GetChildren())
                        {
                            Console.WriteLine($"  {child.Id} on {child.Node} (restarts: {child.RestartCount})");
                        }
                        break;
                    case "/crash" when words.Length == 2 && supervisor.GetChild(words[1]) is { } victim:
                        Console.WriteLine($"Crashing {victim.Id} on {victim.Node}...");
                        node.Runtime.Cast(victim.Ref, Value.Object(("type", "crash")));
                        break;
                    default:
                        Console.WriteLine("Commands: /status, /crash <worker>, /quit");
                        break;
                }
            });
            stop.Cancel();
            await rounds;
            Console.WriteLine("\nShutting down supervisor...");
            // This member's stop: a worker node standing by takes the pool over, its workers keep running.
            await supervisor.StopAsync("shutdown");
            await node.StopAsync();
        }
        return 0;
    }

    public static async Task<int> RunNodeAsync(ExampleArgs config, ExampleLifetime lifetime)
    {
        var node = await ExampleNode.StartAsync(config);
        if (node is null)
        {
            return 1;
        }
        await using (node)
        {
            // The behaviour must be registered on every node that may host a worker, before the supervisor places one.
            node.Behaviors.Register(Behavior, () => new PoolWorker());
            Console.WriteLine($"Node ID: {node.Id}");
            node.NodeUp += info => Console.WriteLine($"[CLUSTER] Node joined: {info.Id}");
            node.NodeDown += down => Console.WriteLine($"[CLUSTER] Node left: {down.Node} ({ExampleNode.Snake(down.Reason)})");
            await ExampleNode.WaitForSeedsAsync(node, TimeSpan.FromSeconds(10), lifetime.Stopping);
            Console.WriteLine($"Worker node {node.Id.Name} ready.");
            // Join the pool the supervisor node starts, as a standby: it takes over if the supervisor node dies.
            DistributedSupervisor? member = null;
            try
            {
                while (node.GlobalRegistry.Whereis(Name) is null)
                {
                    await Task.Delay(50, lifetime.Stopping);
                }
                member = await DistributedSupervisor.StartAsync(node, PoolOptions(Workers(config), node.Options.Seeds.Select(NodeId.Parse).First().Name));
                member.LifecycleEvent += e => Report(member, e);
                Console.WriteLine($"Standing by for the pool's supervisor on {node.GlobalRegistry.Whereis(Name)?.Node}.");
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(lifetime.Stopping);
                var rounds = RoundsAsync(node, member, Interval(config), stop.Token);
                await lifetime.WaitAsync();
                stop.Cancel();
                await rounds;
            }
            catch (OperationCanceledException)
            {
            }
            Console.WriteLine($"\nShutting down worker node {node.Id.Name}...");
            if (member is not null)
            {
                await member.StopAsync("shutdown");
            }
            await node.StopAsync();
        }
        return 0;
    }

    private static void Report(DistributedSupervisor member, DistributedSupervisorEvent e)
    {
        var line = e.Kind switch
        {
            DistributedSupervisorEventKind.SupervisorTookOver => $"[POOL] Took over supervision from {e.FromNode?.ToString() ?? "nobody"}; workers kept where they run: "
                + string.Join(", ", member.GetChildren().Select(c => $"{c.Id} on {c.Node}")),
            DistributedSupervisorEventKind.SupervisorStoodDown => $"[POOL] Stood down ({e.Reason})",
            DistributedSupervisorEventKind.NodeFailureDetected => $"[POOL] Node failure detected: {e.Node} (workers: {string.Join(", ", e.AffectedChildren ?? [])})",
            DistributedSupervisorEventKind.ChildMigrated => $"[POOL] {e.ChildId} migrated from {e.FromNode} to {e.Node}",
            DistributedSupervisorEventKind.ChildRestarted => $"[POOL] {e.ChildId} restarted on {e.Node} (restart {e.Attempt})",
            DistributedSupervisorEventKind.ChildStarted => $"[POOL] {e.ChildId} started on {e.Node}",
            DistributedSupervisorEventKind.ChildStopped => $"[POOL] {e.ChildId} stopped ({e.Reason})",
            DistributedSupervisorEventKind.SupervisorStopped => $"[POOL] Supervisor stopped ({e.Reason})",
            _ => null,
        };
        if (line is not null)
        {
            Console.WriteLine(line);
        }
    }

    // Each round, a job for every worker, wherever it is now; the reply says which node did it.
    private static async Task RoundsAsync(Node node, DistributedSupervisor supervisor, TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        var round = 0;
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                if (!supervisor.IsActive)
                {
                    continue; // a standby's rounds start when it takes over
                }
                round++;
                var children = supervisor.GetChildren();
                var results = await Task.WhenAll(children.Select(async child =>
                {
                    try
                    {
                        var reply = await node.Runtime.CallAsync(child.Ref, Value.Object(("type", "work"), ("round", round)), TimeSpan.FromSeconds(2), cancellationToken);
                        return (string?)reply["node"];
                    }
                    catch (NoexException)
                    {
                        return null;
                    }
                }));
                var done = results.Where(r => r is not null).GroupBy(r => r!).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Key}: {g.Count()}");
                var failed = results.Count(r => r is null);
                Console.WriteLine($"Round {round}: {results.Length - failed} jobs done ({string.Join(", ", done)}){(failed > 0 ? $", {failed} failed" : "")}");
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>A pool worker: does jobs (here, counts them) and says where it runs; <c>crash</c> makes it fail.</summary>
internal sealed class PoolWorker : GenServer<(string Id, int Jobs)>
{
    protected override ValueTask<(string Id, int Jobs)> InitAsync(Value args, CancellationToken cancellationToken)
    {
        var id = args.TryGetProperty("id", out var name) ? (string?)name ?? "worker" : "worker";
        Console.WriteLine($"[{id}] started here");
        return new((id, 0));
    }

    protected override ValueTask<CallResult<(string Id, int Jobs)>> HandleCallAsync(Value request, CallFrom from, (string Id, int Jobs) state)
    {
        state.Jobs++;
        return new(CallResult<(string, int)>.WithReply(Value.Object(("worker", state.Id), ("node", Self.Node), ("jobs", state.Jobs)), state));
    }

    protected override ValueTask<(string Id, int Jobs)> HandleCastAsync(Value message, (string Id, int Jobs) state) =>
        (string?)message["type"] == "crash" ? throw new InvalidOperationException($"{state.Id} was told to crash") : new(state);
}
