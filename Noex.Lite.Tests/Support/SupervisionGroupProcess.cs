using System.Globalization;

namespace Noex.Lite.Tests;

/// <summary>One event of a named supervisor's member in a NodeHost process (NodeHost/SupervisionGroupCommands.cs).</summary>
/// <param name="At">When the line was read (Stopwatch timestamp).</param>
/// <param name="Kind">The event kind's name (<see cref="DistributedSupervisorEventKind"/>).</param>
/// <param name="Child">The child, or "-".</param>
/// <param name="Node">The node field, or "-".</param>
/// <param name="From">The from-node field, or "-".</param>
/// <param name="Reason">The reason, or "-".</param>
internal sealed record GroupEvent(long At, string Kind, string Child, string Node, string From, string Reason);

/// <summary>The tests' side of NodeHost's named-supervisor commands.</summary>
internal static class SupervisionGroupProcess
{
    /// <summary>Starts a member of <see cref="SupervisionGroup.Options"/> in <paramref name="node"/>; true when it became the active one.</summary>
    public static async Task<bool> StartMemberAsync(this NodeProcess node, string name, int count, string hosts)
    {
        await node.SendAsync($"dsup-start {name} {count.ToString(CultureInfo.InvariantCulture)} {hosts}");
        var line = await node.WaitForLineAsync(l => l.StartsWith($"DSUP-STARTED {name} ", StringComparison.Ordinal) || l.StartsWith("DSUP-ERROR ", StringComparison.Ordinal));
        return line.StartsWith("DSUP-ERROR ", StringComparison.Ordinal)
            ? throw new InvalidOperationException($"{node.Id} could not start its member: {line}")
            : line.EndsWith(" active", StringComparison.Ordinal);
    }

    /// <summary>The live dsup-worker instances of <paramref name="node"/>: child id → process id.</summary>
    public static async Task<IReadOnlyList<(string Child, long Process)>> WorkersAsync(this NodeProcess node)
    {
        var before = node.Lines.Count(IsWorkers);
        await node.SendAsync("workers");
        await node.WaitForLineAsync(_ => node.Lines.Count(IsWorkers) > before);
        var line = node.Lines.Where(IsWorkers).ElementAt(before);
        return [.. line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)
            .Select(w => w.Split(':'))
            .Select(p => (p[0], long.Parse(p[1], CultureInfo.InvariantCulture)))];

        static bool IsWorkers(string line) => line == "WORKERS" || line.StartsWith("WORKERS ", StringComparison.Ordinal);
    }

    /// <summary>The children as <paramref name="node"/> finds them by name (<c>dsup-children</c>): child id → (node name, process id).</summary>
    public static async Task<Dictionary<string, (string Node, long Process)>> ChildrenByNameAsync(this NodeProcess node, string name)
    {
        var prefix = $"DSUP-CHILDREN {name}";
        var before = node.Lines.Count(l => l.StartsWith(prefix, StringComparison.Ordinal));
        await node.SendAsync($"dsup-children {name}");
        await node.WaitForLineAsync(_ => node.Lines.Count(l => l.StartsWith(prefix, StringComparison.Ordinal)) > before);
        var line = node.Lines.Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).ElementAt(before);
        return line[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(c => c.Split('=', '/'))
            .ToDictionary(p => p[0], p => (NodeId.Parse(p[1]).Name, long.Parse(p[2], CultureInfo.InvariantCulture)));
    }

    /// <summary>What <paramref name="node"/>'s own member holds (<c>dsup-local</c>): whether it is active, and the children it lists.</summary>
    public static async Task<(bool Active, Dictionary<string, (string Node, long Process)> Children)> LocalAsync(this NodeProcess node, string name)
    {
        var prefix = $"DSUP-LOCAL {name} ";
        var before = node.Lines.Count(l => l.StartsWith(prefix, StringComparison.Ordinal));
        await node.SendAsync($"dsup-local {name}");
        await node.WaitForLineAsync(_ => node.Lines.Count(l => l.StartsWith(prefix, StringComparison.Ordinal)) > before);
        var words = node.Lines.Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).ElementAt(before)[prefix.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (words[0] == "active", words.Skip(1).Select(c => c.Split('=', '/'))
            .ToDictionary(p => p[0], p => (NodeId.Parse(p[1]).Name, long.Parse(p[2], CultureInfo.InvariantCulture))));
    }

    /// <summary>The events of <paramref name="node"/>'s member of <paramref name="name"/> so far.</summary>
    public static GroupEvent[] GroupEvents(this NodeProcess node, string name) =>
        [.. node.TimedLines.Where(l => l.Text.StartsWith($"DSUP {name} ", StringComparison.Ordinal)).Select(l =>
        {
            var words = l.Text.Split(' ');
            string Field(string key) => words.FirstOrDefault(w => w.StartsWith(key + "=", StringComparison.Ordinal))?[(key.Length + 1)..] ?? "-";
            return new GroupEvent(l.At, words[2], Field("child"), Field("node"), Field("from"), Field("reason"));
        })];

    /// <summary>How many events of <paramref name="kind"/> <paramref name="node"/>'s member raised.</summary>
    public static int Count(this NodeProcess node, string name, DistributedSupervisorEventKind kind) =>
        node.GroupEvents(name).Count(e => e.Kind == kind.ToString());
}
