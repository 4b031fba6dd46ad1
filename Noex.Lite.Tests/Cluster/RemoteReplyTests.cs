namespace Noex.Lite.Tests;

/// <summary>How replies reach remote callers: never through a path that a caller's own code can block.</summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public class RemoteReplyTests
{
    private sealed class Answer : GenServer<int>
    {
        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(42, state));
    }

    [Fact]
    public async Task CallerBlockingInItsContinuation_OnAnotherRemoteCall_StillGetsThatReply()
    {
        // A batching reply dispatcher that ran callers' continuations inline stalled exactly here: the continuation blocked
        // the dispatcher, and the reply it waited for sat behind it until the call timed out (seen in the soak test).
        await using var pair = await TestCluster.StartAsync(2, "reply-tests");
        var (a, b) = pair;
        var answer = await b.Runtime.StartAsync(new Answer());
        var get = Value.Object(("type", "get"));

        var blocked = await Task.Run(async () =>
        {
            var first = await a.Runtime.CallAsync(answer, get, TimeSpan.FromSeconds(30));
            // Sync over async on purpose, in the continuation of the first reply.
            var second = a.Runtime.CallAsync(answer, get, TimeSpan.FromSeconds(30)).AsTask();
            return (first, finished: second.Wait(TimeSpan.FromSeconds(20)), second);
        });

        Assert.Equal(42, blocked.first.AsInt64());
        Assert.True(blocked.finished, "the second reply never reached a caller blocked in the first one's continuation");
        Assert.Equal(42, (await blocked.second).AsInt64());
    }

    private sealed class Gate : GenServer<int>
    {
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override async ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state)
        {
            await Release.Task;
            return CallResult<int>.WithReply("the real answer", state);
        }
    }

    [Fact]
    public async Task ForgedReplyAndCallError_FromAnotherPeer_DoNotCompleteTheCall()
    {
        // c answers every call id a could be waiting on, on c's own connection to a: an authenticated peer guessing ids.
        await using var cluster = await TestCluster.StartAsync(3, "reply-tests");
        var (a, b, c) = cluster;
        var gate = new Gate();
        var target = await b.Runtime.StartAsync(gate);
        var call = a.Runtime.CallAsync(target, "question", TimeSpan.FromSeconds(30)).AsTask();
        await Wait.UntilAsync(() => a.PendingRemoteCalls == 1);

        Assert.True(c.Connections.TryGetConnection(a.Id, out var toA));
        for (long id = 0; id < 64; id++)
        {
            Assert.Equal(EnqueueResult.Queued, toA.TryEnqueue(new RemoteCall.ReplyMessage(id, "forged")));
            Assert.Equal(EnqueueResult.Queued, toA.TryEnqueue(new RemoteCall.CallErrorMessage(id, RemoteCall.ErrorKind.CallFailed, ExitReasonWire.ErrorDetail("forged", null))));
        }
        // Sent after the forgeries on the same connection: once it is through, they have all been read.
        await a.Runtime.CallAsync(await c.Runtime.StartAsync(new Answer()), "sync").Within();

        Assert.False(call.IsCompleted);
        Assert.Equal(1, a.PendingRemoteCalls);
        gate.Release.SetResult();
        Assert.Equal("the real answer", (await call.Within()).AsString());
    }
}
