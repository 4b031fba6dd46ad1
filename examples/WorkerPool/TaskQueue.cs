using System.Globalization;
using Noex.Lite;
using Noex.Lite.Examples;

/// <summary>
/// A distributed task queue: a coordinator registered cluster-wide as "task-coordinator" hands tasks to workers on
/// other nodes, one at a time each; a failed task is retried (on another worker when one is free), and a worker that
/// goes away (its node killed) has its task reassigned, found by monitoring it.
/// </summary>
internal static class TaskQueue
{
    public const string CoordinatorName = "task-coordinator";

    public static async Task<int> RunCoordinatorAsync(ExampleArgs config, ExampleLifetime lifetime)
    {
        var interval = Milliseconds(config, "--interval", 3000);
        var limit = config.Extra.TryGetValue("--tasks", out var tasks) ? int.Parse(tasks, CultureInfo.InvariantCulture) : int.MaxValue;
        var statsEvery = Milliseconds(config, "--stats-ms", 5000);
        var node = await ExampleNode.StartAsync(config);
        if (node is null)
        {
            return 1;
        }
        await using (node)
        {
            Console.WriteLine($"Node ID: {node.Id}");
            Console.WriteLine("Coordinator starting...");
            node.NodeDown += down => Console.WriteLine($"Node left: {down.Node} ({ExampleNode.Snake(down.Reason)})");
            var coordinator = await node.Runtime.StartAsync(new TaskCoordinator());
            node.GlobalRegistry.Register(CoordinatorName, coordinator);
            Console.WriteLine("Task Coordinator ready");

            // Submit test tasks and print statistics, each on its own interval.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(lifetime.Stopping);
            var submitter = interval <= TimeSpan.Zero ? Task.CompletedTask : RepeatAsync(interval, limit, async () =>
            {
                var reply = await node.Runtime.CallAsync(coordinator, Value.Object(("type", "submit"), ("payload", $"Task at {DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()}")));
                Console.WriteLine($"Submitted: {(string?)reply["taskId"]}");
            }, stop.Token);
            var reporter = RepeatAsync(statsEvery, int.MaxValue, async () => await PrintStatsAsync(node, coordinator), stop.Token);

            await lifetime.RunCommandsAsync(async line =>
            {
                var words = line.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
                switch (words[0])
                {
                    case "/submit" when words.Length == 2:
                        var reply = await node.Runtime.CallAsync(coordinator, Value.Object(("type", "submit"), ("payload", words[1])));
                        Console.WriteLine($"Submitted: {(string?)reply["taskId"]}");
                        break;
                    case "/stats":
                        await PrintStatsAsync(node, coordinator);
                        break;
                    case "/workers":
                        var workers = await node.Runtime.CallAsync(coordinator, Value.Object(("type", "getWorkers")));
                        Console.WriteLine($"Workers: {string.Join(", ", workers.AsArray().ToArray().Select(w => (string?)w))}");
                        break;
                    default:
                        Console.WriteLine("Commands: /submit <payload>, /stats, /workers, /quit");
                        break;
                }
            });
            stop.Cancel();
            await Task.WhenAll(submitter, reporter);
            Console.WriteLine("\nShutting down coordinator...");
            node.GlobalRegistry.Unregister(CoordinatorName);
            await node.StopAsync();
        }
        return 0;
    }

    public static async Task<int> RunWorkerAsync(ExampleArgs config, ExampleLifetime lifetime)
    {
        var name = config.Name;
        var work = config.Extra.TryGetValue("--work-ms", out var fixedWork) ? int.Parse(fixedWork, CultureInfo.InvariantCulture) : -1;
        var failRate = config.Extra.TryGetValue("--fail-rate", out var rate) ? double.Parse(rate, CultureInfo.InvariantCulture) : 0.2;
        var statusEvery = Milliseconds(config, "--status-ms", 10000);
        var node = await ExampleNode.StartAsync(config);
        if (node is null)
        {
            return 1;
        }
        await using (node)
        {
            Console.WriteLine($"Node ID: {node.Id}");
            Console.WriteLine($"Worker {name} starting...");
            node.NodeDown += down => Console.WriteLine($"Node left: {down.Node} ({ExampleNode.Snake(down.Reason)})");
            if (!await ExampleNode.WaitForSeedsAsync(node, TimeSpan.FromSeconds(10), lifetime.Stopping) ||
                await WaitForNameAsync(node, CoordinatorName, lifetime.Stopping) is not { } coordinator)
            {
                Console.Error.WriteLine($"No {CoordinatorName} in the cluster: start the coordinator first (WorkerPool coordinator).");
                await node.StopAsync();
                return 1;
            }
            var worker = await node.Runtime.StartAsync(new TaskWorker(name, work, failRate, () => node.GlobalRegistry.Whereis(CoordinatorName)));
            node.GlobalRegistry.Register(name, worker);
            node.Runtime.Cast(coordinator, Value.Object(("type", "workerReady"), ("workerName", name), ("node", worker.Node), ("id", worker.Id)));
            Console.WriteLine($"Worker {name} registered with coordinator");

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(lifetime.Stopping);
            var reporter = RepeatAsync(statusEvery, int.MaxValue, async () =>
            {
                var status = await node.Runtime.CallAsync(worker, Value.Object(("type", "getStatus")));
                Console.WriteLine($"[{name}] Status: completed={status["completedCount"]}, failed={status["failedCount"]}");
            }, stop.Token);
            await lifetime.WaitAsync();
            stop.Cancel();
            await reporter;
            Console.WriteLine($"\nShutting down worker {name}...");
            node.GlobalRegistry.Unregister(name);
            await node.StopAsync();
        }
        return 0;
    }

