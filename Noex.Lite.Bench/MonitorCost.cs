using System.Diagnostics;

namespace Noex.Lite.Bench;

/// <summary>
/// Remote monitors at scale: node a holds L monitors of a process on b and N of a process on c (three nodes in this
/// process; L defaults to N). Reports the rate at which a sets the monitors up (until b has filed them all) and, when b stops, how long a
/// takes to deliver b's N down messages while c's N monitors stay: the cost a lost node's downs pay for the others.
/// With <c>--links</c>, the same for links: a link is one per pair of processes, so a's trapping processes each link to
/// as many processes on b (and on c), about √N of each, and a lost node's downs are its links' noconnection exits.
/// </summary>
public static class MonitorCost
{
    private const string Secret = "monitor-bench";

    public static async Task<int> RunAsync(string[] args)
    {
        // A flag among the name-value pairs BenchArgs reads: taken out first.
        var links = args.Contains("--links");
        args = [.. args.Where(a => a != "--links")];
        var count = BenchArgs.Int(args, "--count", 200_000);
        var rounds = BenchArgs.Int(args, "--rounds", 3);
        var lost = BenchArgs.Int(args, "--lost", count);
        if (links)
        {
            return await RunLinksAsync(count, lost, rounds);
        }
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
            await ReportAsync(round, count + lost, setup, () => b.Monitors.IncomingCount >= lost && c.Monitors.IncomingCount >= count, b,
                downs.All.Task, $"monitors/s; b's {lost:N0} downs");
        }
        return 0;
    }

    private static async Task<int> RunLinksAsync(int count, int lost, int rounds)
    {
        // √N processes on a, each linked to √N processes of the peer: N pairs from a few hundred processes a side.
        var side = (int)Math.Ceiling(Math.Sqrt(Math.Max(count, lost)));
        Console.WriteLine($"monitors --links: {lost:N0} links to b's processes and {count:N0} to c's ({side} processes a side), {rounds} rounds");
        for (var round = 0; round < rounds; round++)
        {
            await using var a = await StartAsync("a", []);
            await using var c = await StartAsync("c", [a.Id.ToString()]);
            var b = await StartAsync("b", [a.Id.ToString()]);
            while (!a.IsConnected(b.Id) || !a.IsConnected(c.Id))
            {
                await Task.Delay(10);
            }
            var exits = new ExitCount(lost);
            var locals = new List<ProcessRef>();
            var onB = new List<ProcessRef>();
            var onC = new List<ProcessRef>();
            for (var i = 0; i < side; i++)
            {
                locals.Add(await a.Runtime.StartAsync(new Trapper(exits), options: new StartOptions { TrapExit = true }));
                onB.Add(await b.Runtime.StartAsync(new Idle()));
                onC.Add(await c.Runtime.StartAsync(new Idle()));
            }
            var setup = Stopwatch.StartNew();
            for (var i = 0; i < Math.Max(count, lost); i++)
            {
                var local = locals[i / side];
                if (i < lost)
                {
                    a.Runtime.Link(local, onB[i % side]);
                }
                if (i < count)
                {
                    a.Runtime.Link(local, onC[i % side]);
                }
            }
            await ReportAsync(round, count + lost, setup, () => b.Links.Count >= lost && c.Links.Count >= count, b,
                exits.All.Task, $"links/s; b's {lost:N0} exits");
        }
        return 0;
    }

    private static Task<Node> StartAsync(string name, string[] seeds) =>
        Node.StartAsync(new NodeOptions { Name = name, Host = "127.0.0.1", Port = 0, ClusterSecret = Secret, Seeds = seeds });

    private sealed class Idle : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);
    }

    /// <summary>The exit signals a's trapping processes received, over all of them.</summary>
    private sealed class ExitCount(int expected)
    {
        private int _count;

        public TaskCompletionSource All { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Add()
        {
            // From every trapping process's turn at once: one shared count.
            if (Interlocked.Increment(ref _count) == expected)
            {
                All.TrySetResult();
            }
        }
    }

    private sealed class Trapper(ExitCount exits) : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<int> HandleInfoAsync(InfoMessage info, int state)
        {
            if (info.Kind == InfoKind.Exit)
            {
                exits.Add();
            }
            return new(state);
        }
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

    /// <summary>Waits until the peers hold all that was set up, then stops b and prints the setup rate and how long after
    /// b began to stop every notice of its loss had arrived.</summary>
    private static async Task ReportAsync(int round, int total, Stopwatch setup, Func<bool> settled, Node b, Task delivered, string what)
    {
        while (!settled())
        {
            await Task.Delay(1);
        }
        setup.Stop();
        var stop = Stopwatch.StartNew();
        await b.DisposeAsync();
        await delivered;
        stop.Stop();
        Console.WriteLine($"round {round + 1}: set up {total / setup.Elapsed.TotalSeconds / 1000:0}k {what} delivered {stop.Elapsed.TotalMilliseconds:0} ms after b began to stop");
    }
}
