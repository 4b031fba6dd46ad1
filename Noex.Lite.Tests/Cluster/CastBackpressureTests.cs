using System.Collections.Concurrent;

namespace Noex.Lite.Tests;

/// <summary>
/// <see cref="ProcessRuntime.CastAsync"/>: a producer casting into a peer that does not keep up meets the node's overload
/// policy (it waits, or gets <see cref="NodeOverloadedException"/>), the queue stays bounded, and nothing is lost unseen.
/// The peer "does not keep up" because its proxy stops forwarding: the kernel's buffers fill, then the sender's queue.
/// </summary>
[Collection(ClusterCollection.Name)]
[Trait("Category", Category.Cluster)]
public sealed class CastBackpressureTests
{
    private const string Secret = "cast-backpressure";
    private const int Bound = 64 * 1024;
    private static readonly Value s_pad = Value.Binary(new byte[8 * 1024]);

    private static Task<TestCluster> PairAsync(OverloadPolicy policy) =>
        TestCluster.StartAsync(2, Secret, o => o with
        {
            // 5 s x 3: the link is paused on purpose; the failure detector must not end the test first.
            HeartbeatInterval = TimeSpan.FromSeconds(5),
            MaxFrameLength = Bound,
            MaxOutboundQueueBytes = Bound,
            OverloadPolicy = policy,
        }, proxied: true);

    private static Value Numbered(long i) => Value.Object(("seq", i), ("pad", s_pad));

    /// <summary>
    /// Casts numbered messages until one has to wait while the write loop is blocked on a full kernel buffer, which
    /// only the paused proxy can release; returns the first number not yet sent and its waiting cast.
    /// </summary>
    /// <remarks>A queue that fills before the write loop has run is not yet full for good: the loop may still move it
    /// into the kernel and release the cast, so the fill goes on until the kernel is the one refusing.</remarks>
    private static async Task<(long Next, ValueTask<bool> Waiting)> FillAsync(Node sender, ProcessRef target, CancellationToken token = default, long first = 0)
    {
        Assert.True(sender.Connections.TryGetConnection(target.Node, out var connection));
        for (var i = first; i < first + 100_000; i++)
        {
            var cast = sender.Runtime.CastAsync(target, Numbered(i), token);
            if (!cast.IsCompleted)
            {
                await Wait.UntilAsync(() => cast.IsCompleted || connection.SendBlocked);
                if (await StaysStalledAsync(connection, cast))
                {
                    return (i, cast);
                }
            }
            Assert.True(await cast);
            if (i % 16 == 15)
            {
                await Task.Yield(); // let the write loop move what it can into the kernel
            }
        }
        throw new InvalidOperationException("the queue never filled");
    }

    /// <summary>
    /// Whether the cast still waits and the write loop is still blocked in its send half a second on. A send blocks the
    /// moment the kernel's send buffer is full, but the buffer drains while the peer's receive window lasts; only once
    /// the paused proxy's window is spent does the block last, and with it the full queue.
    /// </summary>
    private static async Task<bool> StaysStalledAsync(Connection connection, ValueTask<bool> cast)
    {
        var until = DateTime.UtcNow + TimeSpan.FromMilliseconds(500);
        while (DateTime.UtcNow < until)
        {
            if (cast.IsCompleted || !connection.SendBlocked)
            {
                return false;
            }
            await Task.Delay(10);
        }
        return !cast.IsCompleted;
    }

