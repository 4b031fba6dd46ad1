namespace Noex.Lite;

/// <summary>
/// <see cref="SupervisorReport"/>s as the <c>supervisors</c> field of a snapshot reply's stats (protocol.md §5.6), and
/// back. A reader takes what it understands: an entry or a child it cannot read is skipped, never fatal, as the stats are
/// figures to show, not state to act on.
/// </summary>
internal static class SupervisorValues
{
    public static Value ToValue(IReadOnlyList<SupervisorReport> supervisors) =>
        Value.Array(supervisors.Select(s => Value.Object(
            ("id", s.Id),
            ("strategy", s.Strategy),
            ("restarts", s.TotalRestarts),
            ("node_failure_restarts", s.NodeFailureRestarts),
            ("started_ms", s.StartedAt.ToUnixTimeMilliseconds()),
            ("children", Value.Array(s.Children.Select(c => Value.Object(
                ("id", c.Id),
                ("behavior", c.Behavior),
                ("node", c.Process.Node),
                ("process", c.Process.Id),
                ("restarts", c.Restarts),
                ("started_ms", c.StartedAt.ToUnixTimeMilliseconds()),
                ("global_name", c.GlobalName is null ? Value.Null : (Value)c.GlobalName))))))));

    public static IReadOnlyList<SupervisorReport> FromValue(Value value)
    {
        if (value.Kind != ValueKind.Array)
        {
            return [];
        }
        var supervisors = new List<SupervisorReport>();
        foreach (var entry in value.AsArray())
        {
            if (Text(entry, "id") is not { } id)
            {
                continue;
            }
            var children = new List<SupervisedChildReport>();
            if (entry.TryGetProperty("children", out var list) && list.Kind == ValueKind.Array)
            {
                foreach (var child in list.AsArray())
                {
                    if (Text(child, "id") is { } childId && Text(child, "node") is { } node)
                    {
                        children.Add(new SupervisedChildReport(childId, Text(child, "behavior") ?? "", new ProcessRef(node, Long(child, "process")),
                            (int)Math.Clamp(Long(child, "restarts"), 0, int.MaxValue), Time(child), Text(child, "global_name")));
                    }
                }
            }
            supervisors.Add(new SupervisorReport(id, Text(entry, "strategy") ?? "", (int)Math.Clamp(Long(entry, "restarts"), 0, int.MaxValue),
                (int)Math.Clamp(Long(entry, "node_failure_restarts"), 0, int.MaxValue), Time(entry), children));
        }
        return supervisors;
    }

    private static string? Text(Value value, string key) => value.TryGetProperty(key, out var field) && field.TryGetString(out var text) ? text : null;

    private static long Long(Value value, string key) => value.TryGetProperty(key, out var field) && field.TryGetInt64(out var number) ? number : 0;

    private static DateTimeOffset Time(Value value) => DateTimeOffset.FromUnixTimeMilliseconds(Math.Clamp(Long(value, "started_ms"), 0, 253402300799999));
}
