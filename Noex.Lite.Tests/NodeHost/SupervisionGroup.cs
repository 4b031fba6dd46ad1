using System.Globalization;

namespace Noex.Lite.Tests;

/// <summary>
/// The named supervisor the failover tests run on several nodes at once, in NodeHost processes and in the test process:
/// every member must be started with the same options, so both build them here (the test project links this file).
/// </summary>
internal static class SupervisionGroup
{
    /// <summary>
    /// <paramref name="count"/> children <c>w1</c>..<c>wN</c> of the behaviour <c>dsup-worker</c> (args <c>{"id": "wK"}</c>),
    /// child K on the node named <c>hosts[(K-1) % hosts.Length]</c> while it is a candidate, else on another named host,
    /// else on the first candidate; intensity 20 restarts a minute, so that a churn test measures failover, not intensity.
    /// </summary>
    public static DistributedSupervisorOptions Options(string name, int count, IReadOnlyList<string> hosts) => new()
    {
        Name = name,
        MaxRestarts = 20,
        Within = TimeSpan.FromMinutes(1),
        Children = [.. Enumerable.Range(1, count).Select(k => new DistributedChildSpec($"w{k}", "dsup-worker")
        {
            Args = Value.Object(("id", $"w{k}")),
            NodeSelector = OnHost(hosts[(k - 1) % hosts.Count], hosts),
        })],
    };

    private static NodeSelector OnHost(string preferred, IReadOnlyList<string> hosts) => NodeSelector.Custom((candidates, _) =>
        (candidates.FirstOrDefault(c => c.Id.Name == preferred) ?? candidates.FirstOrDefault(c => hosts.Contains(c.Id.Name)) ?? candidates[0]).Id);

    /// <summary>A child as one line: <c>id=node/process</c>.</summary>
    public static string Describe(DistributedChildInfo child) =>
        $"{child.Id}={child.Node}/{child.Ref.Id.ToString(CultureInfo.InvariantCulture)}";
}
