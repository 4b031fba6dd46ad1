using System.Text.Json;
using Noex.Lite.Dashboard;

namespace Noex.Lite.Tests;

/// <summary>The dashboard's snapshot put together from given sources (no node, no socket), and its options.</summary>
[Trait("Category", Category.Unit)]
public class DashboardSnapshotTests
{
    private static readonly DateTimeOffset s_now = new(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private static readonly NodeId s_local = NodeId.Parse("local@127.0.0.1:4369");
    private static readonly NodeId s_up = NodeId.Parse("up@127.0.0.1:4370");
    private static readonly NodeId s_slow = NodeId.Parse("slow@127.0.0.1:4371");
    private static readonly NodeId s_lost = NodeId.Parse("lost@127.0.0.1:4372");
    private static readonly NodeId s_gone = NodeId.Parse("gone@127.0.0.1:4373");
    private static readonly NodeId s_new = NodeId.Parse("new@127.0.0.1:4374");

    private static NodeStats Stats(NodeId node, int processes, double messagesPerSecond) =>
        new(node, s_now, TimeSpan.FromMinutes(1), processes, 3, 2, 100, messagesPerSecond, 10, 20, 1.5, 2.5, 1000, 2000, []);

    private static NodeInfo Member(NodeId id, NodeStatus status, ulong incarnation = 7) => new(id, status, incarnation, 0, TimeSpan.Zero, s_now);

    private static DashboardSnapshot Compose(IReadOnlyList<NodeDownRecord> history) => SnapshotComposer.Compose(new SnapshotComposer.Sources(
        NoexDashboardOptions.Default,
        s_local,
        s_now,
        s_now.AddHours(-1),
        new ClusterSnapshot(s_now, s_local,
        [
            new NodeObservation(s_local, NodeObservationStatus.Connected, Stats(s_local, 4, 10), null),
            new NodeObservation(s_up, NodeObservationStatus.Connected, Stats(s_up, 6, double.NaN) with
            {
                Supervisors = [new SupervisorReport("dsup_9_x", "one_for_all", 2, 1, s_now,
                    [new SupervisedChildReport("w1", "worker", new ProcessRef(s_local.ToString(), 5), 1, s_now, "svc:w1")])],
            }, null),
            new NodeObservation(s_slow, NodeObservationStatus.Timeout, null, "did not answer within 2000 ms"),
        ], new ClusterTotals(0, 0, 0, 0, 0, 0, 2, 3)),
        [Member(s_local, NodeStatus.Connected), Member(s_up, NodeStatus.Connected), Member(s_slow, NodeStatus.Connected),
         Member(s_lost, NodeStatus.Disconnected), Member(s_new, NodeStatus.Disconnected, incarnation: 0)],
        history,
        [new GlobalRegistration("svc", new ProcessRef(s_up.ToString(), 12), s_up)]));

    [Fact]
    public void Compose_SupervisorsReportedByAnyNode_AreShownWithTheirNodeAndWhereTheirChildrenRun()
    {
        var snapshot = Compose([]);

        var supervisor = Assert.Single(snapshot.Supervisors);
        Assert.Equal(("dsup_9_x", s_up.ToString(), "one_for_all", 1, 2), (supervisor.Id, supervisor.Node, supervisor.Strategy, supervisor.ChildCount, supervisor.TotalRestarts));
        var child = Assert.Single(supervisor.Children);
        Assert.Equal((s_local.ToString(), new ProcessRef(s_local.ToString(), 5).ToString(), "svc:w1"), (child.Node, child.Process, child.GlobalName));
    }

    [Fact]
    public void Compose_EveryKindOfNode_StatusDownReasonAndTotals()
    {
        var snapshot = Compose(
        [
            new NodeDownRecord(s_lost, 9, NodeDownReason.ConnectionClosed, "end_of_stream", "the peer closed the connection", s_now.AddSeconds(-5)),
            new NodeDownRecord(s_gone, 8, NodeDownReason.GracefulShutdown, "goodbye", "it said goodbye", s_now.AddSeconds(-50), Removal: NodeRemovalReason.Left),
            new NodeDownRecord(s_lost, 9, NodeDownReason.HeartbeatTimeout, "silence", "older", s_now.AddSeconds(-500), UpAgainAt: s_now.AddSeconds(-400)),
        ]);

        var byId = snapshot.Nodes.ToDictionary(n => n.Id);
        Assert.Equal([s_local, s_gone, s_lost, s_new, s_slow, s_up], snapshot.Nodes.Select(n => NodeId.Parse(n.Id)));
        Assert.True(byId[s_local.ToString()].Local);
        Assert.Equal("up", byId[s_up.ToString()].Status);
        Assert.Equal(0, byId[s_up.ToString()].Stats!.MessagesPerSecond); // a NaN from a peer is not passed on (JSON has none)
        Assert.Equal(("unresponsive", "did not answer within 2000 ms"), (byId[s_slow.ToString()].Status, byId[s_slow.ToString()].Problem));
        var lost = byId[s_lost.ToString()];
        Assert.Equal(("down", "connection_closed", "end_of_stream"), (lost.Status, lost.Down!.Reason, lost.Down.Cause));
        var gone = byId[s_gone.ToString()];
        Assert.Equal(("down", "graceful_shutdown", "left"), (gone.Status, gone.Down!.Reason, gone.Down.Removal));
        Assert.Equal(("down", "not reached yet", null), (byId[s_new.ToString()].Status, byId[s_new.ToString()].Problem, byId[s_new.ToString()].Down));
        Assert.Equal((6, 3, 10, 10.0), (snapshot.Totals.Nodes, snapshot.Totals.NodesUp, snapshot.Totals.Processes, snapshot.Totals.MessagesPerSecond));
        Assert.Equal(3, snapshot.DownHistory.Count);
        Assert.Equal(s_up.ToString() + ".12", Assert.Single(snapshot.Names).Process);
    }

    [Fact]
    public void Json_IsCamelCaseAndEscapesMarkup()
    {
        var snapshot = Compose([new NodeDownRecord(s_lost, 1, NodeDownReason.ProtocolError, "frame:BadTag", "<img src=x onerror=alert(1)>", s_now)]);

        var json = JsonSerializer.Serialize(snapshot, DashboardJsonContext.Default.DashboardSnapshot);

        Assert.Contains("\"downHistory\":[{\"node\":\"lost@127.0.0.1:4372\"", json, StringComparison.Ordinal);
        Assert.Contains("\"reason\":\"protocol_error\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("<img", json, StringComparison.Ordinal);
        Assert.Contains("\\u003Cimg src=x onerror=alert(1)\\u003E", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("ConnectionClosed", "connection_closed")]
    [InlineData("HeartbeatTimeout", "heartbeat_timeout")]
    [InlineData("Left", "left")]
    public void Snake_NamesReadAsTheLibrarysTokens(string name, string expected) => Assert.Equal(expected, SnapshotComposer.Snake(name));

    [Fact]
    public void Options_OutOfRange_NameTheProperty()
    {
        Assert.Equal("RefreshInterval", Assert.Throws<ArgumentOutOfRangeException>(() => new NoexDashboardOptions { RefreshInterval = TimeSpan.FromMilliseconds(10) }.Validate()).ParamName);
        Assert.Equal("SnapshotTimeout", Assert.Throws<ArgumentOutOfRangeException>(() => new NoexDashboardOptions { SnapshotTimeout = TimeSpan.Zero }.Validate()).ParamName);
        Assert.Equal("ChartSamples", Assert.Throws<ArgumentOutOfRangeException>(() => new NoexDashboardOptions { ChartSamples = 1 }.Validate()).ParamName);
        Assert.Equal("Title", Assert.Throws<ArgumentException>(() => new NoexDashboardOptions { Title = " " }.Validate()).ParamName);
        Assert.Same(NoexDashboardOptions.Default, NoexDashboardOptions.Default.Validate());
    }
}