    [Fact]
    public async Task Wait_TheProducerWaitsWhileTheQueueIsFull_ThenEverythingArrivesInOrder()
    {
        await using var pair = await PairAsync(OverloadPolicy.Wait);
        var (a, b, proxyA, _) = pair;
        var deadLetters = new ConcurrentQueue<DeadLetterEvent>();
        b.DeadLetter += deadLetters.Enqueue;
        var recorder = await a.Runtime.StartAsync(new SequenceRecorder());
        Assert.True(b.Connections.TryGetConnection(a.Id, out var connection));

        proxyA.Paused = true;
        var (queued, waiting) = await FillAsync(b, recorder);

        // The producer is held, and the queue holds at most its bound plus the message that crossed it.
        Assert.False(waiting.IsCompleted);
        Assert.InRange(connection.QueuedBytes, 0, Bound + (16 * 1024));
        var total = queued * 3;
        var producer = Task.Run(async () =>
        {
            Assert.True(await waiting);
            for (var i = queued + 1; i < total; i++)
            {
                Assert.True(await b.Runtime.CastAsync(recorder, Numbered(i)));
            }
        });
        Assert.False(producer.IsCompleted);

        proxyA.Paused = false;
        await producer.WaitAsync(TimeSpan.FromSeconds(60));
        // Asked from b: the call travels behind b's casts on the same connection, so it is answered after them.
        var seen = await b.Runtime.CallAsync(recorder, "count", TimeSpan.FromSeconds(60));
        Assert.Equal(total, seen.AsInt64());
        Assert.Empty(deadLetters);
        Assert.Equal(0, b.RemoteDeadLetters);
    }

    [Fact]
    public async Task Reject_AFullQueueThrowsNodeOverloaded_AndCountsADeadLetter()
    {
        await using var pair = await PairAsync(OverloadPolicy.Reject);
        var (a, b, proxyA, _) = pair;
        var deadLetters = new ConcurrentQueue<DeadLetterEvent>();
        b.DeadLetter += deadLetters.Enqueue;
        var recorder = await a.Runtime.StartAsync(new SequenceRecorder());

        proxyA.Paused = true;
        long refusedAt = -1;
        for (long i = 0; i < 10_000 && refusedAt < 0; i++)
        {
            var cast = b.Runtime.CastAsync(recorder, Numbered(i));
            Assert.True(cast.IsCompleted); // Reject never waits
            try
            {
                Assert.True(await cast);
            }
            catch (NodeOverloadedException e)
            {
                Assert.Equal(a.Id, e.NodeId);
                refusedAt = i;
            }
            if (i % 16 == 15)
            {
                await Task.Yield();
            }
        }

        Assert.True(refusedAt > 0, "no cast was refused");
        var letter = Assert.Single(deadLetters);
        Assert.Equal(DeadLetterReason.QueueFull, letter.Reason);
        Assert.Equal(refusedAt, letter.Message["seq"].AsInt64());
        proxyA.Paused = false;
        // Reject applies to the counting call as well: ask once the queue has drained.
        Assert.True(b.Connections.TryGetConnection(a.Id, out var connection));
        await Wait.UntilAsync(() => connection.QueuedBytes == 0);
        // Everything before the refused cast arrives, in order (the recorder checks), and nothing after it was sent.
        // Asked from b: the call travels behind b's casts on the same connection, so it is answered after them.
        var seen = await b.Runtime.CallAsync(recorder, "count", TimeSpan.FromSeconds(60));
        Assert.Equal(refusedAt, seen.AsInt64());
    }

    [Fact]
    public async Task Wait_CanceledWhileWaiting_ThrowsAndTheMessageIsNotSent()
    {
        await using var pair = await PairAsync(OverloadPolicy.Wait);
        var (a, b, proxyA, _) = pair;
        var deadLetters = new ConcurrentQueue<DeadLetterEvent>();
        b.DeadLetter += deadLetters.Enqueue;
        var recorder = await a.Runtime.StartAsync(new SequenceRecorder());

        proxyA.Paused = true;
        using var cancel = new CancellationTokenSource();
        var (next, waiting) = await FillAsync(b, recorder, cancel.Token);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await waiting);

