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
}
