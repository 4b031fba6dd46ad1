using System.Diagnostics;

namespace Noex.Lite.Bench;

/// <summary>
/// Remote monitors at scale: node a holds L monitors of a process on b and N of a process on c (three nodes in this
/// process; L defaults to N). Reports the rate at which a sets the monitors up (until b has filed them all) and, when b stops, how long a
/// takes to deliver b's N down messages while c's N monitors stay: the cost a lost node's downs pay for the others.
/// </summary>
public static class MonitorCost
{
    private const string Secret = "monitor-bench";

    public static async Task<int> RunAsync(string[] args)
    {
        var count = BenchArgs.Int(args, "--count", 200_000);
        var rounds = BenchArgs.Int(args, "--rounds", 3);
        var lost = BenchArgs.Int(args, "--lost", count);
        Console.WriteLine($"monitors: {lost:N0} of b's process and {count:N0} of c's, {rounds} rounds");
        for (var round = 0; round < rounds; round++)
        {
            await using var a = await StartAsync("a", []);
            await using var c = await StartAsync("c", [a.Id.ToString()]);
            var b = await StartAsync("b", [a.Id.ToString()]);
            while (!a.IsConnected(b.Id) || !a.IsConnected(c.Id))
            {
                await Task.Delay(10);
            }
            var downs = new Downs(lost);
            var watcher = await a.Runtime.StartAsync(downs);
            var onB = await b.Runtime.StartAsync(new Idle());
            var onC = await c.Runtime.StartAsync(new Idle());
            var setup = Stopwatch.StartNew();
            for (var i = 0; i < Math.Max(count, lost); i++)
            {
                if (i < lost)
                {
                    a.Runtime.Monitor(watcher, onB);
                }
                if (i < count)
                {
                    a.Runtime.Monitor(watcher, onC);
                }
            }
            while (b.Monitors.IncomingCount < lost || c.Monitors.IncomingCount < count)
            {
                await Task.Delay(1);
            }
            setup.Stop();
            var stop = Stopwatch.StartNew();
            await b.DisposeAsync();
            await downs.All.Task;
            stop.Stop();
            Console.WriteLine($"round {round + 1}: set up {(count + lost) / setup.Elapsed.TotalSeconds / 1000:0}k monitors/s; b's {lost:N0} downs delivered {stop.Elapsed.TotalMilliseconds:0} ms after b began to stop");
        }
        return 0;
    }

    private static Task<Node> StartAsync(string name, string[] seeds) =>
        Node.StartAsync(new NodeOptions { Name = name, Host = "127.0.0.1", Port = 0, ClusterSecret = Secret, Seeds = seeds });

    private sealed class Idle : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);
    }

    private sealed class Downs(int expected) : GenServer<int>
    {
        public TaskCompletionSource All { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<int> HandleInfoAsync(InfoMessage info, int state)
        {
            if (info.Kind == InfoKind.Down && ++state == expected)
            {
                All.TrySetResult();
            }
            return new(state);
        }
    }
}