        proxyA.Paused = false;
        // Asked from b: the call travels behind b's casts on the same connection, so it is answered after them. The
        // canceled cast was the last one tried: everything before it arrived, it did not.
        var seen = await b.Runtime.CallAsync(recorder, "count", TimeSpan.FromSeconds(60));
        Assert.Equal(next, seen.AsInt64());
        Assert.Empty(deadLetters); // the caller canceled it: not a delivery failure
    }

    [Fact]
    public async Task Wait_TheConnectionClosesWhileWaiting_ReturnsFalseWithADeadLetter()
    {
        await using var pair = await PairAsync(OverloadPolicy.Wait);
        var (a, b, proxyA, proxyB) = pair;
        var deadLetters = new ConcurrentQueue<DeadLetterEvent>();
        b.DeadLetter += deadLetters.Enqueue;
        var recorder = await a.Runtime.StartAsync(new SequenceRecorder());

        proxyA.Paused = true;
        proxyB.Paused = true; // and no redial gets through meanwhile
        var (_, waiting) = await FillAsync(b, recorder);
        proxyA.ResetAll();
        proxyB.ResetAll();

        Assert.False(await waiting.AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        var letter = Assert.Single(deadLetters);
        Assert.Equal(DeadLetterReason.NodeUnreachable, letter.Reason);
        Assert.Equal(recorder, letter.Target);
    }

    [Fact]
    public async Task UnreachableNodeAndLocalTargets_BehaveAsCast()
    {
        await using var pair = await PairAsync(OverloadPolicy.Wait);
        var (_, b) = pair;
        var deadLetters = new ConcurrentQueue<DeadLetterEvent>();
        b.DeadLetter += deadLetters.Enqueue;
        var nowhere = new ProcessRef("ghost@127.0.0.1:1", 1);

        Assert.False(await b.Runtime.CastAsync(nowhere, "hello"));
        Assert.Equal(DeadLetterReason.NodeUnreachable, Assert.Single(deadLetters).Reason);

        var local = await b.Runtime.StartAsync(new SequenceRecorder());
        var cast = b.Runtime.CastAsync(local, Numbered(0));
        Assert.True(cast.IsCompletedSuccessfully);
        Assert.True(await cast);
        Assert.Equal(1, (await b.Runtime.CallAsync(local, "count")).AsInt64());
    }

    [Fact]
    public async Task AFloodsGrownBuffers_GoBackToThePoolOnceTheConnectionIsIdle()
    {
        // A bound far above the writers' 1 MiB keep limit, so that the flood grows them past it.
        await using var pair = await TestCluster.StartAsync(2, Secret, o => o with
        {
            // The buffers go back on the first heartbeat tick that finds the queue idle.
            HeartbeatInterval = TimeSpan.FromSeconds(1),
            HeartbeatMissThreshold = 30, // the link is paused on purpose
            MaxOutboundQueueBytes = 16L * 1024 * 1024,
        }, proxied: true);
        var (a, b, proxyA, _) = pair;
        var recorder = await a.Runtime.StartAsync(new SequenceRecorder());
        Assert.True(b.Connections.TryGetConnection(a.Id, out var connection));

        proxyA.Paused = true;
        // Past what the kernel takes, until the queue itself holds 4 MiB (the write loop may run at any time, so it is
        // the queue that is watched, not a count of casts).
        var count = 0;
        while (connection.QueuedBytes < 4 * 1024 * 1024)
        {
            Assert.True(count < 10_000, "the queue never grew");
            Assert.True(await b.Runtime.CastAsync(recorder, Numbered(count++)).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        }
        Assert.True(connection.WriterCapacity > 2 * 1024 * 1024, $"the flood did not grow the writers ({connection.WriterCapacity} bytes)");

        proxyA.Paused = false;
        Assert.Equal(count, (await b.Runtime.CallAsync(recorder, "count", TimeSpan.FromSeconds(60))).AsInt64());
        await Wait.UntilAsync(() => connection.QueuedBytes == 0 && connection.WriterCapacity <= 2 * 1024 * 1024);
    }

    /// <summary>Counts casts and fails (ending the test's count) if one arrives out of order.</summary>
    private sealed class SequenceRecorder : GenServer<long>
    {
        protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) => new(0L);

        protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long state) =>
            new(CallResult<long>.WithReply(state, state));

        protected override ValueTask<long> HandleCastAsync(Value message, long state)
        {
            var seq = message["seq"].AsInt64();
            return seq == state ? new(state + 1) : throw new InvalidOperationException($"cast {seq} arrived after {state - 1}");
        }
    }
}
