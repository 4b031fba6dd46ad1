namespace Noex.Lite.Tests;

/// <summary>
/// Monitors and links to a node in its own OS process that is killed with kill -9 (reliability.md T21): the watcher
/// gets noconnection once, a trapping linked process gets the exit signal, a non-trapping one dies with it.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class RemoteSignalProcessTests
{
    private static async Task<(Node Local, NodeProcess Remote, ProcessRef Target)> StartAsync()
    {
        var local = await Node.StartAsync(TestNodes.Options("local", RemoteSignalNodes.Secret));
        var remote = await NodeHostProcess.StartAsync("--name", "remote", "--secret", RemoteSignalNodes.Secret, "--seed", local.Id.ToString(), "--heartbeat", "1000");
        await Wait.UntilAsync(() => local.IsConnected(remote.Id));
        await remote.SendAsync("start-idle");
        var started = await remote.WaitForLineAsync(l => l.StartsWith("STARTED ", StringComparison.Ordinal));
        return (local, remote, new ProcessRef(remote.Id.ToString(), long.Parse(started["STARTED ".Length..])));
    }

    [Fact]
    public async Task KillMinus9_OfTheNodeHostingAMonitoredProcess_NoconnectionExactlyOnce()
    {
        var (local, remote, target) = await StartAsync();
        await using var _local = local;
        await using var _remote = remote;
        var (watcher, watcherRef) = await local.StartRecorderAsync();
        var monitor = await local.Monitors.MonitorAsync(watcherRef, target);
        var transparent = local.Runtime.Monitor(watcherRef, target);

        remote.Kill();

        await Wait.UntilAsync(() => watcher.DownsOf(monitor).Length > 0 && watcher.DownsOf(transparent).Length > 0);
        Assert.Equal(ExitReason.NoConnection, Assert.Single(watcher.DownsOf(monitor)).Reason);
        Assert.Equal(ExitReason.NoConnection, Assert.Single(watcher.DownsOf(transparent)).Reason);
        Assert.Equal(0, local.Monitors.OutgoingCount);
    }

    [Fact]
    public async Task KillMinus9_OfTheNodeHostingALinkedProcess_TrappingGetsNoconnectionAndNonTrappingDies()
    {
        var (local, remote, target) = await StartAsync();
        await using var _local = local;
        await using var _remote = remote;
        var (trapper, trapping) = await local.StartRecorderAsync(trapExit: true);
        var (_, plain) = await local.StartRecorderAsync();
        local.Runtime.Link(trapping, target);
        local.Runtime.Link(plain, target);
        // The remote's link entries are not visible from here; a monitor acknowledged after both link requests
        // (same connection, in order) shows they arrived and found the target alive.
        await local.Monitors.MonitorAsync(trapping, target);

        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var plainExit = local.Runtime.WaitForExitAsync(plain, bound.Token);

        remote.Kill();

        Assert.Equal(ExitReason.NoConnection, await plainExit);
        await Wait.UntilAsync(() => trapper.ExitsFrom(target).Length > 0);
        Assert.Equal(ExitReason.NoConnection, Assert.Single(trapper.ExitsFrom(target)).Reason);
        Assert.Equal(0, local.Links.Count);
    }
}
