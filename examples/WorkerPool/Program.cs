using Noex.Lite.Examples;

// Work spread over nodes, two ways:
//   coordinator / worker: a task queue (a coordinator hands tasks to workers; failed tasks are retried, a dead
//                         worker's task reassigned).
//   supervisor / node:    a supervised worker pool (a named DistributedSupervisor places workers on the nodes, restarts
//                         the workers of a node that dies on the nodes that remain, and, when the supervisor node
//                         dies, fails over to a worker node that keeps the workers running).
const string Usage = """
    Usage: WorkerPool coordinator [--name coordinator] [--port 4369] [--interval <ms>] [--tasks <n>] [--stats-ms <ms>]
           WorkerPool worker --name <worker-name> [--port 0] [--seed coordinator@127.0.0.1:4369] [--work-ms <ms>] [--fail-rate <0..1>] [--status-ms <ms>]
           WorkerPool supervisor [--name supervisor] [--port 4369] [--workers <n>] [--nodes <n>] [--interval <ms>]
           WorkerPool node --name <node-name> [--port 0] [--seed supervisor@127.0.0.1:4369] [--workers <n>] [--interval <ms>]
      Every mode also takes --secret <secret>; --seed may be repeated.
    """;

var config = ExampleArgs.Parse(args, Usage, "--interval", "--tasks", "--stats-ms", "--work-ms", "--fail-rate", "--status-ms", "--workers", "--nodes");
if (config is null)
{
    return 2;
}
if (config.Positional is not [var mode] || mode is not ("coordinator" or "worker" or "supervisor" or "node"))
{
    ExampleArgs.Fail("say which part to run: coordinator, worker, supervisor or node", Usage);
    return 2;
}
if (!NumbersAreValid(config, out var problem))
{
    ExampleArgs.Fail(problem, Usage);
    return 2;
}

// The first node of each pair listens on the well-known port; the others take any free port and seed from it.
var hub = mode is "coordinator" or "worker" ? "coordinator" : "supervisor";
if (mode == hub)
{
    config.Name = config.Name.Length > 0 ? config.Name : hub;
}
else
{
    if (config.Name.Length == 0)
    {
        ExampleArgs.Fail($"--name is required for a {mode}", Usage);
        return 2;
    }
    config.Port = config.PortGiven ? config.Port : 0;
    if (config.Seeds.Count == 0)
    {
        config.Seeds.Add($"{hub}@127.0.0.1:4369");
    }
}

using var lifetime = new ExampleLifetime();
return mode switch
{
    "coordinator" => await TaskQueue.RunCoordinatorAsync(config, lifetime),
    "worker" => await TaskQueue.RunWorkerAsync(config, lifetime),
    "supervisor" => await SupervisedPool.RunSupervisorAsync(config, lifetime),
    _ => await SupervisedPool.RunNodeAsync(config, lifetime),
};

static bool NumbersAreValid(ExampleArgs config, out string problem)
{
    foreach (var (flag, value) in config.Extra)
    {
        var valid = flag == "--fail-rate"
            ? double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var rate) && rate is >= 0 and <= 1
            : int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _);
        if (!valid)
        {
            problem = flag == "--fail-rate" ? $"--fail-rate '{value}' must be a number from 0 to 1" : $"{flag} '{value}' must be a whole number";
            return false;
        }
    }
    problem = "";
    return true;
}
