using System.Diagnostics;
using System.Globalization;

namespace Noex.Lite.Tests;

/// <summary>
/// The network tests' side of NodeHost's commands (<c>echo</c>, <c>call</c>, <c>flow</c>, <c>peers</c>, <c>members</c>; see
/// NodeHost/CallCommands.cs and PeerCommands.cs) and of its UP and DOWN lines.
/// </summary>
internal static class NodeHostCommands
{
    private static int s_tags;

    /// <summary>Starts an echo process on <paramref name="node"/>; returns its process id there.</summary>
    public static async Task<long> StartEchoAsync(this NodeProcess node)
    {
        var before = node.Lines.Count(IsEcho);
        await node.SendAsync("echo");
        await node.WaitForLineAsync(_ => node.Lines.Count(IsEcho) > before);
        return long.Parse(node.Lines.Where(IsEcho).ElementAt(before)["ECHO ".Length..], CultureInfo.InvariantCulture);

        static bool IsEcho(string line) => line.StartsWith("ECHO ", StringComparison.Ordinal);
    }

    /// <summary>The nodes <paramref name="node"/> is connected to now.</summary>
    public static Task<NodeId[]> PeersAsync(this NodeProcess node) => AskIdsAsync(node, "peers", "PEERS");

    /// <summary>Every node <paramref name="node"/> knows of now (its members), connected or not.</summary>
    public static Task<NodeId[]> MembersAsync(this NodeProcess node) => AskIdsAsync(node, "members", "MEMBERS");

    /// <summary>
    /// Waits (polling, up to <paramref name="bound"/>) until <paramref name="node"/> is connected to exactly
    /// <paramref name="expected"/>; throws <see cref="TimeoutException"/> with what it last saw if it is not.
    /// </summary>
    public static async Task WaitForPeersAsync(this NodeProcess node, IEnumerable<NodeId> expected, TimeSpan bound)
    {
        var want = expected.Select(id => id.ToString()).Order(StringComparer.Ordinal).ToArray();
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            var peers = (await node.PeersAsync()).Select(id => id.ToString()).Order(StringComparer.Ordinal).ToArray();
            if (peers.SequenceEqual(want))
            {
                return;
            }
            if (Stopwatch.GetElapsedTime(started) > bound)
            {
                throw new TimeoutException($"{node.Id} is connected to [{string.Join(", ", peers)}], not [{string.Join(", ", want)}], after {bound.TotalSeconds} s");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>Waits until every node of <paramref name="nodes"/> is connected to every other and to nothing else.</summary>
    public static Task WaitForFullMeshAsync(IReadOnlyList<NodeProcess> nodes, TimeSpan bound) =>
        Task.WhenAll(nodes.Select(n => n.WaitForPeersAsync(nodes.Where(m => m != n).Select(m => m.Id), bound)));

    /// <summary><paramref name="count"/> calls, one after another, from <paramref name="node"/> to a process of <paramref name="target"/>.</summary>
    public static Task<CallSummary> CallAsync(this NodeProcess node, NodeId target, long processId, int count, TimeSpan timeout) =>
        RunAsync(node, tag => string.Create(CultureInfo.InvariantCulture, $"call {tag} {target} {processId} {count} {(int)timeout.TotalMilliseconds}"));

    /// <summary>Calls for <paramref name="duration"/>, one after another with <paramref name="pause"/> between them.</summary>
    public static Task<CallSummary> FlowAsync(this NodeProcess node, NodeId target, long processId, TimeSpan duration, TimeSpan timeout, TimeSpan pause) =>
        RunAsync(node, tag => string.Create(CultureInfo.InvariantCulture,
            $"flow {tag} {target} {processId} {(int)duration.TotalSeconds} {(int)timeout.TotalMilliseconds} {(int)pause.TotalMilliseconds}"));

    /// <summary>How many lines <paramref name="node"/> has printed so far: a mark for <see cref="PeerEvents"/>.</summary>
    public static int Mark(this NodeProcess node) => node.TimedLines.Count;

    /// <summary>The UP and DOWN lines of <paramref name="node"/> from line <paramref name="from"/> (a <see cref="Mark"/>) on, up to <paramref name="to"/>.</summary>
    public static PeerEvent[] PeerEvents(this NodeProcess node, int from = 0, int to = int.MaxValue) =>
    [
        .. node.TimedLines.Take(to).Skip(from).Select(l => l.Text.Split(' ') switch
        {
            ["UP", var id] => new PeerEvent(l.At, Up: true, NodeId.Parse(id), null),
            ["DOWN", var id, var reason] => new PeerEvent(l.At, Up: false, NodeId.Parse(id), reason),
            _ => null,
        }).OfType<PeerEvent>(),
    ];

    private static async Task<NodeId[]> AskIdsAsync(NodeProcess node, string command, string answer)
    {
        var tag = NextTag();
        await node.SendAsync($"{command} {tag}");
        var line = await node.WaitForLineAsync(l => l == $"{answer} {tag}" || l.StartsWith($"{answer} {tag} ", StringComparison.Ordinal));
        return [.. line.Split(' ').Skip(2).Select(NodeId.Parse)];
    }

    private static async Task<CallSummary> RunAsync(NodeProcess node, Func<string, string> command)
    {
        var tag = NextTag();
        await node.SendAsync(command(tag));
        return CallSummary.Parse(await node.WaitForLineAsync(l => l.StartsWith($"CALLS {tag} ", StringComparison.Ordinal)));
    }

    private static string NextTag() => "t" + Interlocked.Increment(ref s_tags).ToString(CultureInfo.InvariantCulture);
}
