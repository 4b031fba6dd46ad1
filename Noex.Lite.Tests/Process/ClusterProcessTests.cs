using System.Collections.Concurrent;
using System.Diagnostics;
using Xunit.Abstractions;

namespace Noex.Lite.Tests;

/// <summary>Nodes in separate OS processes, where a kill -9, a SIGSTOP or a restart is real (T01, T06, T11/T12).</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class ClusterProcessTests(ITestOutputHelper output)
{
    private const string Secret = "process-tests";

    private static async Task<(Node Node, ConcurrentQueue<SeenDown> Downs, ConcurrentQueue<SeenUp> Ups)> StartLocalAsync(TimeSpan heartbeat)
    {
        var node = await Node.StartAsync(TestNodes.Options("local", Secret) with
        {
            HeartbeatInterval = heartbeat,
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(500),
        });
        var events = NodeEvents.Watch(node);
        return (node, events.Downs, events.Ups);
    }

    [Fact]
    public async Task KillMinus9_PeerSeesNodeDownWellUnderTheHeartbeatBound()
    {
        var heartbeat = TimeSpan.FromSeconds(2); // bound: 6 s
        var (local, downs, _) = await StartLocalAsync(heartbeat);
        await using var _local = local;
        await using var remote = await NodeHostProcess.StartAsync("--name", "remote", "--secret", Secret, "--seed", local.Id.ToString(), "--heartbeat", "2000");
        await Wait.UntilAsync(() => local.IsConnected(remote.Id));

        var killed = Stopwatch.GetTimestamp();
        remote.Kill();

        await Wait.UntilAsync(() => !downs.IsEmpty);
        var down = Assert.Single(downs);
        var detected = Stopwatch.GetElapsedTime(killed, down.At);
        output.WriteLine($"kill -9: {down.Reason} after {detected.TotalMilliseconds:0} ms (heartbeat bound {heartbeat.TotalMilliseconds * 3} ms)");
        Assert.Equal(remote.Id, down.Peer);
        Assert.Contains(down.Reason, new[] { NodeDownReason.ConnectionClosed, NodeDownReason.ConnectionReset });
        Assert.True(detected < heartbeat * 3 / 2, $"{detected.TotalMilliseconds} ms is not well under the heartbeat bound");
    }

    [Fact]
    public async Task Sigstop_PeerSeesHeartbeatTimeoutThenTheResumedNodeRejoins()
    {
        // 1 s × 3: a shorter window lets a loaded machine's own scheduling stalls masquerade as early detection.
        var heartbeat = TimeSpan.FromSeconds(1);
        var (local, downs, ups) = await StartLocalAsync(heartbeat);
        await using var _local = local;
        await using var remote = await NodeHostProcess.StartAsync("--name", "remote", "--secret", Secret, "--seed", local.Id.ToString(), "--heartbeat", "1000");
        await Wait.UntilAsync(() => local.IsConnected(remote.Id));

        var frozen = Stopwatch.GetTimestamp();
        remote.Signal("STOP");

        await Wait.UntilAsync(() => !downs.IsEmpty);
        var down = Assert.Single(downs);
        var detected = Stopwatch.GetElapsedTime(frozen, down.At);
        output.WriteLine($"SIGSTOP: {down.Reason} after {detected.TotalMilliseconds:0} ms (window {heartbeat.TotalMilliseconds * 2}–{heartbeat.TotalMilliseconds * 3} ms + tick)");
        Assert.Equal(NodeDownReason.HeartbeatTimeout, down.Reason);
        Assert.True(detected >= heartbeat * 2 - heartbeat / 4, $"premature: {detected.TotalMilliseconds} ms");

        remote.Signal("CONT");

        // T06: the resumed node finds its old session dead, and the two reconnect.
        await Wait.UntilAsync(() => local.IsConnected(remote.Id) && ups.Count >= 2);
        await remote.WaitForLineAsync(l => l.StartsWith("DOWN " + local.Id, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Restart_SameNameAndPort_IsUpAgainAsANewIncarnation()
    {
        var (local, downs, ups) = await StartLocalAsync(TimeSpan.FromSeconds(1));
        await using var _local = local;
        var port = TestNodes.FreePort();
        var args = new[] { "--name", "remote", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--secret", Secret, "--seed", local.Id.ToString() };
        var first = await NodeHostProcess.StartAsync(args);
        await Wait.UntilAsync(() => local.IsConnected(first.Id));
        first.Kill();
        await first.DisposeAsync();
        await Wait.UntilAsync(() => !downs.IsEmpty);

        await using var second = await NodeHostProcess.StartAsync(args);

        await Wait.UntilAsync(() => local.IsConnected(second.Id) && local.GetNode(second.Id)!.Incarnation == second.Incarnation);
        Assert.Equal(first.Id, second.Id);
        Assert.NotEqual(first.Incarnation, second.Incarnation);
        Assert.Equal([first.Incarnation, second.Incarnation], ups.Select(u => u.Peer.Incarnation));
    }

    [Fact]
    public async Task StopAsync_InAnotherProcess_PeerSeesGracefulShutdown()
    {
        var (local, downs, _) = await StartLocalAsync(TimeSpan.FromSeconds(1));
        await using var _local = local;
        await using var remote = await NodeHostProcess.StartAsync("--name", "remote", "--secret", Secret, "--seed", local.Id.ToString());
        await Wait.UntilAsync(() => local.IsConnected(remote.Id));

        await remote.StopAsync();

        await Wait.UntilAsync(() => !downs.IsEmpty);
        Assert.Equal(NodeDownReason.GracefulShutdown, Assert.Single(downs).Reason);
    }
}
