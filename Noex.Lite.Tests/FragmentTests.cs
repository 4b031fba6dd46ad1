using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

/// <summary>
/// Messages longer than 64 KiB cross as fragments (protocol.md §5.1) so that heartbeats and gossip go between them: the
/// reassembler's checks, the vectors, and large messages between real nodes, over a throttled link and from a hostile peer.
/// </summary>
[Collection(ClusterCollection.Name)]
public class FragmentTests
{
    private const int MaxMessage = 16 * 1024 * 1024 - Framing.SingleMessageOverhead;

    // ---- the reassembler ----

    private static byte[] Fragment(int total, int offset, int chunk, byte fill = 0x7f)
    {
        var bytes = new byte[Fragments.HeaderSize + chunk];
        bytes[0] = Fragments.Type;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(1), (uint)total);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(5), (uint)offset);
        bytes.AsSpan(Fragments.HeaderSize).Fill(fill);
        return bytes;
    }

    /// <summary>Every fragment of <paramref name="message"/>, as a sender writes them.</summary>
    private static List<byte[]> Split(byte[] message)
    {
        var parts = new List<byte[]>();
        for (var offset = 0; offset < message.Length;)
        {
            var writer = new ArrayBufferWriter<byte>();
            offset += Fragments.Write(writer, message, offset);
            parts.Add(writer.WrittenSpan.ToArray());
        }
        return parts;
    }

    [Fact]
    public void Assembler_FragmentsOfAMessage_GiveItBackWhole()
    {
        var message = new byte[3 * Fragments.ChunkSize + 17];
        Random.Shared.NextBytes(message);
        message[0] = 0x12;
        var parts = Split(message);
        using var assembler = new FragmentAssembler(MaxMessage);

        Assert.Equal(4, parts.Count);
        Assert.All(parts.Take(3), p => Assert.Equal(Fragments.HeaderSize + Fragments.ChunkSize, p.Length));
        for (var i = 0; i < parts.Count - 1; i++)
        {
            Assert.True(assembler.Accept(parts[i], out var none));
            Assert.True(none.IsEmpty);
            Assert.True(assembler.InProgress);
            assembler.CheckOther(0x01); // gossip may go between fragments
            assembler.OnFrameWithoutFragment();
        }
        Assert.True(assembler.Accept(parts[^1], out var whole));
        Assert.Equal(message, whole.ToArray());
        assembler.Release();
        Assert.False(assembler.InProgress);
        assembler.CheckOther(0x12); // and data again once it is whole
    }

    public static TheoryData<string, int[][], FragmentError> Hostile => new()
    {
        { "total of one chunk: it would have gone whole", [[65536, 0, 100]], FragmentError.BadTotal },
        { "total above the largest message", [[MaxMessage + 1, 0, 65536]], FragmentError.BadTotal },
        { "first fragment not at offset 0", [[100_000, 65536, 34464]], FragmentError.OutOfOrder },
        { "a chunk skipped", [[200_000, 0, 65536], [200_000, 131072, 65536]], FragmentError.OutOfOrder },
        { "the total changes", [[200_000, 0, 65536], [300_000, 65536, 65536]], FragmentError.OutOfOrder },
        { "a short chunk that is not the last", [[200_000, 0, 1000]], FragmentError.BadChunk },
        { "too long: past the total", [[100_000, 0, 65536], [100_000, 65536, 65536]], FragmentError.BadChunk },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Assembler_HostileSequence_FailsWithItsError(string why, int[][] fragments, FragmentError expected)
    {
        using var assembler = new FragmentAssembler(MaxMessage);
        var error = Assert.Throws<FragmentException>(() =>
        {
            foreach (var f in fragments)
            {
                assembler.Accept(Fragment(f[0], f[1], f[2]), out _);
            }
        });
        Assert.True(expected == error.Error, $"{why}: {error.Message}");
        Assert.False(assembler.InProgress);
    }

    [Fact]
    public void Assembler_DataMessageBetweenFragments_IsInterleaved()
    {
        using var assembler = new FragmentAssembler(MaxMessage);
        assembler.Accept(Fragment(100_000, 0, 65536), out _);

        Assert.Equal(FragmentError.Interleaved, Assert.Throws<FragmentException>(() => assembler.CheckOther(0x12)).Error);
        assembler.Accept(Fragment(100_000, 0, 65536), out _);
        Assert.Equal(FragmentError.Interleaved, Assert.Throws<FragmentException>(() => assembler.CheckOther(0x02)).Error);
    }

    [Fact]
    public void Assembler_NeverFinished_StallsAfterTheAllowedFrames()
    {
        using var assembler = new FragmentAssembler(MaxMessage);
        assembler.Accept(Fragment(100_000, 0, 65536), out _);
        for (var i = 0; i < FragmentAssembler.MaxFramesWithoutFragment; i++)
        {
            assembler.OnFrameWithoutFragment();
        }

        Assert.Equal(FragmentError.Stalled, Assert.Throws<FragmentException>(assembler.OnFrameWithoutFragment).Error);
    }

    [Fact]
    public void Assembler_ReassembledFragment_IsNested()
    {
        var inner = Fragment(70_000, 0, 65536);
        var message = new byte[70_000];
        inner.CopyTo(message, 0);
        using var assembler = new FragmentAssembler(MaxMessage);
        var parts = Split(message);
        assembler.Accept(parts[0], out _);

        Assert.Equal(FragmentError.Nested, Assert.Throws<FragmentException>(() => assembler.Accept(parts[1], out _)).Error);
    }

    // ---- protocol.md vectors ----

    public static TheoryData<string> Valid => ProtocolVectors.NamesOfType("fragment");

    public static TheoryData<string> Invalid => ProtocolVectors.NamesOfType("fragment-invalid");

    [Theory]
    [MemberData(nameof(Valid))]
    public void Conformance_Fragment_ReadsAsItsMeaningAndWritesItsBytes(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var bytes = vector.Bytes("hex");
        var fields = vector["meaning"].Split(' ').Skip(1).Select(f => f.Split('=')).ToDictionary(f => f[0], f => f[1]);
        var total = int.Parse(fields["total"]);
        var offset = int.Parse(fields["offset"]);
        var chunk = Convert.FromHexString(fields["chunk"]);

        Assert.Equal(Fragments.Type, bytes[0]);
        Assert.Equal((uint)total, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(1)));
        Assert.Equal((uint)offset, BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(5)));
        Assert.Equal(chunk, bytes[Fragments.HeaderSize..]);
        var message = new byte[total];
        chunk.CopyTo(message, offset);
        var written = new ArrayBufferWriter<byte>();
        Assert.Equal(chunk.Length, Fragments.Write(written, message, offset));
        Assert.Equal(bytes, written.WrittenSpan.ToArray());
    }

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Conformance_FragmentInvalid_FailsWithItsError(string name)
    {
        var vector = ProtocolVectors.Get(name);
        var max = vector.Fields.TryGetValue("max", out var m) ? int.Parse(m) - Framing.SingleMessageOverhead : MaxMessage;
        using var assembler = new FragmentAssembler(max);
        var error = Assert.Throws<FragmentException>(() =>
        {
            foreach (var part in vector["hex"].Split(','))
            {
                assembler.Accept(ProtocolVectors.Hex(part), out _);
            }
        });
        Assert.Equal(Enum.Parse<FragmentError>(vector["error"]), error.Error);
    }

    // ---- between nodes ----

    /// <summary>Records the casts it gets: {"seq": n, "blob": bytes}.</summary>
    private sealed class Recorder : GenServer<int>
    {
        public ConcurrentQueue<(long Seq, int Length, bool Intact)> Seen { get; } = new();

        protected override ValueTask<int> InitAsync(Value args, CancellationToken cancellationToken) => new(0);

        protected override ValueTask<CallResult<int>> HandleCallAsync(Value request, CallFrom from, int state) =>
            new(CallResult<int>.WithReply(request.TryGetProperty("blob", out var blob) ? Value.Binary(Reverse(blob.AsBinary().Span)) : Value.FromInt64(Seen.Count), state));

        protected override ValueTask<int> HandleCastAsync(Value message, int state)
        {
            var blob = message["blob"].AsBinary().Span;
            Seen.Enqueue((message["seq"].AsInt64(), blob.Length, Intact(blob)));
            return new(state + 1);
        }
    }

    private static byte[] Blob(int length)
    {
        var blob = new byte[length];
        for (var i = 0; i < length; i++)
        {
            blob[i] = (byte)(i * 31 + (i >> 16));
        }
        return blob;
    }

    private static bool Intact(ReadOnlySpan<byte> blob)
    {
        for (var i = 0; i < blob.Length; i++)
        {
            if (blob[i] != (byte)(i * 31 + (i >> 16)))
            {
                return false;
            }
        }
        return true;
    }

    private static byte[] Reverse(ReadOnlySpan<byte> bytes)
    {
        var copy = bytes.ToArray();
        Array.Reverse(copy);
        return copy;
    }

    private static Value Cast(long seq, int length) => Value.Object(("seq", seq), ("blob", Value.Binary(Blob(length))));

    private const string Secret = "fragment-tests";

    [Fact]
    public async Task LargeAndSmallCasts_ArriveWholeAndInOrder_AndLargeCallsRoundTrip()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret);
        var (a, b) = pair;
        var recorder = new Recorder();
        var target = await a.Runtime.StartAsync(recorder);
        // Small, large, small, large, ...: the small ones queued behind a large one must wait for it.
        int[] lengths = [10, 1_000_000, 20, 30, 65_537, 40, 3 * 1024 * 1024, 50, 65_000, 200_000];

        for (var i = 0; i < lengths.Length; i++)
        {
            Assert.True(b.Runtime.Cast(target, Cast(i, lengths[i])));
        }
        var blob = Blob(500_000);
        var echoed = await b.Runtime.CallAsync(target, Value.Object(("blob", Value.Binary(blob))), TimeSpan.FromSeconds(30));

        Assert.Equal(Reverse(blob), echoed.AsBinary().ToArray());
        await Wait.UntilAsync(() => recorder.Seen.Count == lengths.Length);
        Assert.Equal(lengths.Select((l, i) => (i, l, true)), recorder.Seen.Select(s => ((int)s.Seq, s.Length, s.Intact)));
        Assert.True(a.IsConnected(b.Id));
    }

    [Fact]
    public async Task MultiMegabyteCastOverAThrottledLink_GossipGoesBetweenItsFragments_AndOrderHolds()
    {
        // 24 MiB at 4 MiB/s takes ~6 s; the kernel's socket buffers absorb a few MiB of it at once, the rest waits in the
        // sender's queue. Gossip (every fourth heartbeat tick, 0.8 s) must reach the receiver during the transfer, not after.
        var heartbeat = TimeSpan.FromMilliseconds(200);
        // b dials a through a's proxy, which throttles what b sends.
        await using var pair = await TestCluster.StartAsync(2, Secret, o => o with
        {
            HeartbeatInterval = heartbeat, HeartbeatMissThreshold = 10, MaxFrameLength = 32 * 1024 * 1024,
        }, proxied: true);
        var (a, b, proxyA, _) = pair;
        var events = NodeEvents.Watch(a, b);
        var recorder = new Recorder();
        var target = await a.Runtime.StartAsync(recorder);
        await Wait.UntilAsync(() => a.GetNode(b.Id)?.Uptime > TimeSpan.Zero);
        proxyA.BytesPerSecond = 4 * 1024 * 1024;

        Assert.True(b.Runtime.Cast(target, Cast(0, 24 * 1024 * 1024)));
        Assert.True(b.Runtime.Cast(target, Cast(1, 100)));
        var before = a.GetNode(b.Id)!.Uptime;
        var started = Stopwatch.GetTimestamp();
        // Gossip that left b at least 1.6 s after the big cast was queued, seen by a while the cast is still on its way.
        await Wait.UntilAsync(() => a.GetNode(b.Id)!.Uptime - before >= TimeSpan.FromSeconds(1.6) || !recorder.Seen.IsEmpty);
        var gossipAt = Stopwatch.GetElapsedTime(started);
        var deliveredBefore = recorder.Seen.Count;
        await Wait.UntilAsync(() => recorder.Seen.Count == 2 || !events.Downs.IsEmpty);
        var deliveredAt = Stopwatch.GetElapsedTime(started);

        Assert.Empty(events.Downs);
        // Without fragments the gossip waits behind the whole frame and arrives with it (measured: 7.32 s and 7.33 s);
        // with them it arrives while the rest of the cast is still crossing (2.0 s and 8.1 s).
        Assert.True(deliveredBefore == 0 && deliveredAt - gossipAt >= TimeSpan.FromSeconds(2),
            $"gossip sent during the transfer arrived at {gossipAt.TotalSeconds:0.0} s, the cast at {deliveredAt.TotalSeconds:0.0} s: the gossip waited behind it");
        Assert.Equal([(0L, 24 * 1024 * 1024, true), (1L, 100, true)], recorder.Seen.ToArray());
        Assert.True(a.IsConnected(b.Id) && b.IsConnected(a.Id));
    }

    [Fact]
    public async Task HostilePeer_FragmentOutOfOrder_ClosesTheLinkAsAProtocolError()
    {
        await using var pair = await TestCluster.StartAsync(2, Secret);
        var (a, b) = pair;
        var events = NodeEvents.Watch(a);
        Assert.True(b.TryGetConnection(a.Id, out var connection));

        // A message of at most 64 KiB goes out as it is: here the last fragment of a message that never began.
        Assert.Equal(EnqueueResult.Queued, connection.TryEnqueue(new RawMessage(ProtocolVectors.Hex("03 01 00 01 00 00 00 01 00 2a"))));

        await Wait.UntilAsync(() => !events.Downs.IsEmpty);
        Assert.Equal(NodeDownReason.ProtocolError, events.Downs.First().Reason);
    }

    private sealed class Handler : IConnectionHandler
    {
        public List<byte[]> Messages { get; } = [];

        public void OnMessage(Connection connection, ReadOnlySpan<byte> message) => Messages.Add(message.ToArray());

        public void OnClosed(Connection connection, CloseReason reason, Exception? error)
        {
        }
    }

    /// <summary>A connection's read side fed by hand with frames sealed under its key, as a hostile peer could send them.</summary>
    private static async Task<(FragmentException Error, List<byte[]> Delivered)> FeedAsync(params byte[][][] frames)
    {
        var key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var handler = new Handler();
        var connection = new Connection(new Socket(SocketType.Stream, ProtocolType.Tcp), null, NodeId.Parse("peer@127.0.0.1:1"), 1, dialed: true,
            new SessionKeys(new byte[32], (byte[])key.Clone()), new NodeOptions { Name = "me", ClusterSecret = "x" }, handler);
        await using var _ = connection;
        using var writer = new FrameWriter(key);
        foreach (var frame in frames)
        {
            foreach (var message in frame)
            {
                writer.WriteMessage(message);
            }
            writer.Seal();
        }
        var error = Assert.Throws<FragmentException>(() =>
        {
            for (ReadOnlySpan<byte> sent = writer.WrittenSpan; !sent.IsEmpty;)
            {
                var free = connection.ReceiveBuffer.Span;
                var n = Math.Min(free.Length, sent.Length);
                sent[..n].CopyTo(free);
                Assert.True(connection.Deliver(n));
                sent = sent[n..];
            }
        });
        return (error, handler.Messages);
    }

    [Fact]
    public async Task Connection_CastBetweenFragments_IsInterleaved_AndNothingPartialIsDelivered()
    {
        byte[] gossip = [0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        byte[] cast = [0x12, 1, 0, 0, 0, 0, 0, 0, 0, 0xaa];

        var (error, delivered) = await FeedAsync([Fragment(100_000, 0, 65536)], [gossip], [cast]);

        Assert.Equal(FragmentError.Interleaved, error.Error);
        Assert.Equal([gossip], delivered); // control went through between the fragments; the cast did not
    }

    [Fact]
    public async Task Connection_FragmentsNeverFinished_StallAfterSixtyFourEmptyFrames()
    {
        var frames = new List<byte[][]> { new[] { Fragment(100_000, 0, 65536) } };
        frames.AddRange(Enumerable.Repeat(Array.Empty<byte[]>(), FragmentAssembler.MaxFramesWithoutFragment + 1));

        var (error, delivered) = await FeedAsync([.. frames]);

        Assert.Equal(FragmentError.Stalled, error.Error);
        Assert.Empty(delivered);
    }

    [Fact]
    public async Task Connection_FragmentsInOrder_DeliverTheMessageOnceWhole()
    {
        var message = Blob(200_000);
        message[0] = 0x12;
        var parts = Split(message);
        // A trailing bad fragment ends the feed with an error, after the whole message was delivered.
        var (error, delivered) = await FeedAsync([.. parts.Select(p => new[] { p }), [Fragment(65536, 0, 10)]]);

        Assert.Equal(FragmentError.BadTotal, error.Error);
        Assert.Equal(message, Assert.Single(delivered));
    }
}
