using System.Buffers;
using System.Buffers.Binary;

namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class OutboundQueueTests
{
    private static readonly byte[] s_key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
    private static readonly NodeOptions s_options = new() { Name = "a" };

    [Fact]
    public void TryEnqueue_FloodPastOneSegment_ArrivesInOrderInSeveralSegmentsUnderOneSequence()
    {
        using var queue = new OutboundQueue(s_key, s_options);
        const int count = 10_000; // 50 bytes each on the wire: about 8 segments

        for (var i = 0; i < count; i++)
        {
            Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Numbered(0, i), force: false, out _));
        }
        var batches = 0;
        var reader = new Receiver();
        while (queue.TakeBatch(out _) is { } batch)
        {
            Assert.True(batch.WrittenSpan.Length <= OutboundQueue.SegmentBytes + 64, $"a batch of {batch.WrittenSpan.Length} bytes");
            reader.Feed(batch.WrittenSpan);
            queue.FinishBatch(batch);
            batches++;
        }

        Assert.True(batches >= 6, $"{batches} batches");
        Assert.Equal(Enumerable.Range(0, count), reader.Numbers(0));
        Assert.Equal(0, queue.QueuedBytes);
    }

    [Fact]
    public void TakeBatch_WhileSendersGoOn_KeepsTheOrderAcrossFullSegmentsAndTheActiveWriter()
    {
        using var queue = new OutboundQueue(s_key, s_options);
        var reader = new Receiver();
        var next = 0;
        void Enqueue(int n)
        {
            for (var i = 0; i < n; i++)
            {
                Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Numbered(0, next++), force: false, out _));
            }
        }

        Enqueue(3_000);
        var first = queue.TakeBatch(out var more)!;
        Assert.True(more);
        Assert.Null(queue.TakeBatch(out _)); // one batch in flight at a time
        Enqueue(3_000);
        reader.Feed(first.WrittenSpan);
        Assert.True(queue.FinishBatch(first));
        while (queue.TakeBatch(out _) is { } batch)
        {
            reader.Feed(batch.WrittenSpan);
            queue.FinishBatch(batch);
            Enqueue(100);
            if (next > 10_000)
            {
                break;
            }
        }
        while (queue.TakeBatch(out _) is { } batch)
        {
            reader.Feed(batch.WrittenSpan);
            queue.FinishBatch(batch);
        }

        Assert.Equal(Enumerable.Range(0, next), reader.Numbers(0));
    }

    [Fact]
    public void TryEnqueue_PastTheMessageBound_IsFullUnlessForced_AndTakingASegmentMakesRoom()
    {
        using var queue = new OutboundQueue(s_key, s_options with { MaxOutboundQueueMessages = 2_000 });
        for (var i = 0; i < 2_000; i++)
        {
            Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Numbered(0, i), force: false, out _));
        }

        Assert.Equal(EnqueueResult.Full, queue.TryEnqueue(new Numbered(0, -1), force: false, out _));
        var space = queue.WaitForSpaceAsync(CancellationToken.None);
        Assert.False(space.IsCompleted);
        Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Numbered(0, 2_000), force: true, out _));
        var queued = queue.QueuedBytes;

        var batch = queue.TakeBatch(out var more)!; // the first full segment only
        Assert.True(more);
        Assert.True(space.IsCompleted);
        Assert.InRange(queue.QueuedBytes, 1, queued - OutboundQueue.SegmentBytes / 2);
        Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Numbered(0, 2_001), force: false, out _));
        queue.FinishBatch(batch);
    }

    [Fact]
    public void TryEnqueue_PastTheByteBound_IsFull()
    {
        using var queue = new OutboundQueue(s_key, s_options with { MaxOutboundQueueBytes = 200_000 });
        var i = 0;
        while (queue.TryEnqueue(new Numbered(0, i), force: false, out _) == EnqueueResult.Queued)
        {
            i++;
        }

        Assert.InRange(queue.QueuedBytes, 200_000, 200_100);
        Assert.True(queue.WriterCount >= 4);
    }

    [Fact]
    public void TryEnqueue_AfterClose_IsClosed_AndWaitersAreReleased()
    {
        using var queue = new OutboundQueue(s_key, s_options with { MaxOutboundQueueMessages = 1 });
        Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Numbered(0, 0), force: false, out var wake));
        Assert.True(wake);
        var space = queue.WaitForSpaceAsync(CancellationToken.None);

        queue.Close();

        Assert.True(space.IsCompleted);
        Assert.Equal(EnqueueResult.Closed, queue.TryEnqueue(new Numbered(0, 1), force: true, out _));
        Assert.Null(queue.TakeBatch(out _));
    }

    [Fact]
    public void RequestHeartbeat_Idle_TakesOneEmptyFrame()
    {
        using var queue = new OutboundQueue(s_key, s_options);

        Assert.True(queue.RequestHeartbeat());
        var batch = queue.TakeBatch(out var more)!;

        Assert.False(more);
        Assert.Equal(48, batch.WrittenSpan.Length);
        Assert.False(queue.FinishBatch(batch));
        Assert.True(queue.WhenDrainedAsync().IsCompleted);
    }

    [Fact]
    public async Task TryEnqueue_ConcurrentProducers_EachProducersOrderIsKept()
    {
        using var queue = new OutboundQueue(s_key, s_options);
        const int producers = 4;
        const int each = 20_000;
        var reader = new Receiver();
        using var start = new Barrier(producers + 1);
        var sending = Enumerable.Range(0, producers).Select(p => Task.Run(() =>
        {
            start.SignalAndWait();
            for (var i = 0; i < each; i++)
            {
                Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Numbered(p, i), force: false, out _));
            }
        })).ToArray();
        start.SignalAndWait();
        while (true)
        {
            var done = sending.All(t => t.IsCompleted);
            while (queue.TakeBatch(out _) is { } batch)
            {
                reader.Feed(batch.WrittenSpan);
                queue.FinishBatch(batch);
            }
            if (done)
            {
                break;
            }
            Thread.Yield();
        }
        await Task.WhenAll(sending).WaitAsync(TimeSpan.FromSeconds(30));

        for (var p = 0; p < producers; p++)
        {
            Assert.Equal(Enumerable.Range(0, each), reader.Numbers(p));
        }
    }

    [Fact]
    public void FloodAndDrain_Warm_AllocatesNothing()
    {
        using var queue = new OutboundQueue(s_key, s_options);
        const int count = 20_000; // about 1 MB: 16 segments
        var sink = new Receiver(decode: false);
        void Flood()
        {
            for (var i = 0; i < count; i++)
            {
                queue.TryEnqueue(new Numbered(0, i), force: false, out _);
            }
            while (queue.TakeBatch(out _) is { } batch)
            {
                sink.Feed(batch.WrittenSpan);
                queue.FinishBatch(batch);
            }
        }
        Flood(); // the cold flood makes the segments
        var writers = queue.WriterCount;

        var before = GC.GetAllocatedBytesForCurrentThread();
        Flood();
        Flood();
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(writers, queue.WriterCount);
        Assert.True(writers > 10, $"{writers} writers");
    }

    [Fact]
    public void Flood_DeeperThanAnyBefore_DoublesTheWriters_SoThatTheNextDeeperOneAllocatesNothing()
    {
        using var queue = new OutboundQueue(s_key, s_options);
        void Flood(int count)
        {
            for (var i = 0; i < count; i++)
            {
                queue.TryEnqueue(new Numbered(0, i), force: false, out _);
            }
            while (queue.TakeBatch(out _) is { } batch)
            {
                queue.FinishBatch(batch);
            }
        }
        Flood(10_000); // about 8 segments
        var writers = queue.WriterCount;

        var before = GC.GetAllocatedBytesForCurrentThread();
        Flood(14_000); // 40 % deeper
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(writers, queue.WriterCount);
    }

    [Fact]
    public void TrimIdleBuffers_ATickAfterAFlood_KeepsAMebibyteOfSegments()
    {
        using var queue = new OutboundQueue(s_key, s_options);
        for (var i = 0; i < 100_000; i++)
        {
            queue.TryEnqueue(new Numbered(0, i), force: false, out _);
        }
        var flooded = queue.WriterCount;
        while (queue.TakeBatch(out _) is { } batch)
        {
            queue.FinishBatch(batch);
        }
        Assert.Equal(flooded, queue.WriterCount);

        queue.TrimIdleBuffers(); // idle, but the flood was within this tick: the writers stay for the next flood
        Assert.Equal(flooded, queue.WriterCount);
        queue.TrimIdleBuffers(); // a whole tick without a flood

        Assert.True(flooded > 60, $"{flooded} writers");
        Assert.Equal(1 + 1024 * 1024 / OutboundQueue.SegmentBytes, queue.WriterCount);
        Assert.True(queue.WriterCapacity <= 2 * 1024 * 1024);
    }

    [Fact]
    public void TryEnqueue_LargeMessages_GoAsFragmentsInOrderAmongSmallOnes_AndArriveWhole()
    {
        // Each large one is handed to the spill lane in the buffer it was encoded into, the second behind the first in
        // the lane: both must leave the same way, in order, after the small one before them.
        using var queue = new OutboundQueue(s_key, s_options);
        var first = FragmentTests.Blob(1_000_000);
        var second = FragmentTests.Blob(200_000);
        Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Numbered(0, 1), force: false, out _));
        Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Blob(first), force: false, out _));
        Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Blob(second), force: false, out _));
        Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Numbered(0, 2), force: false, out _));
        using var peer = new WholeMessages();

        while (queue.TakeBatch(out _) is { } batch)
        {
            Assert.True(batch.WrittenSpan.Length <= OutboundQueue.SegmentBytes + 256, $"a batch of {batch.WrittenSpan.Length} bytes");
            peer.Feed(batch.WrittenSpan);
            queue.FinishBatch(batch);
        }

        Assert.Equal(4, peer.Arrived.Count);
        Assert.Equal(1, BinaryPrimitives.ReadInt32LittleEndian(peer.Arrived[0].AsSpan(2)));
        Assert.Equal(new byte[] { MessageTypes.Cast }.Concat(first).ToArray(), peer.Arrived[1]);
        Assert.Equal(new byte[] { MessageTypes.Cast }.Concat(second).ToArray(), peer.Arrived[2]);
        Assert.Equal(2, BinaryPrimitives.ReadInt32LittleEndian(peer.Arrived[3].AsSpan(2)));
        Assert.Equal(0, queue.QueuedBytes);
    }

    [Fact]
    public void SpillLane_ManyLargeMessagesAndRunsOfSmallOnes_EnqueuedWhileItDrains_ArriveWholeAndInOrder()
    {
        // Several large messages in line at once (each a segment of its own), runs of small ones between them long
        // enough to fill several segments, more segments than the lane starts with, and sending going on meanwhile.
        using var queue = new OutboundQueue(s_key, s_options);
        using var peer = new WholeMessages();
        var expected = new List<byte[]>();
        var number = 0;
        void Small(int count)
        {
            for (var i = 0; i < count; i++)
            {
                Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Numbered(0, ++number), force: false, out _));
                var bytes = new byte[46];
                bytes[0] = MessageTypes.Cast;
                BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(2), number);
                expected.Add(bytes);
            }
        }
        void Large(int length)
        {
            var body = FragmentTests.Blob(length);
            Assert.Equal(EnqueueResult.Queued, queue.TryEnqueue(new Blob(body), force: false, out _));
            expected.Add([MessageTypes.Cast, .. body]);
        }
        void TakeOne()
        {
            if (queue.TakeBatch(out _) is { } batch)
            {
                peer.Feed(batch.WrittenSpan);
                queue.FinishBatch(batch);
            }
        }

        // First a short line that drains whole, so that the lane's ring of segments starts past its first slot.
        Large(100_000);
        Small(1);
        Large(100_000);
        while (queue.QueuedBytes > 0)
        {
            TakeOne();
        }
        for (var round = 0; round < 4; round++)
        {
            // A batch or two after each step: the lane's first segments drain while later ones are added, so its ring
            // of segments wraps and grows with its head past the start.
            Small(3);
            TakeOne();
            Large(700_000 + round);
            TakeOne();
            Small(12_000); // ~600 KB of records: beyond one 256 KiB segment
            Large(Fragments.ChunkSize + 1);
            TakeOne();
            Large(2_000_000);
            Small(1);
            Large(300_000);
            TakeOne();
            Large(150_000);
            Small(5);
            TakeOne();
            TakeOne();
        }
        while (queue.TakeBatch(out _) is { } batch)
        {
            peer.Feed(batch.WrittenSpan);
            queue.FinishBatch(batch);
        }

        Assert.Equal(expected.Count, peer.Arrived.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.True(expected[i].AsSpan().SequenceEqual(peer.Arrived[i]), $"message {i} of {expected.Count} differs");
        }
        Assert.Equal(0, queue.QueuedBytes);
    }

    /// <summary>The peer's side for whole messages: verifies every frame and reassembles fragments.</summary>
    private sealed class WholeMessages : IDisposable
    {
        private readonly FrameReader _reader = new(s_key);
        private readonly FragmentAssembler _assembler = new(FragmentTests.MaxMessage);

        public List<byte[]> Arrived { get; } = [];

        public void Feed(ReadOnlySpan<byte> bytes) => FeedFrames(_reader, bytes, message =>
        {
            if (message[0] != Fragments.Type)
            {
                _assembler.CheckOther(message[0]);
                Arrived.Add(message.ToArray());
            }
            else if (_assembler.Accept(message, out var whole) && !whole.IsEmpty)
            {
                Arrived.Add(whole.ToArray());
                _assembler.Release();
            }
        });

        public void Dispose()
        {
            _reader.Dispose();
            _assembler.Dispose();
        }
    }

    /// <summary>A cast-typed message of the type byte and then <paramref name="body"/>.</summary>
    private readonly struct Blob(byte[] body) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(1 + body.Length);
            span[0] = MessageTypes.Cast;
            body.CopyTo(span[1..]);
            writer.Advance(1 + body.Length);
        }
    }

    /// <summary>A cast-typed message carrying a producer and a number, 50 bytes on the wire with its length.</summary>
    private readonly struct Numbered(int producer, int number) : IOutboundMessage
    {
        public void Write(IBufferWriter<byte> writer)
        {
            var span = writer.GetSpan(46);
            span[..46].Clear();
            span[0] = MessageTypes.Cast;
            span[1] = (byte)producer;
            BinaryPrimitives.WriteInt32LittleEndian(span[2..], number);
            writer.Advance(46);
        }
    }

    /// <summary>The peer's side: verifies every frame in order (sequence numbers included) and keeps the numbers.</summary>
    private sealed class Receiver(bool decode = true)
    {
        private readonly FrameReader _reader = new(s_key);
        private readonly Dictionary<int, List<int>> _numbers = [];

        public IEnumerable<int> Numbers(int producer) => _numbers.TryGetValue(producer, out var list) ? list : [];

        public void Feed(ReadOnlySpan<byte> bytes)
        {
            if (!decode)
            {
                return;
            }
            FeedFrames(_reader, bytes, message =>
            {
                Assert.Equal(MessageTypes.Cast, message[0]);
                var producer = message[1];
                if (!_numbers.TryGetValue(producer, out var list))
                {
                    _numbers[producer] = list = [];
                }
                list.Add(BinaryPrimitives.ReadInt32LittleEndian(message[2..]));
            });
        }
    }

    private delegate void MessageHandler(ReadOnlySpan<byte> message);

    /// <summary>Feeds <paramref name="bytes"/> to <paramref name="reader"/> as receives would, handing on every message of
    /// every frame that verifies; a frame that does not fails the test.</summary>
    private static void FeedFrames(FrameReader reader, ReadOnlySpan<byte> bytes, MessageHandler onMessage)
    {
        while (!bytes.IsEmpty)
        {
            var free = reader.GetMemory().Span;
            var n = Math.Min(free.Length, bytes.Length);
            bytes[..n].CopyTo(free);
            reader.Advance(n);
            bytes = bytes[n..];
            while (reader.TryRead(out var frame) == OperationStatus.Done)
            {
                foreach (var message in frame)
                {
                    onMessage(message);
                }
            }
            Assert.Null(reader.ErrorMessage);
        }
    }
}
