using System.Diagnostics.Tracing;

namespace Noex.Lite.Tests;

/// <summary>
/// What a node writes to its log (the <c>Noex.Lite</c> event source) as it lives, read by a real
/// <see cref="EventListener"/>: its start and stop, its connections, dead letters (verbose only), a supervisor's
/// restarts, and a handler of its events that throws. How connections end is <see cref="ConnectionCauseTests"/>'s.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class NodeLogTests
{
    private const string Secret = "node-log-tests";

    [Fact]
    public async Task StartAndStop_AreLoggedInOrder_WithTheNodesFacts()
    {
        using var log = new LogRecorder();

        var node = await Node.StartAsync(TestNodes.Options("solo", Secret, "nobody@127.0.0.1:1"));
        var incarnation = node.Incarnation;
        await node.StopAsync();

        var written = log.Of(node).Where(e => e.Id is >= 6 and <= 9).ToArray();
        Assert.Equal(["NodeStarting", "NodeStarted", "NodeStopping", "NodeStopped"], written.Select(e => e.Name));
        Assert.All(written, e => Assert.Equal(EventLevel.Informational, e.Level));
        Assert.Equal($"127.0.0.1:{node.ListenPort}", written[0]["endpoint"]);
        Assert.Equal(1, written[0].Fields["seeds"]);
        Assert.Equal(incarnation, written[1].Fields["incarnation"]);
        Assert.Equal(1, written[1].Fields["protocolMin"]);
        Assert.True((int)written[1].Fields["protocolMax"]! >= 1);
        Assert.Equal(0, written[2].Fields["connections"]);
        Assert.InRange((long)written[3].Fields["uptimeMs"]!, 0, (long)Bounded.Wait.TotalMilliseconds);
    }

    [Fact]
    public async Task ConnectionUp_IsLoggedOnBothSides_WithIncarnationVersionAndDirection()
    {
        using var log = new LogRecorder();
        await using var cluster = await TestCluster.StartAsync(2, Secret);
        var (a, b) = cluster;

        // b dialled its seed a: inbound on a, outbound on b, each followed by the member-up.
        var onA = Assert.Single(log.Of(a, 10), e => e["peer"] == b.Id.ToString());
        var onB = Assert.Single(log.Of(b, 10), e => e["peer"] == a.Id.ToString());
        Assert.Equal((b.Incarnation, "inbound"), (onA.Fields["peerIncarnation"], onA["direction"]));
        Assert.Equal((a.Incarnation, "outbound"), (onB.Fields["peerIncarnation"], onB["direction"]));
        Assert.Equal(onA.Fields["protocolVersion"], onB.Fields["protocolVersion"]);
        Assert.True((int)onA.Fields["protocolVersion"]! >= 1);
        Assert.Contains(log.Of(a, 1), e => e["peer"] == b.Id.ToString());
    }

    [Fact]
    public async Task DeadLetter_IsLoggedAtVerbose_AndNotToAListenerAtWarning()
    {
        using var verbose = new LogRecorder(EventLevel.Verbose);
        using var warning = new LogRecorder(EventLevel.Warning);
        await using var cluster = await TestCluster.StartAsync(1, Secret);
        var a = cluster[0];
        var nowhere = new ProcessRef("nowhere@127.0.0.1:1", 7);

        Assert.False(a.Runtime.Cast(nowhere, "lost"));

        var letter = Assert.Single(verbose.Of(a, 16));
        Assert.Equal((EventLevel.Verbose, nowhere.ToString(), "NodeUnreachable"), (letter.Level, letter["target"], letter["reason"]));
        Assert.Empty(warning.Of(a, 16));
        Assert.DoesNotContain(warning.Of(a), e => e.Level > EventLevel.Warning);
        Assert.Contains(verbose.Of(a), e => e.Name == "NodeStarted");
    }

    [Fact]
    public async Task SupervisorRestart_IsLoggedAsAWarning_NamingBothProcessesAndTheAttempt()
    {
        using var log = new LogRecorder();
        await using var cluster = await TestCluster.StartAsync(1, Secret);
        var a = cluster[0];
        var supervisor = await a.Runtime.StartSupervisorAsync(new SupervisorOptions { Children = [new ChildSpec("worker", () => new Crasher())] }).Within();
        var before = Assert.Single(await a.Runtime.GetChildrenAsync(supervisor).Within()).Process;

        a.Runtime.Cast(before, "crash");

        await Wait.UntilAsync(() => log.Of(a, 17).Count > 0);
        var after = Assert.Single(await a.Runtime.GetChildrenAsync(supervisor).Within()).Process;
        var restart = Assert.Single(log.Of(a, 17));
        Assert.Equal(EventLevel.Warning, restart.Level);
        Assert.Equal((before.ToString(), after.ToString(), 1), (restart["replaced"], restart["process"], restart.Fields["attempt"]));
    }

    [Fact]
    public async Task HandlerThatThrows_IsLoggedAsAnError_AndTheNodeGoesOn()
    {
        using var log = new LogRecorder();
        await using var cluster = await TestCluster.StartAsync(1, Secret);
        var a = cluster[0];
        a.NodeUp += _ => throw new InvalidOperationException("a bad handler");

        await using var b = await Node.StartAsync(TestNodes.Options("b", Secret, a.Id.ToString()));

        await Wait.UntilAsync(() => a.IsConnected(b.Id) && log.Of(a, 18).Count > 0);
        var failed = Assert.Single(log.Of(a, 18));
        Assert.Equal(EventLevel.Error, failed.Level);
        Assert.Equal(("NodeUp", nameof(InvalidOperationException), "a bad handler"), (failed["handler"], failed["exceptionType"], failed["message"]));
    }

    /// <summary>A process that ends with an error on the cast "crash".</summary>
    private sealed class Crasher : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(Value.Null, state));

        protected override ValueTask<int> HandleCastAsync(Value message, int state) =>
            throw new InvalidOperationException("crashed on purpose");
    }
}
