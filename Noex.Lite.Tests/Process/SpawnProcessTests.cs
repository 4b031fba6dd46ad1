using System.Diagnostics;

namespace Noex.Lite.Tests;

/// <summary>Spawn and remote stop across OS processes (NodeHost), where a kill -9 is real.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Process)]
public class SpawnProcessTests
{
    private const string Secret = "spawn-process-tests";

    private static Task<Node> StartLocalAsync() =>
        Node.StartAsync(TestNodes.Options("local", Secret) with { HeartbeatInterval = TimeSpan.FromSeconds(2) });

    [Fact]
    public async Task SpawnAndStop_BothWaysBetweenProcesses()
    {
        await using var local = await StartLocalAsync();
        local.Behaviors.Register("counter", () => new SpawnTests.Counter());
        await using var host = await NodeHostProcess.StartAsync("--name", "host", "--secret", Secret, "--seed", local.Id.ToString(), "--heartbeat", "2000");
        await Wait.UntilAsync(() => local.IsConnected(host.Id));

        var counter = await local.SpawnAsync("host-counter", host.Id, new SpawnOptions { Name = "hc", Args = 5 });
        Assert.Equal(host.Id.ToString(), counter.Node);
        Assert.Equal(5, (await local.Runtime.CallAsync(counter, Value.Null)).AsInt64());
        await local.Runtime.StopAsync(counter);
        await Assert.ThrowsAsync<RemoteServerNotRunningException>(() => local.Runtime.CallAsync(counter, Value.Null).AsTask());
        await Assert.ThrowsAsync<RemoteServerNotRunningException>(() => local.Runtime.StopAsync(counter));
        await Assert.ThrowsAsync<BehaviorNotFoundException>(() => local.SpawnAsync("counter", host.Id));

        await host.SendAsync($"spawn counter {local.Id} 11");
        var line = await host.WaitForLineAsync(l => l.StartsWith("SPAWNED ", StringComparison.Ordinal) || l.StartsWith("SPAWN-FAILED ", StringComparison.Ordinal));
        Assert.StartsWith($"SPAWNED {local.Id}.", line);
        var id = long.Parse(line[(line.LastIndexOf('.') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(11, (await local.Runtime.CallAsync(new ProcessRef(local.Id.ToString(), id), Value.Null)).AsInt64());
        await Wait.UntilAsync(() => local.PendingSpawnCounts == (0, 0, 0));
    }

    [Fact]
    public async Task SpawnAsync_TargetKilledMidInit_FailsAtOnceWithNodeNotReachable()
    {
        await using var local = await StartLocalAsync();
        await using var host = await NodeHostProcess.StartAsync("--name", "host", "--secret", Secret, "--seed", local.Id.ToString(), "--heartbeat", "2000");
        await Wait.UntilAsync(() => local.IsConnected(host.Id));
        var spawn = local.SpawnAsync("host-sleeper", host.Id, new SpawnOptions { InitTimeout = TimeSpan.FromSeconds(120), SpawnTimeout = TimeSpan.FromSeconds(120) });
        await host.WaitForLineAsync(l => l == "INIT host-sleeper");
        var killed = Stopwatch.GetTimestamp();

        host.Kill();
        var error = await Assert.ThrowsAsync<NodeNotReachableException>(() => spawn);

        // The socket's close, not the 120 s spawn timeout (nor a 6 s heartbeat bound on an idle machine).
        Assert.True(Stopwatch.GetElapsedTime(killed) < TimeSpan.FromSeconds(60), $"failed after {Stopwatch.GetElapsedTime(killed).TotalMilliseconds} ms");
        Assert.Equal(host.Id.ToString(), error.NodeId);
        Assert.Equal((0, 0, 0), local.PendingSpawnCounts);
    }
}
