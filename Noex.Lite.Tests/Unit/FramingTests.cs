using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class FramingTests
{
    // The key of one direction (A→B) and of the other (B→A), as §4 will derive them.
    private static readonly byte[] s_key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] s_otherKey = Enumerable.Range(0, 32).Select(i => (byte)(0xA0 + i)).ToArray();
    private static readonly byte[] s_small = Convert.FromHexString("0702047479706523676574036B6579226B31");

    // ---- round trips ----

    [Fact]
    public void Seal_NoMessages_WritesHeartbeatThatReadsBack()
    {
        var stream = Seal(0, []);

        Assert.Equal(48, stream.Length);
        Assert.Equal(44u, BinaryPrimitives.ReadUInt32LittleEndian(stream));
        var result = Feed(stream, Exact(stream));
        Assert.Null(result.Error);
        Assert.Equal((0UL, 0), (result.Frames.Single().Seq, result.Frames.Single().Messages.Length));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(18)]
    [InlineData(1024)]
    [InlineData(65536)]
    public void WriteMessage_OneMessageOfSize_RoundTrips(int size)
    {
        var message = RandomBytes(size, size);
        var stream = Seal(0, [message]);

        Assert.Equal(16 + 4 + size + 32, stream.Length);
        var frame = Feed(stream, Exact(stream)).Frames.Single();
        Assert.Equal(message, Assert.Single(frame.Messages));
    }

    [Fact]
    public void WriteMessage_ManyMessages_RoundTripInOrder()
    {
        var messages = Enumerable.Range(1, 300).Select(i => RandomBytes(i, i)).ToArray();
        var stream = Seal(0, messages);

        var frame = Feed(stream, Exact(stream)).Frames.Single();
        Assert.Equal(messages, frame.Messages);
    }

    [Fact]
    public void Seal_SeveralFramesInOneBuffer_ReadBackWithIncrementingSeq()
    {
        using var writer = new FrameWriter(s_key);
        for (var i = 0; i < 5; i++)
        {
            writer.WriteMessage([(byte)(i + 1)]);
            writer.Seal();
        }

        Assert.Equal(5UL, writer.NextSeq);
        var result = Feed(writer.WrittenSpan.ToArray(), Exact(writer.WrittenSpan.ToArray()));
        Assert.Null(result.Error);
        Assert.Equal([0UL, 1, 2, 3, 4], result.Frames.Select(f => f.Seq));
        Assert.Equal([1, 2, 3, 4, 5], result.Frames.Select(f => (int)f.Messages.Single().Single()));
    }

    [Fact]
    public void Seal_OneMessage_WritesTheLayoutOfProtocolMd()
    {
        var stream = Seal(7, [s_small]);

        Assert.Equal((uint)(stream.Length - 4), BinaryPrimitives.ReadUInt32LittleEndian(stream));
        Assert.Equal([1, 1, 0, 0], stream[4..8]);
        Assert.Equal(7UL, BinaryPrimitives.ReadUInt64LittleEndian(stream.AsSpan(8)));
        Assert.Equal((uint)s_small.Length, BinaryPrimitives.ReadUInt32LittleEndian(stream.AsSpan(16)));
        Assert.Equal(s_small, stream[20..^32]);
        // The tag is checked with the BCL's one-shot HMAC, not with the code under test.
        Assert.Equal(HMACSHA256.HashData(s_key, stream[..^32]), stream[^32..]);
    }

    [Fact]
    public void BufferWriter_EncoderWritesInPieces_MessageIsBackFilled()
    {
        using var writer = new FrameWriter(s_key, initialCapacity: 64);
        writer.BeginMessage();
        IBufferWriter<byte> encoder = writer;
        for (var i = 0; i < 100; i++)
        {
            var span = encoder.GetSpan(7);
            span[..7].Fill((byte)i);
            encoder.Advance(7);
        }
        writer.EndMessage();
        writer.Seal();

        var frame = Feed(writer.WrittenSpan.ToArray(), Exact(writer.WrittenSpan.ToArray())).Frames.Single();
        Assert.Equal(Enumerable.Range(0, 100).SelectMany(i => Enumerable.Repeat((byte)i, 7)), frame.Messages.Single());
    }

    [Fact]
    public void WriteMessage_BatchOverMaxFrameLength_SplitsFramesInOneBuffer()
    {
        var messages = Enumerable.Range(0, 10).Select(i => RandomBytes(60, i)).ToArray();
        using var writer = new FrameWriter(s_key, maxFrameLength: 200);
        foreach (var m in messages)
        {
            writer.WriteMessage(m);
        }
        writer.Seal();

        var stream = writer.WrittenSpan.ToArray();
        var result = Feed(stream, Exact(stream), max: 200);
        Assert.Null(result.Error);
        Assert.Equal(messages, result.Frames.SelectMany(f => f.Messages));
        Assert.Equal(5, result.Frames.Count); // 12 + 2 × 64 + 32 = 172 ≤ 200 < 236
    }

    [Fact]
    public void EndMessage_MessageOverflowsOpenFrame_MovesItToANewFrame()
    {
        var messages = Enumerable.Range(0, 7).Select(i => RandomBytes(60, i)).ToArray();
        using var writer = new FrameWriter(s_key, maxFrameLength: 200);
        foreach (var m in messages)
        {
            // The IBufferWriter path cannot know the size in advance, so EndMessage moves the message.
            writer.BeginMessage();
            m.CopyTo(writer.GetSpan(m.Length));
            writer.Advance(m.Length);
            writer.EndMessage();
        }
        writer.Seal();

        var stream = writer.WrittenSpan.ToArray();
        var result = Feed(stream, Exact(stream), max: 200);
        Assert.Null(result.Error);
        Assert.Equal(messages, result.Frames.SelectMany(f => f.Messages));
        Assert.Equal([0UL, 1, 2, 3], result.Frames.Select(f => f.Seq));
    }

    [Fact]
    public void WriteMessage_LargerThanMaxMessage_ThrowsAndWriterStaysUsable()
    {
        using var writer = new FrameWriter(s_key, maxFrameLength: 100);

        var ex = Assert.Throws<MessageTooLargeException>(() => writer.WriteMessage(new byte[53]));
        Assert.Contains("at most 52 bytes", ex.Message, StringComparison.Ordinal);
        Assert.Equal((53L, 52, 1L), (ex.MessageLength, ex.MaxMessageLength, ex.Excess));
        writer.BeginMessage();
        writer.GetSpan(60);
        Assert.Throws<MessageTooLargeException>(() => writer.Advance(53));
        writer.WriteMessage(new byte[52]);
        writer.Seal();
        Assert.Equal(104, writer.WrittenSpan.Length);
        Assert.Single(Feed(writer.WrittenSpan.ToArray(), [104], max: 100).Frames);
    }

    [Fact]
    public void EndMessage_EmptyMessage_Throws()
    {
        using var writer = new FrameWriter(s_key);
        writer.BeginMessage();

        Assert.Throws<InvalidOperationException>(writer.EndMessage);
        Assert.Throws<InvalidOperationException>(() => writer.WriteMessage([]));
        writer.Seal();
        Assert.Equal(48, writer.WrittenSpan.Length); // the empty message was discarded
    }

    [Fact]
    public void Seal_MessageStillOpen_Throws()
    {
        using var writer = new FrameWriter(s_key);
        writer.BeginMessage();

        Assert.Throws<InvalidOperationException>(writer.Seal);
        Assert.Throws<InvalidOperationException>(writer.BeginMessage);
    }

    [Fact]
    public void GetSpan_NoMessageOpen_Throws()
    {
        using var writer = new FrameWriter(s_key);

        Assert.Throws<InvalidOperationException>(() => writer.GetSpan());
        Assert.Throws<InvalidOperationException>(() => writer.Advance(0));
    }

    [Fact]
    public void Clear_AfterSend_NextFrameStartsAtZeroWithNextSeq()
    {
        using var writer = new FrameWriter(s_key);
        writer.WriteMessage([1]);
        writer.Seal();
        writer.Clear();
        writer.WriteMessage([2]);
        writer.Seal();

        Assert.Equal(Seal(1, [[2]]), writer.WrittenSpan.ToArray());
    }

    [Fact]
    public void Dispose_Twice_IsIdempotentAndLaterUseThrows()
    {
        var writer = new FrameWriter(s_key);
        var reader = new FrameReader(s_key);
        writer.Dispose();
        writer.Dispose();
        reader.Dispose();
        reader.Dispose();

        Assert.Throws<ObjectDisposedException>(writer.Seal);
        Assert.Throws<ObjectDisposedException>(() => reader.TryRead(out _));
        Assert.Throws<ObjectDisposedException>(() => reader.GetMemory());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(43)]
    [InlineData(Framing.MaxFrameLengthLimit + 1)]
    public void Constructor_MaxFrameLengthOutOfRange_Throws(int max)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new FrameReader(s_key, maxFrameLength: max));
        Assert.Throws<ArgumentOutOfRangeException>(() => new FrameWriter(s_key, maxFrameLength: max));
    }

    // ---- every FrameError, provoked for real ----

    [Theory]
    [InlineData(0u)]
    [InlineData(43u)]
    public void TryRead_LengthBelowMinimum_TooShort(uint length)
    {
        var stream = new byte[60];
        BinaryPrimitives.WriteUInt32LittleEndian(stream, length);

        var result = Feed(stream, Exact(stream));
        Assert.Equal(FrameError.TooShort, result.Error);
        Assert.Contains($"frame length {length} is below the minimum 44", result.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0xFFFFFFFFu, Framing.DefaultMaxFrameLength)]
    [InlineData(0x80000000u, Framing.DefaultMaxFrameLength)]
    [InlineData(16_777_217u, Framing.DefaultMaxFrameLength)]
    [InlineData(1_048_577u, 1024 * 1024)]
    public void TryRead_LengthAboveMax_TooLargeWithoutAllocatingForIt(uint length, int max)
    {
        using var reader = new FrameReader(s_key, maxFrameLength: max);
        var capacity = reader.Capacity;
        reader.TryRead(out _); // warm the path up
        var before = GC.GetAllocatedBytesForCurrentThread();

        BinaryPrimitives.WriteUInt32LittleEndian(reader.GetMemory(4).Span, length);
        reader.Advance(4);
        var status = reader.TryRead(out _);
        reader.GetMemory(1024);

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(OperationStatus.InvalidData, status);
        Assert.Equal(FrameError.TooLarge, reader.Error);
        Assert.Contains($"frame length {length} exceeds the maximum frame length {max}", reader.ErrorMessage, StringComparison.Ordinal);
        Assert.True(allocated < 4096, $"allocated {allocated} bytes"); // only the error message
        Assert.Equal(capacity, reader.Capacity);
    }

    [Fact]
    public void GetMemory_LengthAtMaxPassesCheck_GrowsToExactlyThatFrame()
    {
        // The positive control of the test above: a checked length is what the buffer grows to.
        const int Max = 1024 * 1024;
        using var reader = new FrameReader(s_key, maxFrameLength: Max);
        BinaryPrimitives.WriteUInt32LittleEndian(reader.GetMemory(4).Span, Max);
        reader.Advance(4);

        Assert.Equal(OperationStatus.NeedMoreData, reader.TryRead(out _));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var memory = reader.GetMemory(1);
        Assert.True(memory.Length >= Max, $"free {memory.Length}");
        Assert.True(reader.Capacity >= Max + 4 && reader.Capacity < 2 * Max + 8, $"capacity {reader.Capacity}");
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 2L * Max + 4096);
    }

    [Fact]
    public void GetMemory_AfterLargeFrame_KeepsBufferUntilASmallFrameIsRead()
    {
        using var writer = new FrameWriter(s_key);
        using var reader = new FrameReader(s_key);
        var big = RandomBytes(100_000, 1);
        writer.WriteMessage(big);
        writer.Seal();

        Assert.Equal(big, Feed(reader, writer.WrittenSpan.ToArray()).Single());
        reader.GetMemory();
        Assert.True(reader.Capacity >= 100_052, $"capacity {reader.Capacity}"); // kept for the next large frame
        writer.Clear();
        writer.WriteMessage([1]);
        writer.Seal();
        Assert.Single(Feed(reader, writer.WrittenSpan.ToArray()));
        reader.GetMemory();
        Assert.Equal(FrameReader.DefaultBufferSize, reader.Capacity); // back to the default
    }

    [Fact]
    public void GetMemory_FragmentSizedFrames_GrowsWithRoomForSeveral_AndReadsThemAll()
    {
        // A fragmented message arrives as frames of one 64 KiB chunk each: the buffer takes several at a time, so that
        // the bytes of a frame seldom have to move to the front before the rest of it can arrive.
        using var writer = new FrameWriter(s_key);
        var messages = Enumerable.Range(0, 12).Select(i => RandomBytes(Fragments.HeaderSize + Fragments.ChunkSize, i)).ToArray();
        foreach (var message in messages)
        {
            writer.WriteMessage(message);
            writer.Seal();
        }
        using var reader = new FrameReader(s_key);

        var read = Feed(reader, writer.WrittenSpan.ToArray());

        Assert.Equal(messages, read);
        Assert.Equal(FrameReader.LargeBufferSize, reader.Capacity);
        writer.Clear();
        writer.WriteMessage([1]);
        writer.Seal();
        Assert.Single(Feed(reader, writer.WrittenSpan.ToArray()));
        reader.GetMemory();
        Assert.Equal(FrameReader.DefaultBufferSize, reader.Capacity); // back to the default after a small frame
    }

    [Fact]
    public void DetachOpenMessage_HandsOverTheMessage_AndKeepsTheMessagesBeforeItInTheOpenFrame()
    {
        using var writer = new FrameWriter(s_key);
        var before = RandomBytes(100, 1);
        var large = RandomBytes(200_000, 2);
        writer.WriteMessage(before);
        writer.BeginMessage();
        large.CopyTo(writer.GetSpan(large.Length));
        writer.Advance(large.Length);

        var buffer = writer.DetachOpenMessage(out var start, out var end);
        writer.WriteMessage([7]);
        writer.Seal();

        Assert.Equal(large.Length + Framing.MessageLengthSize, end - start);
        Assert.Equal(large, buffer.AsSpan(start + Framing.MessageLengthSize, large.Length).ToArray());
        var stream = writer.WrittenSpan.ToArray();
        var frame = Feed(stream, Exact(stream)).Frames.Single();
        Assert.Equal(new[] { before, new byte[] { 7 } }, frame.Messages);
        ArrayPool<byte>.Shared.Return(buffer);
    }

    [Fact]
    public void TryRead_WrongKey_BadTag()
    {
        var stream = Seal(0, [s_small]);

        var result = Feed(stream, Exact(stream), key: s_otherKey);
        Assert.Equal(FrameError.BadTag, result.Error);
        Assert.Empty(result.Frames);
    }

    [Fact]
    public void TryRead_FrameReflectedFromOtherDirection_BadTag()
    {
        // Node A sends with K_ab and reads with K_ba; its own frame bounced back must not verify.
        using var aSends = new FrameWriter(s_key);
        aSends.WriteMessage(s_small);
        aSends.Seal();
        var reflected = aSends.WrittenSpan.ToArray();

        var result = Feed(reflected, Exact(reflected), key: s_otherKey);
        Assert.Equal(FrameError.BadTag, result.Error);
    }

    [Fact]
    public void TryReadFrame_EachSingleBitFlipped_NeverAccepted()
    {
        var frame = Seal(0, [s_small, [0x81]]);
        for (var i = 0; i < frame.Length; i++)
        {
            for (var bit = 0; bit < 8; bit++)
            {
                var bad = (byte[])frame.Clone();
                bad[i] ^= (byte)(1 << bit);
                var status = Framing.TryReadFrame(bad, s_key, 0, Framing.DefaultMaxFrameLength, out _, out _, out var error);

                // A flip in the length prefix changes what is read; anywhere else the tag catches it.
                var length = BinaryPrimitives.ReadUInt32LittleEndian(bad);
                (OperationStatus, FrameError) expected =
                    length < 44 ? (OperationStatus.InvalidData, FrameError.TooShort)
                    : length > Framing.DefaultMaxFrameLength ? (OperationStatus.InvalidData, FrameError.TooLarge)
                    : length + 4 > bad.Length ? (OperationStatus.NeedMoreData, default)
                    : (OperationStatus.InvalidData, FrameError.BadTag);
                Assert.True(expected == (status, error), $"byte {i} bit {bit}: {status} {error}, expected {expected}");
                if (i >= 4)
                {
                    Assert.Equal(FrameError.BadTag, error);
                }
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(0xFF)]
    public void TryRead_ValidTagOtherVersion_UnsupportedVersion(byte version)
    {
        var stream = BuildFrame(s_key, version, 1, 0, 0, []);

        var result = Feed(stream, Exact(stream));
        Assert.Equal(FrameError.UnsupportedVersion, result.Error);
        Assert.Contains($"expected version 1, got {version}", result.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    public void TryRead_ValidTagOtherKind_UnknownKind(byte kind)
    {
        var stream = BuildFrame(s_key, 1, kind, 0, 0, []);

        Assert.Equal(FrameError.UnknownKind, Feed(stream, Exact(stream)).Error);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(0x8000)]
    public void TryRead_ValidTagNonZeroFlags_UnknownFlags(ushort flags)
    {
        var stream = BuildFrame(s_key, 1, 1, flags, 0, []);

        var result = Feed(stream, Exact(stream));
        Assert.Equal(FrameError.UnknownFlags, result.Error);
        Assert.Contains($"got 0x{flags:X4}", result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryRead_BadTagAndBadHeader_BadTagFirst()
    {
        // §3.4: nothing is interpreted before the tag; then version before seq.
        var forged = BuildFrame(s_otherKey, 9, 9, 9, 9, []);
        Assert.Equal(FrameError.BadTag, Feed(forged, Exact(forged)).Error);
        var badVersionAndSeq = BuildFrame(s_key, 9, 1, 0, 9, []);
        Assert.Equal(FrameError.UnsupportedVersion, Feed(badVersionAndSeq, Exact(badVersionAndSeq)).Error);
    }

    [Fact]
    public void TryRead_ReplayedFrame_SequenceMismatch()
    {
        var first = Seal(0, [[1]]);
        var stream = first.Concat(first).ToArray();

        var result = Feed(stream, Exact(stream));
        Assert.Single(result.Frames);
        Assert.Equal(FrameError.SequenceMismatch, result.Error);
        Assert.Equal("SequenceMismatch: expected seq 1, got 0", result.Message);
    }

    [Fact]
    public void TryRead_ReorderedFrames_SequenceMismatch()
    {
        var frames = SealEach(3);
        var stream = frames[1].Concat(frames[0]).ToArray();

        var result = Feed(stream, Exact(stream));
        Assert.Empty(result.Frames);
        Assert.Equal("SequenceMismatch: expected seq 0, got 1", result.Message);
    }

    [Fact]
    public void TryRead_DroppedFrame_SequenceMismatch()
    {
        var frames = SealEach(3);
        var stream = frames[0].Concat(frames[2]).ToArray();

        var result = Feed(stream, Exact(stream));
        Assert.Single(result.Frames);
        Assert.Equal("SequenceMismatch: expected seq 1, got 2", result.Message);
    }

    [Theory]
    [InlineData("05000000616263", "message length 5 at payload offset 0 overruns the 3 bytes")]         // over-fills
    [InlineData("0100000061ffff", "2 bytes at payload offset 5 are too few")]                            // under-fills
    [InlineData("010000006100000000", "zero-length message at payload offset 5")]                        // zero length
    [InlineData("00", "1 bytes at payload offset 0 are too few")]
    [InlineData("ffffffff61", "message length 4294967295 at payload offset 0 overruns")]
    public void TryRead_ValidTagBadMessageLengths_MalformedPayload(string payloadHex, string detail)
    {
        var stream = BuildFrame(s_key, 1, 1, 0, 0, Convert.FromHexString(payloadHex));

        var result = Feed(stream, Exact(stream));
        Assert.Equal(FrameError.MalformedPayload, result.Error);
        Assert.Contains(detail, result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryRead_AfterInvalidData_StaysFailed()
    {
        using var reader = new FrameReader(s_key);
        var bad = Seal(5, [[1]]);
        var good = Seal(0, [[1]]);
        Write(reader, bad);
        Assert.Equal(OperationStatus.InvalidData, reader.TryRead(out var failed));
        Assert.Equal((0UL, 0, 0, 0), (failed.Seq, failed.Kind, failed.Flags, failed.MessageCount));
        Write(reader, good);

        Assert.Equal(OperationStatus.InvalidData, reader.TryRead(out _));
        Assert.Equal(FrameError.SequenceMismatch, reader.CreateException()!.Error);
    }

    [Fact]
    public void Seal_AfterLastSequenceNumber_ThrowsInsteadOfWrapping()
    {
        using var writer = new FrameWriter(s_key, ulong.MaxValue);
        writer.WriteMessage([1]);
        writer.Seal();

        Assert.Equal(ulong.MaxValue, BinaryPrimitives.ReadUInt64LittleEndian(writer.WrittenSpan[8..]));
        Assert.Throws<InvalidOperationException>(writer.Seal);
        Assert.Equal(53, writer.WrittenSpan.Length); // the last frame is intact
    }

    [Fact]
    public void TryRead_FrameAfterLastSequenceNumber_SequenceMismatchNotWrap()
    {
        using var reader = new FrameReader(s_key, ulong.MaxValue);
        Write(reader, Seal(ulong.MaxValue, [[1]]));
        Assert.Equal(OperationStatus.Done, reader.TryRead(out _));
        Write(reader, Seal(0, [[1]])); // would be accepted if the expected seq wrapped to 0

        Assert.Equal(OperationStatus.InvalidData, reader.TryRead(out _));
        Assert.Equal(FrameError.SequenceMismatch, reader.Error);
    }

    // ---- split variants ----

    public static TheoryData<string> Streams => new(s_streams.Keys);

    private static readonly Dictionary<string, byte[]> s_streams = new()
    {
        ["heartbeat"] = Seal(0, []),
        ["small"] = Seal(0, [s_small]),
        ["three-frames"] = [.. Seal(0, [s_small, [1]]), .. Seal(1, []), .. Seal(2, [RandomBytes(700, 3)])],
        ["64k"] = Seal(0, [RandomBytes(65536, 4)]),
        ["many-messages"] = Seal(0, Enumerable.Range(1, 40).Select(i => RandomBytes(i, i)).ToArray()),
        ["second-replayed"] = [.. Seal(0, [[1]]), .. Seal(0, [[1]])],
        ["bad-tag-after-one"] = [.. Seal(0, [[1]]), .. BuildFrame(s_otherKey, 1, 1, 0, 1, [])],
        ["malformed-after-one"] = [.. Seal(0, [[1]]), .. BuildFrame(s_key, 1, 1, 0, 1, [1, 0, 0, 0])],
        ["too-large-after-one"] = [.. Seal(0, [[1]]), 0xFF, 0xFF, 0xFF, 0xFF],
        ["truncated"] = Seal(0, [s_small])[..^1],
    };

    [Theory]
    [MemberData(nameof(Streams))]
    public void TryRead_EverySplitOfStream_GivesSameResult(string name)
    {
        var stream = s_streams[name];
        var expected = Feed(stream, Exact(stream));

        Assert.Equal(expected, Feed(stream, Enumerable.Repeat(1, stream.Length)));
        Assert.Equal(expected, Feed(stream, RandomChunks(stream.Length, seed: stream.Length)));
        Assert.Equal(expected, Feed(stream, RandomChunks(stream.Length, seed: 7, maxChunk: 10)));
        var step = stream.Length > 4096 ? 997 : 1; // every index for small streams, a sample for 64 KiB
        for (var i = 1; i < stream.Length; i += step)
        {
            Assert.Equal(expected, Feed(stream, [i, stream.Length - i]));
        }
    }

    // ---- fuzz ----

    [Fact]
    public void TryRead_RandomBytes_NeverThrowsNorAcceptsForgery()
    {
        var random = new Random(12345);
        var errors = new Dictionary<FrameError, int>();
        for (var n = 0; n < 20_000; n++)
        {
            var bytes = RandomBytesFrom(random, random.Next(0, 200));
            if (bytes.Length >= 48 && random.Next(2) == 0)
            {
                // Make the length plausible so that the tag check is reached, not only step 2.
                BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)random.Next(44, bytes.Length - 3));
            }
            var result = Feed(bytes, RandomChunks(bytes.Length, random.Next(), maxChunk: 64));
            Assert.Empty(result.Frames);
            if (result.Error is { } error)
            {
                errors[error] = errors.GetValueOrDefault(error) + 1;
            }
        }
        Assert.True(errors.GetValueOrDefault(FrameError.BadTag) > 5000, string.Join(", ", errors));
        Assert.True(errors.GetValueOrDefault(FrameError.TooLarge) > 5000, string.Join(", ", errors));
    }

    [Fact]
    public void TryRead_MutatedValidStreams_ReturnsOnlyOriginalFrames()
    {
        var frames = new[] { Seal(0, [s_small]), Seal(1, [[1], [2, 3]]), Seal(2, []), Seal(3, [RandomBytes(100, 9)]) };
        var stream = frames.SelectMany(f => f).ToArray();
        var random = new Random(54321);
        var outcomes = new int[3];
        for (var n = 0; n < 10_000; n++)
        {
            var mutated = Mutate(stream, random);
            var result = Feed(mutated, RandomChunks(mutated.Length, random.Next()));

            // A frame returned is one of the originals, at its place: no mutation got past the tag.
            for (var i = 0; i < result.Frames.Count; i++)
            {
                Assert.Equal(frames[i], result.Frames[i].Bytes);
            }
            outcomes[result.Error is null ? (result.Frames.Count == frames.Length ? 0 : 1) : 2]++;
        }
        Assert.True(outcomes[2] > 5000, $"outcomes {string.Join(",", outcomes)}");
    }

    // ---- allocation ----

    [Fact]
    public void SealAndTryRead_AfterWarmUp_AllocateNothing()
    {
        using var writer = new FrameWriter(s_key);
        using var reader = new FrameReader(s_key);
        var payload = RandomBytes(1024, 1);
        var bytes = 0L;
        RoundTrip(100); // warm-up: JIT tiers, pool buffers

        var before = GC.GetAllocatedBytesForCurrentThread();
        RoundTrip(1000);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
        Assert.Equal(1100L * (18 + 1024), bytes); // the loop did the work
        Assert.Equal(1100UL, reader.ExpectedSeq);

        void RoundTrip(int frames)
        {
            for (var i = 0; i < frames; i++)
            {
                writer.WriteMessage(s_small);
                writer.WriteMessage(payload);
                writer.Seal();
                writer.WrittenSpan.CopyTo(reader.GetMemory(writer.WrittenSpan.Length).Span);
                reader.Advance(writer.WrittenSpan.Length);
                writer.Clear();
                if (reader.TryRead(out var frame) != OperationStatus.Done)
                {
                    Assert.Fail(reader.ErrorMessage);
                }
                foreach (var message in frame)
                {
                    bytes += message.Length;
                }
                // The stateless core with the static HMAC also allocates nothing.
                if (Framing.TryReadFrame(frame.Bytes, s_key, frame.Seq, Framing.DefaultMaxFrameLength, out _, out _, out _) != OperationStatus.Done)
                {
                    Assert.Fail("static TryReadFrame");
                }
            }
        }
    }

    // ---- helpers ----

    private sealed record ReadFrame(ulong Seq, byte[][] Messages, byte[] Bytes)
    {
        public bool Equals(ReadFrame? other) =>
            other is not null && Seq == other.Seq && Bytes.AsSpan().SequenceEqual(other.Bytes);

        public override int GetHashCode() => Seq.GetHashCode();
    }

    private sealed record ReadResult(List<ReadFrame> Frames, FrameError? Error, string? Message, int Buffered)
    {
        public bool Equals(ReadResult? other) =>
            other is not null && Frames.SequenceEqual(other.Frames) && Error == other.Error && Message == other.Message && Buffered == other.Buffered;

        public override int GetHashCode() => Frames.Count;

        public override string ToString() => $"{Frames.Count} frames, {Error}: {Message}, {Buffered} buffered";
    }

    /// <summary>Feeds a stream to a reader in the given chunk sizes, draining frames after each chunk.</summary>
    private static ReadResult Feed(byte[] stream, IEnumerable<int> chunks, byte[]? key = null, int max = Framing.DefaultMaxFrameLength)
    {
        using var reader = new FrameReader(key ?? s_key, maxFrameLength: max);
        var frames = new List<ReadFrame>();
        var offset = 0;
        using var sizes = chunks.GetEnumerator();
        while (offset < stream.Length && sizes.MoveNext())
        {
            var chunkEnd = Math.Min(stream.Length, offset + sizes.Current);
            while (offset < chunkEnd)
            {
                var memory = reader.GetMemory(chunkEnd - offset).Span;
                var n = Math.Min(memory.Length, chunkEnd - offset);
                stream.AsSpan(offset, n).CopyTo(memory);
                reader.Advance(n);
                offset += n;
                while (true)
                {
                    var status = reader.TryRead(out var frame);
                    if (status == OperationStatus.Done)
                    {
                        var messages = new List<byte[]>();
                        foreach (var m in frame)
                        {
                            messages.Add(m.ToArray());
                        }
                        Assert.Equal(frame.MessageCount, messages.Count);
                        Assert.Equal(HMACSHA256.HashData(key ?? s_key, frame.Bytes[..^32]), frame.Bytes[^32..].ToArray());
                        frames.Add(new ReadFrame(frame.Seq, [.. messages], frame.Bytes.ToArray()));
                        continue;
                    }
                    if (status == OperationStatus.InvalidData)
                    {
                        Assert.NotNull(reader.Error);
                        return new ReadResult(frames, reader.Error, reader.ErrorMessage, -1);
                    }
                    Assert.Equal(OperationStatus.NeedMoreData, status);
                    Assert.Null(reader.Error);
                    break;
                }
            }
        }
        return new ReadResult(frames, null, null, reader.BufferedCount);
    }

    /// <summary>Feeds bytes to a long-lived reader as the socket loop would, returning the first message of each frame.</summary>
    private static List<byte[]> Feed(FrameReader reader, byte[] bytes)
    {
        var firsts = new List<byte[]>();
        for (var offset = 0; offset < bytes.Length;)
        {
            var free = reader.GetMemory().Span;
            var n = Math.Min(free.Length, bytes.Length - offset);
            bytes.AsSpan(offset, n).CopyTo(free);
            reader.Advance(n);
            offset += n;
            while (reader.TryRead(out var frame) == OperationStatus.Done)
            {
                foreach (var m in frame)
                {
                    firsts.Add(m.ToArray());
                    break;
                }
            }
            Assert.Null(reader.Error);
        }
        return firsts;
    }

    private static void Write(FrameReader reader, byte[] bytes)
    {
        bytes.CopyTo(reader.GetMemory(bytes.Length));
        reader.Advance(bytes.Length);
    }

    private static int[] Exact(byte[] stream) => [stream.Length];

    private static IEnumerable<int> RandomChunks(int total, int seed, int maxChunk = 5000)
    {
        var random = new Random(seed);
        for (var sent = 0; sent < total;)
        {
            var n = random.Next(1, maxChunk + 1);
            sent += n;
            yield return n;
        }
    }

    private static byte[] Seal(ulong seq, byte[][] messages)
    {
        using var writer = new FrameWriter(s_key, seq);
        foreach (var m in messages)
        {
            writer.WriteMessage(m);
        }
        writer.Seal();
        return writer.WrittenSpan.ToArray();
    }

    private static byte[][] SealEach(int count)
    {
        using var writer = new FrameWriter(s_key);
        var frames = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            writer.WriteMessage([(byte)(i + 1)]);
            writer.Seal();
            frames[i] = writer.WrittenSpan.ToArray();
            writer.Clear();
        }
        return frames;
    }

    /// <summary>Builds a frame by hand, tag included, so that a bad header can carry a valid tag.</summary>
    private static byte[] BuildFrame(byte[] key, byte version, byte kind, ushort flags, ulong seq, byte[] payload)
    {
        var frame = new byte[16 + payload.Length + 32];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)(frame.Length - 4));
        frame[4] = version;
        frame[5] = kind;
        BinaryPrimitives.WriteUInt16LittleEndian(frame.AsSpan(6), flags);
        BinaryPrimitives.WriteUInt64LittleEndian(frame.AsSpan(8), seq);
        payload.CopyTo(frame, 16);
        HMACSHA256.HashData(key, frame.AsSpan(0, frame.Length - 32), frame.AsSpan(frame.Length - 32));
        return frame;
    }

    private static byte[] Mutate(byte[] stream, Random random)
    {
        var bytes = new List<byte>(stream);
        for (var k = random.Next(1, 4); k > 0; k--)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(5))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    bytes.Insert(at, (byte)random.Next(256));
                    break;
                case 3:
                    bytes.RemoveAt(at);
                    break;
                default:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
            }
            if (bytes.Count == 0)
            {
                break;
            }
        }
        return [.. bytes];
    }

    private static byte[] RandomBytes(int length, int seed) => RandomBytesFrom(new Random(seed), length);

    private static byte[] RandomBytesFrom(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }
}
