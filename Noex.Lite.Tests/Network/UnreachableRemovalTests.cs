using System.Diagnostics;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>
/// A node killed (kill -9) and never restarted stops being a member after NodeOptions.RemoveUnreachableAfter, on every
/// node: it is no longer redialled or gossiped, so a node that joins later never hears of it.
/// </summary>
[Collection(NetworkCollection.Name)]
[Trait("Category", Category.Network)]
public class UnreachableRemovalTests(ITestOutputHelper output)
{
    private const string Secret = "network-removal";
    private static readonly TimeSpan s_removeAfter = TimeSpan.FromSeconds(3);
    private static readonly string[] s_args = ["--heartbeat", "200", "--threshold", "3", "--remove-after", $"{s_removeAfter.TotalMilliseconds}"];

    [NetnsFact]
    public async Task KilledAndNeverBack_RemovedByEveryNodeAfterTheBound_AndALaterJoinerNeverHearsOfIt()
    {
        await using var network = await VirtualNetwork.CreateAsync(4);
        var nodes = await NetworkNodes.StartMeshAsync(network, network.Hosts.Take(3), Secret, s_args);
        var (n1, n2, n3) = (nodes[0], nodes[1], nodes[2]);
        var dead = n3.Id;
        var marks = nodes.Select(n => n.Mark()).ToArray();

        var killed = Stopwatch.GetTimestamp();
        n3.Kill();
        TimedLine? Removed(int seer) => nodes[seer].TimedLines.Skip(marks[seer]).Select(l => (TimedLine?)l)
            .FirstOrDefault(l => l!.Value.Text.StartsWith($"REMOVED {dead} ", StringComparison.Ordinal));
        await Wait.UntilAsync(() => Removed(0) is not null && Removed(1) is not null);
        for (var seer = 0; seer < 2; seer++)
        {
            var down = nodes[seer].PeerEvents(marks[seer]).First(e => !e.Up && e.Peer == dead);
            var removed = Removed(seer)!.Value;
            output.WriteLine($"{nodes[seer].Id}: {down} after {NetworkNodes.Ms(killed, down.At):0} ms, '{removed.Text}' after {NetworkNodes.Ms(killed, removed.At):0} ms " +
                $"(bound {s_removeAfter.TotalMilliseconds:0} ms)");
            Assert.EndsWith($" {nameof(NodeRemovalReason.Unreachable)}", removed.Text, StringComparison.Ordinal);
            Assert.True(Stopwatch.GetElapsedTime(down.At, removed.At) >= s_removeAfter - TimeSpan.FromMilliseconds(50),
                $"removed {NetworkNodes.Ms(down.At, removed.At):0} ms after its down, before the bound");
        }
        // A node that removed it can learn it again from the gossip of one whose bound has not run out yet (there is no
        // tombstone), as a member never reached, which is not gossiped and goes after another bound: a figure, and then
        // it must be gone for good.
        var relearned = new List<NodeId>();
        foreach (var survivor in new[] { n1, n2 })
        {
            if ((await survivor.MembersAsync()).Contains(dead))
            {
                relearned.Add(survivor.Id);
            }
        }
        output.WriteLine($"right after both removals, {dead} is a member again of: [{string.Join(", ", relearned)}]");
        await Wait.UntilAsync(async () => !(await n1.MembersAsync()).Contains(dead) && !(await n2.MembersAsync()).Contains(dead));
        output.WriteLine($"{dead} is no member of n1 or n2 {NetworkNodes.Ms(killed, Stopwatch.GetTimestamp()):0} ms after the kill; " +
            $"REMOVED lines for it: n1 {n1.Lines.Count(l => l.StartsWith($"REMOVED {dead} ", StringComparison.Ordinal))}, n2 {n2.Lines.Count(l => l.StartsWith($"REMOVED {dead} ", StringComparison.Ordinal))}");

        var n4 = await network.StartNodeAsync(network[3], ["--name", "n4", "--secret", Secret, "--seed", n1.Id.ToString(), .. s_args]);
        await NodeHostCommands.WaitForFullMeshAsync([n1, n2, n4], NetworkNodes.MeshBound);
        // The scenario: gossip for a while (ten rounds at 200 ms) and see that the dead node never comes up in it.
        await Task.Delay(TimeSpan.FromSeconds(2));
        var members = await n4.MembersAsync();
        output.WriteLine($"n4 joined; its members after 2 s: [{string.Join(", ", members.Select(m => m.ToString()))}]; its output names {dead}: " +
            $"{n4.Lines.Count(l => l.Contains(dead.ToString(), StringComparison.Ordinal))} times");
        Assert.DoesNotContain(dead, members);
        Assert.DoesNotContain(n4.Lines, l => l.Contains(dead.ToString(), StringComparison.Ordinal));
        Assert.DoesNotContain(dead, await n1.MembersAsync());
    }
}