    private static async Task PrintStatsAsync(Node node, ProcessRef coordinator) =>
        Console.WriteLine($"Stats: {await node.Runtime.CallAsync(coordinator, Value.Object(("type", "getStats")))}");

    private static TimeSpan Milliseconds(ExampleArgs config, string flag, int fallback) =>
        TimeSpan.FromMilliseconds(config.Extra.TryGetValue(flag, out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : fallback);

    private static async Task<ProcessRef?> WaitForNameAsync(Node node, string name, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!cancellationToken.IsCancellationRequested && DateTime.UtcNow < deadline)
        {
            if (node.GlobalRegistry.Whereis(name) is { } found)
            {
                return found;
            }
            await Task.Delay(20, CancellationToken.None);
        }
        return null;
    }

    private static async Task RepeatAsync(TimeSpan every, int times, Func<Task> action, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(every);
        try
        {
            for (var i = 0; i < times && await timer.WaitForNextTickAsync(cancellationToken); i++)
            {
                try
                {
                    await action();
                }
                catch (NoexException e)
                {
                    Console.WriteLine($"Error: {e.Message}");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}

/// <summary>The coordinator: tasks by id, the workers (name, process, current task) and the statistics.</summary>
internal sealed class TaskCoordinator : GenServer<TaskCoordinator.Board>
{
    protected override ValueTask<Board> InitAsync(Value args, CancellationToken cancellationToken) => new(new Board());

    protected override ValueTask<CallResult<Board>> HandleCallAsync(Value request, CallFrom from, Board board)
    {
        Value reply;
        switch ((string?)request["type"])
        {
            case "submit":
                var task = new QueuedTask($"task-{board.NextTaskId++}", (string?)request["payload"] ?? "");
                board.Tasks.Add(task.Id, task);
                board.Submitted++;
                reply = Value.Object(("taskId", task.Id), ("status", "pending"));
                Distribute(board);
                break;
            case "getStats":
                reply = Value.Object(
                    ("submitted", board.Submitted),
                    ("completed", board.Completed),
                    ("failed", board.Failed),
                    ("pending", board.Tasks.Values.Count(t => t.Status == "pending")),
                    ("processing", board.Tasks.Values.Count(t => t.Status == "processing")),
                    ("workerCount", board.Workers.Count));
                break;
            case "getWorkers":
                reply = Value.Array(board.Workers.Keys.Order(StringComparer.Ordinal).Select(Value.FromString));
                break;
            default:
                throw new ArgumentException($"unknown call '{(string?)request["type"]}'");
        }
        return new(CallResult<Board>.WithReply(reply, board));
    }

    protected override ValueTask<Board> HandleCastAsync(Value message, Board board)
    {
        var workerName = (string?)message["workerName"] ?? "";
        switch ((string?)message["type"])
        {
            case "workerReady":
                var worker = new ProcessRef((string)message["node"]!, message["id"].AsInt64());
                if (board.Workers.Remove(workerName, out var previous))
                {
                    Runtime.Demonitor(previous.Monitor);
                }
                // The monitor is how a worker's death is noticed: a down message, noconnection if its node is lost.
                board.Workers[workerName] = new WorkerSlot(worker, Runtime.Monitor(Self, worker));
                Console.WriteLine($"[Coordinator] Worker ready: {workerName}");
                break;
            case "taskCompleted" when board.Tasks.TryGetValue((string)message["taskId"]!, out var done) && done.Status == "processing":
                done.Status = "completed";
                board.Completed++;
                Release(board, workerName);
                Console.WriteLine($"[Coordinator] Task {done.Id} completed by {workerName}");
                break;
            case "taskFailed" when board.Tasks.TryGetValue((string)message["taskId"]!, out var failed) && failed.Status == "processing":
                failed.Status = "pending";
                failed.LastFailedOn = workerName;
                board.Failed++;
                Release(board, workerName);
                Console.WriteLine($"[Coordinator] Task {failed.Id} failed, will retry");
                break;
        }
        Distribute(board);
        return new(board);
    }

    protected override ValueTask<Board> HandleInfoAsync(InfoMessage info, Board board)
    {
        if (info.Kind == InfoKind.Down && board.Workers.FirstOrDefault(w => w.Value.Monitor.Id == info.Monitor.Id) is { Key: { } gone, Value: { } slot })
        {
            board.Workers.Remove(gone);
            Console.WriteLine($"[Coordinator] Worker gone: {gone}");
            if (slot.Task is { } task && task.Status == "processing")
            {
                task.Status = "pending";
                Console.WriteLine($"[Coordinator] Reassigning task {task.Id}");
            }
            Distribute(board);
        }
        return new(board);
    }

    private static void Release(Board board, string workerName)
    {
        if (board.Workers.TryGetValue(workerName, out var slot))
        {
            slot.Task = null;
        }
    }

    // Each pending task, oldest first, goes to an idle worker, preferring one it has not just failed on.
    private void Distribute(Board board)
    {
        foreach (var task in board.Tasks.Values.Where(t => t.Status == "pending"))
        {
            var idle = board.Workers.Where(w => w.Value.Task is null).OrderBy(w => w.Key == task.LastFailedOn).ThenBy(w => w.Value.Assigned).FirstOrDefault();
            if (idle.Value is not { } slot)
            {
                return;
            }
            task.Status = "processing";
            slot.Task = task;
            slot.Assigned++;
            Runtime.Cast(slot.Worker, Value.Object(("type", "assignTask"), ("taskId", task.Id), ("payload", task.Payload)));
            Console.WriteLine($"[Coordinator] Assigned {task.Id} to {idle.Key}");
        }
    }

    /// <summary>The coordinator's state (mutated in place: only the coordinator's handlers touch it, one at a time).</summary>
    internal sealed class Board
    {
        public SortedDictionary<string, QueuedTask> Tasks { get; } = new(Comparer<string>.Create((a, b) =>
            a.Length != b.Length ? a.Length.CompareTo(b.Length) : string.CompareOrdinal(a, b)));

        public Dictionary<string, WorkerSlot> Workers { get; } = new(StringComparer.Ordinal);

        public int NextTaskId { get; set; } = 1;

        public int Submitted { get; set; }

        public int Completed { get; set; }

        public int Failed { get; set; }
    }

    internal sealed class QueuedTask(string id, string payload)
    {
        public string Id { get; } = id;

        public string Payload { get; } = payload;

        public string Status { get; set; } = "pending";

        public string? LastFailedOn { get; set; }
    }

    internal sealed class WorkerSlot(ProcessRef worker, MonitorRef monitor)
    {
        public ProcessRef Worker { get; } = worker;

        public MonitorRef Monitor { get; } = monitor;

        public QueuedTask? Task { get; set; }

        public int Assigned { get; set; }
    }
}

/// <summary>A worker: takes one task, "processes" it for a while (a timer), and reports success or a simulated failure.</summary>
internal sealed class TaskWorker(string name, int workMs, double failRate, Func<ProcessRef?> findCoordinator) : GenServer<(int Completed, int Failed)>
{
    protected override ValueTask<(int Completed, int Failed)> InitAsync(Value args, CancellationToken cancellationToken) => new((0, 0));

    protected override ValueTask<CallResult<(int Completed, int Failed)>> HandleCallAsync(Value request, CallFrom from, (int Completed, int Failed) counts) =>
        new(CallResult<(int, int)>.WithReply(Value.Object(("name", name), ("completedCount", counts.Completed), ("failedCount", counts.Failed)), counts));

    protected override ValueTask<(int Completed, int Failed)> HandleCastAsync(Value message, (int Completed, int Failed) counts)
    {
        if ((string?)message["type"] == "assignTask")
        {
            Console.WriteLine($"[{name}] Received task: {(string?)message["taskId"]}");
            var delay = workMs >= 0 ? workMs : Random.Shared.Next(1000, 3000);
            Runtime.SendAfter(Self, message["taskId"], TimeSpan.FromMilliseconds(delay));
        }
        return new(counts);
    }

    protected override ValueTask<(int Completed, int Failed)> HandleInfoAsync(InfoMessage info, (int Completed, int Failed) counts)
    {
        if (info.Kind != InfoKind.Message)
        {
            return new(counts);
        }
        var success = Random.Shared.NextDouble() >= failRate;
        // The coordinator is found by its global name each time: it may have moved.
        if (findCoordinator() is { } coordinator)
        {
            Runtime.Cast(coordinator, success
                ? Value.Object(("type", "taskCompleted"), ("taskId", info.Message), ("result", $"Processed by {name}"), ("workerName", name))
                : Value.Object(("type", "taskFailed"), ("taskId", info.Message), ("error", "Random failure"), ("workerName", name)));
        }
        return new(success ? (counts.Completed + 1, counts.Failed) : (counts.Completed, counts.Failed + 1));
    }
}
