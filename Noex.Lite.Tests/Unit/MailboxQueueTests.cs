namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class MailboxQueueTests
{
    [Fact]
    public void New_BeforeFirstMessage_HoldsNoSegment()
    {
        var queue = new MailboxQueue<long>();

        Assert.Equal(0, queue.Capacity);
        Assert.True(queue.IsEmpty);
        Assert.Equal(0, queue.Count);
        Assert.False(queue.TryDequeue(out _));
        Assert.Equal(0, queue.Capacity);
    }

    [Fact]
    public void Enqueue_First_AllocatesTheSmallSegment()
    {
        var queue = new MailboxQueue<long>();

        queue.Enqueue(7);

        Assert.Equal(MailboxQueue<long>.InitialLength, queue.Capacity);
        Assert.False(queue.IsEmpty);
        Assert.Equal(1, queue.Count);
        Assert.True(queue.TryDequeue(out long item));
        Assert.Equal(7, item);
        Assert.True(queue.IsEmpty);
    }

    [Fact]
    public void Enqueue_PastEverySegment_KeepsFifoOrderAndCount()
    {
        var queue = new MailboxQueue<long>();
        // Past the largest segment too, so that segments of the largest size chain.
        const int Items = 2 * MailboxQueue<long>.MaxLength + 17;

        for (long i = 0; i < Items; i++)
        {
            queue.Enqueue(i);
        }

        Assert.Equal(Items, queue.Count);
        for (long i = 0; i < Items; i++)
        {
            Assert.True(queue.TryDequeue(out long item));
            Assert.Equal(i, item);
        }

        Assert.False(queue.TryDequeue(out _));
        Assert.True(queue.IsEmpty);
        Assert.Equal(0, queue.Count);
        // Drained, the queue keeps only the segment it ended in.
        Assert.Equal(MailboxQueue<long>.MaxLength, queue.Capacity);
    }

    [Fact]
    public void Enqueue_ToAWarmRing_ReusesItAndAllocatesNothing()
    {
        var queue = new MailboxQueue<Envelope>();
        var envelope = new Envelope(EnvelopeKind.Cast, "m", null, 0);
        Cycle(ref queue, envelope, 1000);

        long before = GC.GetAllocatedBytesForCurrentThread();
        Cycle(ref queue, envelope, 100_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(MailboxQueue<Envelope>.InitialLength, queue.Capacity);

        static void Cycle(ref MailboxQueue<Envelope> queue, Envelope envelope, int rounds)
        {
            for (int round = 0; round < rounds; round++)
            {
                for (int i = 0; i < MailboxQueue<Envelope>.InitialLength; i++)
                {
                    queue.Enqueue(in envelope);
                }

                while (queue.TryDequeue(out _))
                {
                }
            }
        }
    }

    [Fact]
    public void Grow_ThenDrain_DropsTheOlderSegments()
    {
        var queue = new MailboxQueue<long>();
        // 4 + 8 + 16 fill three segments; the 29th message opens a fourth of 32.
        for (long i = 0; i < 29; i++)
        {
            queue.Enqueue(i);
        }

        Assert.Equal(MailboxQueue<long>.InitialLength, queue.Capacity);
        while (queue.TryDequeue(out _))
        {
        }

        Assert.Equal(32, queue.Capacity);
    }

    [Fact]
    public void Shrink_WhenDrained_DropsTheBigSegmentAtOnce()
    {
        var queue = new MailboxQueue<long>();
        for (long i = 0; i < 29; i++)
        {
            queue.Enqueue(i);
        }

        while (queue.TryDequeue(out _))
        {
        }

        queue.Shrink(8);

        Assert.Equal(8, queue.Capacity);
        Assert.True(queue.IsEmpty);
        queue.Enqueue(100);
        Assert.True(queue.TryDequeue(out long item));
        Assert.Equal(100, item);
    }

    [Fact]
    public void Shrink_WithMessagesStillQueued_KeepsOrderAndMovesOnOnceDrained()
    {
        var queue = new MailboxQueue<long>();
        for (long i = 0; i < 29; i++)
        {
            queue.Enqueue(i);
        }

        while (queue.TryDequeue(out _))
        {
        }

        // Five queued in the 32-slot ring, then the shrink, then five more, which go to the new 8-slot ring.
        for (long i = 0; i < 5; i++)
        {
            queue.Enqueue(i);
        }

        queue.Shrink(8);
        Assert.Equal(32, queue.Capacity);
        for (long i = 5; i < 10; i++)
        {
            queue.Enqueue(i);
        }

        Assert.Equal(10, queue.Count);
        for (long i = 0; i < 10; i++)
        {
            Assert.True(queue.TryDequeue(out long item));
            Assert.Equal(i, item);
        }

        Assert.Equal(8, queue.Capacity);
    }

    [Fact]
    public void Shrink_WhileABacklogSpansSegments_DoesNothing()
    {
        var queue = new MailboxQueue<long>();
        for (long i = 0; i < 10; i++)
        {
            queue.Enqueue(i);
        }

        queue.Shrink(MailboxQueue<long>.InitialLength);

        for (long i = 0; i < 10; i++)
        {
            Assert.True(queue.TryDequeue(out long item));
            Assert.Equal(i, item);
        }
    }

    [Fact]
    public async Task Enqueue_ManyProducersOneConsumerThatShrinks_LosesNothingKeepsEachProducersOrder()
    {
        const int Producers = 4;
        const int PerProducer = 200_000;
        var box = new Shared<MailboxQueue<(int, int)>>(default);
        using var barrier = new Barrier(Producers + 1);
        Task[] producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() =>
        {
            barrier.SignalAndWait(Bounded.Wait);
            for (int i = 0; i < PerProducer; i++)
            {
                box.Value.Enqueue((p, i));
                if (i % 1000 == 0)
                {
                    // Let the consumer catch up now and then, so that it finds the queue empty and shrinks mid-stream.
                    Thread.Yield();
                }
            }
        })).ToArray();

        int[] next = new int[Producers];
        int violations = 0;
        long received = 0;
        int shrinks = 0;
        Task consumer = Task.Factory.StartNew(() =>
        {
            barrier.SignalAndWait(Bounded.Wait);
            var deadline = DateTime.UtcNow + Bounded.Wait;
            while (received < Producers * PerProducer && DateTime.UtcNow < deadline)
            {
                if (box.Value.TryDequeue(out (int Producer, int Seq) item))
                {
                    if (item.Seq != next[item.Producer])
                    {
                        violations++;
                    }

                    next[item.Producer] = item.Seq + 1;
                    received++;
                }
                else if (box.Value.Capacity > MailboxQueue<(int, int)>.InitialLength)
                {
                    box.Value.Shrink(MailboxQueue<(int, int)>.InitialLength);
                    shrinks++;
                }
            }
        }, TaskCreationOptions.LongRunning);

        await Task.WhenAll(producers).Within();
        await consumer.Within();

        Assert.Equal(Producers * PerProducer, received);
        Assert.Equal(0, violations);
        Assert.True(box.Value.IsEmpty);
        Assert.Equal(0, box.Value.Count);
    }

    [Fact]
    public async Task TryDequeue_TwoConsumersRacing_TakeEachMessageExactlyOnce()
    {
        const int Producers = 2;
        const int PerProducer = 100_000;
        var box = new Shared<MailboxQueue<int>>(new MailboxQueue<int>());
        var taken = new int[Producers * PerProducer];
        long done = 0;
        using var barrier = new Barrier(Producers + 2);
        Task[] producers = Enumerable.Range(0, Producers).Select(p => Task.Run(() =>
        {
            barrier.SignalAndWait(Bounded.Wait);
            for (int i = 0; i < PerProducer; i++)
            {
                box.Value.Enqueue(p * PerProducer + i);
            }
        })).ToArray();
        Task[] consumers = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
        {
            barrier.SignalAndWait(Bounded.Wait);
            var deadline = DateTime.UtcNow + Bounded.Wait;
            while (Interlocked.Read(ref done) < taken.Length && DateTime.UtcNow < deadline)
            {
                if (box.Value.TryDequeue(out int item))
                {
                    Interlocked.Increment(ref taken[item]);
                    Interlocked.Increment(ref done);
                }
            }
        }, TaskCreationOptions.LongRunning)).ToArray();

        await Task.WhenAll(producers).Within();
        await Task.WhenAll(consumers).Within();

        Assert.All(taken, count => Assert.Equal(1, count));
    }

    /// <summary>Holds the queue (a mutable struct) where several threads can reach the same instance.</summary>
    private sealed class Shared<T>(T value)
    {
        public T Value = value;
    }
}
