namespace Noex.Lite.Tests;

/// <summary>Every remote-call test again, with <see cref="NodeOptions.UnsafePreferInlineScheduling"/> on both nodes.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public sealed class InlineRemoteCallTests : RemoteCallTests
{
    protected override bool Inline => true;
}

/// <summary>
/// <see cref="NodeOptions.UnsafePreferInlineScheduling"/>: what a read sets off runs on the read thread, and nothing is
/// lost or reordered on the way (large messages, several connections, mixed and TLS peers).
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class InlineSchedulingTests
{
    private const string ReadThread = "noex read";

    /// <summary>Answers a call with the name of the thread its handler ran on, or echoes "value"; counts casts in order.</summary>
    private sealed class Probe : GenServer<long>
    {
        protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) => new(0L);

        protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long state) =>
            request["type"].AsString() switch
            {
                "thread" => new(CallResult<long>.WithReply(Thread.CurrentThread.Name ?? "", state)),
                "echo" => new(CallResult<long>.WithReply(request["value"], state)),
                _ => new(CallResult<long>.WithReply(state, state)),
            };

        // A cast carries the next number of its sender's sequence; one out of order poisons the state for good.
        protected override ValueTask<long> HandleCastAsync(Value message, long state) =>
            new(state >= 0 && message["n"].AsInt64() == state + 1 ? state + 1 : -1);
    }

    private const string Secret = "inline-tests";

    private static Task<TestCluster> PairAsync(bool inlineA, bool inlineB) =>
        TestCluster.StartAsync(2, Secret, o => o with { UnsafePreferInlineScheduling = o.Name == "a" ? inlineA : inlineB });

    [Fact]
    public async Task RemoteCall_ContinuationAndHandler_RunOnTheReadThread()
    {
        await using var pair = await PairAsync(true, true);
        var (a, b) = pair;
        var probe = await b.Runtime.StartAsync(new Probe());

        // On the pool, away from the test framework's synchronization context, which would otherwise get the continuation.
        // Not every call can show it: a reply that beats the await completes it synchronously, and a process already
        // scheduled on the pool (its init turn) takes the call there. So: some of 50.
        var (handlerOnReader, continuationOnReader) = await Task.Run(async () =>
        {
            int handlers = 0, continuations = 0;
            for (var i = 0; i < 50; i++)
            {
                handlers += (await a.Runtime.CallAsync(probe, Value.Object(("type", "thread")))).AsString() == ReadThread ? 1 : 0;
                continuations += Thread.CurrentThread.Name == ReadThread ? 1 : 0;
            }
            return (handlers, continuations);
        });

        Assert.True(handlerOnReader > 0);
        Assert.True(continuationOnReader > 0);
    }

    [Fact]
    public async Task ManyCallersAndASequenceOfCasts_AllArriveInOrderWithTheirOwnReplies()
    {
        await using var pair = await PairAsync(true, true);
        var (a, b) = pair;
        var probe = await b.Runtime.StartAsync(new Probe());

        // 100 callers keep the read threads busy with batches (more than one flush per read) while casts go in order.
        var callers = Enumerable.Range(0, 100).Select(async c =>
        {
            for (var i = 0; i < 200; i++)
            {
                var value = c * 1000 + i;
                Assert.Equal(value, (await a.Runtime.CallAsync(probe, Value.Object(("type", "echo"), ("value", value)))).AsInt64());
            }
        }).ToList();
        for (var n = 1; n <= 5000; n++)
        {
            Assert.True(await a.Runtime.CastAsync(probe, Value.Object(("n", n))));
        }
        await Task.WhenAll(callers);

        Assert.Equal(5000, (await a.Runtime.CallAsync(probe, Value.Object(("type", "count")))).AsInt64());
    }

    [Fact]
    public async Task LargeMessages_BeyondWhatTheReadThreadSendsItself_RoundTripWhole()
    {
        await using var pair = await PairAsync(true, true);
        var (a, b) = pair;
        var probe = await b.Runtime.StartAsync(new Probe());

        // 2 MiB goes through the spill lane and the write loop; the small calls around it through the read thread.
        var big = new string('x', 2 * 1024 * 1024);
        var small = Enumerable.Range(0, 50).Select(i => a.Runtime.CallAsync(probe, Value.Object(("type", "echo"), ("value", i))).AsTask()).ToList();
        var echoed = await a.Runtime.CallAsync(probe, Value.Object(("type", "echo"), ("value", big)), TimeSpan.FromSeconds(30));

        Assert.Equal(big, echoed.AsString());
        for (var i = 0; i < small.Count; i++)
        {
            Assert.Equal(i, (await small[i]).AsInt64());
        }
    }

    [Fact]
    public async Task AContinuationOnOneReadThread_CallsThroughAnotherConnection()
    {
        await using var cluster = await TestCluster.StartAsync(3, Secret, o => o with { UnsafePreferInlineScheduling = true });
        var (a, b, c) = cluster;
        var onB = await b.Runtime.StartAsync(new Probe());
        var onC = await c.Runtime.StartAsync(new Probe());

        // Each reply from b resumes this loop on a's read thread for b, which then queues the call to c on another
        // connection: that send is the read thread's to make (or hand to c's write loop), or the call would never leave.
        var sawReadThread = await Task.Run(async () =>
        {
            var saw = false;
            for (var i = 0; i < 200; i++)
            {
                Assert.Equal(i, (await a.Runtime.CallAsync(onB, Value.Object(("type", "echo"), ("value", i)))).AsInt64());
                saw |= Thread.CurrentThread.Name == ReadThread;
                Assert.Equal(-i, (await a.Runtime.CallAsync(onC, Value.Object(("type", "echo"), ("value", -i)))).AsInt64());
            }
            return saw;
        });
        Assert.True(sawReadThread);
    }

    [Fact]
    public async Task APeerThatGoesAway_WakesItsWatchersOnAnInlineNode_AndTheyKeepWorking()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret, o => o with { UnsafePreferInlineScheduling = true }, proxied: true);
        var (a, b, proxyA, proxyB) = pair;
        var (watcher, watcherRef) = await a.StartRecorderAsync();
        var (_, target) = await b.StartRecorderAsync();
        var monitor = await a.Monitors.MonitorAsync(watcherRef, target);

        // The connection ends under a's read thread (end of stream, no goodbye), which tells the monitors as it ends; they
        // wake the watcher, whose turn is gathered there and must run all the same, or the watcher stays scheduled and
        // never runs again.
        proxyA.CloseAll();
        proxyB.CloseAll();

        await Wait.UntilAsync(() => watcher.DownsOf(monitor).Length > 0);
        Assert.Equal(ExitReason.NoConnection, watcher.DownsOf(monitor)[0].Reason);
        var (_, other) = await a.StartRecorderAsync();
        var second = a.Runtime.Monitor(watcherRef, other);
        a.Runtime.Kill(other);
        await Wait.UntilAsync(() => watcher.DownsOf(second).Length > 0);
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public async Task InlineAndDefaultNodes_CallEachOtherBothWays(bool inlineA, bool inlineB)
    {
        await using var pair = await PairAsync(inlineA, inlineB);
        var (a, b) = pair;
        var onA = await a.Runtime.StartAsync(new Probe());
        var onB = await b.Runtime.StartAsync(new Probe());

        var calls = Enumerable.Range(0, 500).Select(async i =>
        {
            Assert.Equal(i, (await a.Runtime.CallAsync(onB, Value.Object(("type", "echo"), ("value", i)))).AsInt64());
            Assert.Equal(i, (await b.Runtime.CallAsync(onA, Value.Object(("type", "echo"), ("value", i)))).AsInt64());
        });
        await Task.WhenAll(calls);
    }

    [Fact]
    public async Task Tls_InlineNode_IsRefusedAtStartNamingTheOption()
    {
        using var certificate = ClusterEdgeTests.SelfSigned();
        var server = new System.Net.Security.SslServerAuthenticationOptions { ServerCertificate = certificate };
        var client = new System.Net.Security.SslClientAuthenticationOptions { TargetHost = "noex-test" };

        // Only a connection's write loop may write to its TLS stream, so the inline mode could not send from the read
        // thread: the node says so at start rather than run the option silently off.
        var e = await Assert.ThrowsAsync<InvalidClusterConfigException>(() => Node.StartAsync(TestNodes.Options("a", Secret) with
        {
            UnsafePreferInlineScheduling = true,
            TlsServerOptions = server,
            TlsClientOptions = client,
        }));

        Assert.Equal(nameof(NodeOptions.UnsafePreferInlineScheduling), e.Option);
        Assert.Contains("TLS", e.Message, StringComparison.Ordinal);
    }
}
