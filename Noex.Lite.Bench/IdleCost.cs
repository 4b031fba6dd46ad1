using System.Diagnostics;

namespace Noex.Lite.Bench;

/// <summary>
/// What an idle node costs: one node holding N idle processes, connected to a second node (so that its heartbeat ticks
/// run), nobody asking for statistics; the process's CPU time over a quiet window, as a share of one core.
/// </summary>
public static class IdleCost
{
    public static async Task<int> RunAsync(string[] args)
    {
        var processes = BenchArgs.Int(args, "--processes", 200_000);
        var seconds = BenchArgs.Int(args, "--seconds", 10);
        const string Secret = "idle-bench-secret";
        await using var a = await Node.StartAsync(new NodeOptions { Name = "a", Host = "127.0.0.1", Port = 0, ClusterSecret = Secret });
        await using var b = await Node.StartAsync(new NodeOptions
        {
            Name = "b", Host = "127.0.0.1", Port = 0, ClusterSecret = Secret, Seeds = [a.Id.ToString()],
        });
        while (!a.IsConnected(b.Id))
        {
            await Task.Delay(10);
        }
        for (var i = 0; i < processes; i++)
        {
            await a.Runtime.StartAsync(new Idle());
        }
        // Past the observer's quiet period (30 s after start, when nobody asks) and a full collection, then measure.
        await Task.Delay(TimeSpan.FromSeconds(35));
        GC.Collect();
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        process.Refresh();
        var used = process.TotalProcessorTime - cpu;
        Console.WriteLine($"idle: {processes:N0} processes, {seconds} s: {used.TotalMilliseconds / wall.Elapsed.TotalMilliseconds * 100:0.00}% of a core");
        return 0;
    }

    private sealed class Idle : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);
    }
}
