using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Noex.Lite.Tests;

// The facade is process-wide state, and these tests run real nodes: the cluster collection runs them one at a time.
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class ClusterFacadeTests
{
    private const string Secret = "f";

    [Fact]
    public async Task Facade_StartEventsAndStop_WorkOverTheDefaultNode()
    {
        Assert.Throws<ClusterNotStartedException>(() => Cluster.LocalNodeId);
        var node = await Cluster.StartAsync(TestNodes.Options("facade", Secret));
        try
        {
            Assert.Equal(node.Id, Cluster.LocalNodeId);
            await Assert.ThrowsAsync<InvalidOperationException>(() => Cluster.StartAsync(new NodeOptions { Name = "again", Port = 0 }));
            var ups = new ConcurrentQueue<NodeId>();
            var downs = new ConcurrentQueue<(NodeId, NodeDownReason)>();
            using var up = Cluster.OnNodeUp(info => ups.Enqueue(info.Id));
            using var down = Cluster.OnNodeDown(down => downs.Enqueue((down.Node, down.Reason)));

            var peer = await Node.StartAsync(TestNodes.Options("peer", Secret, node.Id.ToString()));
            await Wait.UntilAsync(() => ups.Contains(peer.Id));
            Assert.Single(Cluster.GetConnectedNodes());
            await peer.StopAsync();
            await Wait.UntilAsync(() => downs.Contains((peer.Id, NodeDownReason.GracefulShutdown)));
        }
        finally
        {
            await Cluster.StopAsync();
        }
        Assert.False(Cluster.IsRunning);
    }

    [Fact]
    public async Task GenServersFacade_WhileTheClusterRuns_RoutesToOtherNodesAsTheSeedsDo()
    {
        var node = await Cluster.StartAsync(TestNodes.Options("seedstyle", Secret));
        try
        {
            await using var peer = await Node.StartAsync(TestNodes.Options("peer", Secret, node.Id.ToString()));
            await Wait.UntilAsync(() => node.IsConnected(peer.Id));
            var echo = await peer.Runtime.StartAsync(new Echo());

            var local = await GenServers.StartAsync(new Echo());
            var reply = await GenServers.CallAsync(echo, "over the wire");

            Assert.Equal("over the wire", reply.AsString());
            Assert.Equal(node.Id.ToString(), local.Node);
            Assert.Same(node.Runtime, ProcessRuntime.Default);
        }
        finally
        {
            await Cluster.StopAsync();
        }
        Assert.NotEqual(node.Id.ToString(), ProcessRuntime.Default.Name);
    }

    [Fact]
    public async Task GenServersFacade_WithoutACluster_UsesTheLocalDefaultRuntime()
    {
        // Here, not in GenServerTests: the cluster tests above change the default runtime while they run.
        var server = await GenServers.StartAsync(new Echo());

        Assert.Equal("hi", (await GenServers.CallAsync(server, "hi")).AsString());
        Assert.Equal("local", server.Node);
        await GenServers.StopAsync(server);
        Assert.False(ProcessRuntime.Default.IsAlive(server));
    }

    private sealed class Echo : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(request, state));
    }

    [Fact]
    public async Task Telemetry_ClusterTraffic_ShowsInTheNoexMeter()
    {
        var totals = new ConcurrentDictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "Noex.Lite")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => totals.AddOrUpdate(instrument.Name, value, (_, v) => v + value));
        listener.Start();

        await using var a = await Node.StartAsync(TestNodes.Options("a", "m") with { HeartbeatInterval = TimeSpan.FromMilliseconds(100) });
        await using (var b = await Node.StartAsync(TestNodes.Options("b", "m", a.Id.ToString())))
        {
            await Wait.UntilAsync(() => a.IsConnected(b.Id) && totals.GetValueOrDefault("noex.transport.frames_received") > 2);
        }
        await using var wrong = await Node.StartAsync(TestNodes.Options("w", "other", a.Id.ToString()));
        await Wait.UntilAsync(() => totals.GetValueOrDefault("noex.transport.handshake_failures") > 0);

        Assert.True(totals["noex.transport.frames_sent"] > 0);
        Assert.True(totals["noex.transport.bytes_sent"] > 0);
        Assert.True(totals["noex.transport.bytes_received"] > 0);
        await Wait.UntilAsync(() => totals.GetValueOrDefault("noex.transport.connections_closed") > 0);
    }
}
