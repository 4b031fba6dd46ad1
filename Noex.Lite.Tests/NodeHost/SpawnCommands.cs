using System.Globalization;
using Noex.Lite;

/// <summary>
/// NodeHost's part for the spawn tests: two behaviours peers may spawn here, and the command
/// <c>spawn &lt;behavior&gt; &lt;node-id&gt; &lt;start&gt;</c>, which spawns from here and prints
/// <c>SPAWNED &lt;ref&gt;</c> or <c>SPAWN-FAILED &lt;exception type&gt;</c>.
/// </summary>
/// <remarks>
/// <c>host-counter</c> starts at its init args and answers any call with its count; <c>host-sleeper</c>'s init never
/// finishes (until it is cancelled). Both print <c>INIT &lt;behavior&gt;</c> when init begins.
/// </remarks>
internal static class SpawnCommands
{
    public static void Register(Node node, TextWriter output)
    {
        node.Behaviors.Register("host-counter", () => new HostCounter(output));
        node.Behaviors.Register("host-sleeper", () => new HostSleeper(output));
    }

    /// <summary>Runs <paramref name="line"/> if it is a spawn command; false otherwise.</summary>
    public static bool TryHandle(Node node, string line, TextWriter output)
    {
        var parts = line.Split(' ');
        if (parts.Length != 4 || parts[0] != "spawn")
        {
            return false;
        }
        _ = SpawnAsync(node, parts[1], NodeId.Parse(parts[2]), long.Parse(parts[3], CultureInfo.InvariantCulture), output);
        return true;
    }

    private static async Task SpawnAsync(Node node, string behavior, NodeId target, long start, TextWriter output)
    {
        try
        {
            var spawned = await node.SpawnAsync(behavior, target, new SpawnOptions { Args = start });
            output.WriteLine($"SPAWNED {spawned}");
        }
        catch (Exception e)
        {
            output.WriteLine($"SPAWN-FAILED {e.GetType().Name}");
        }
        output.Flush();
    }

    private sealed class HostCounter(TextWriter output) : GenServer<long>
    {
        protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken)
        {
            output.WriteLine("INIT host-counter");
            output.Flush();
            return new(args.TryGetInt64(out var start) ? start : 0);
        }

        protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long state) =>
            new(CallResult<long>.WithReply(state, state));

        protected override ValueTask<long> HandleCastAsync(Value message, long state) => new(state + 1);
    }

    private sealed class HostSleeper(TextWriter output) : GenServer<long>
    {
        protected override async ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken)
        {
            output.WriteLine("INIT host-sleeper");
            output.Flush();
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }
    }
}
