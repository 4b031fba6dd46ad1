namespace Noex.Lite.Tests;

/// <summary>
/// A node's stats as the snapshot reply carries them (protocol.md §5.6): the supervisors field round-trips, is left out
/// when there is nothing to report (so the reply is byte for byte what older nodes send), and a reader skips what it
/// cannot read instead of failing the snapshot.
/// </summary>
[Trait("Category", Category.Unit)]
public class NodeStatsValueTests
{
    private static readonly NodeId s_node = NodeId.Parse("b@127.0.0.1:4002");
    private static readonly DateTimeOffset s_started = DateTimeOffset.FromUnixTimeMilliseconds(1_780_000_000_000);

    private static NodeStats Stats(params SupervisorReport[] supervisors) =>
        new(s_node, s_started, TimeSpan.FromSeconds(5), 3, 0, 0, 10, 1.5, 100, 200, 2.5, 3.5, 1000, 2000, [NodeId.Parse("a@127.0.0.1:4001")])
        {
            Supervisors = supervisors,
        };

    [Fact]
    public void ToValue_Supervisors_RoundTrip()
    {
        var report = new SupervisorReport("dsup_1_x", "rest_for_one", 3, 1, s_started,
            [new SupervisedChildReport("w1", "worker", new ProcessRef("c@127.0.0.1:4003", 7), 2, s_started, "svc:w1"),
             new SupervisedChildReport("w2", "worker", new ProcessRef("a@127.0.0.1:4001", 9), 0, s_started, null)]);

        var read = NodeStats.FromValue(Value.Parse(Stats(report).ToValue().ToString()));

        var back = Assert.Single(read.Supervisors);
        Assert.Equal(report with { Children = [] }, back with { Children = [] });
        Assert.Equal(report.Children, back.Children);
    }

    [Fact]
    public void ToValue_NoSupervisors_LeavesTheFieldOut()
    {
        var value = Stats().ToValue();

        Assert.False(value.TryGetProperty("supervisors", out _));
        Assert.Empty(NodeStats.FromValue(value).Supervisors);
    }

    [Fact]
    public void FromValue_UnreadableSupervisorEntries_AreSkipped()
    {
        var value = Value.Parse("""
            {"node":"b@127.0.0.1:4002","supervisors":[
              {"strategy":"one_for_one"},
              {"id":"s2","children":[{"id":"no-node"},{"id":"ok","node":"c@127.0.0.1:4003","process":4},7]},
              "not an object"]}
            """);

        var read = NodeStats.FromValue(value);

        var only = Assert.Single(read.Supervisors);
        Assert.Equal("s2", only.Id);
        Assert.Equal(new ProcessRef("c@127.0.0.1:4003", 4), Assert.Single(only.Children).Process);
        Assert.Empty(NodeStats.FromValue(Value.Parse("""{"node":"b@127.0.0.1:4002","supervisors":{"id":"x"}}""")).Supervisors);
    }
}
