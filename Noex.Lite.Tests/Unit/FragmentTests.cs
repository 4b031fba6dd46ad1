using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;

namespace Noex.Lite.Tests;

/// <summary>
/// Messages longer than 64 KiB cross as fragments (protocol.md §5.1) so that heartbeats and gossip go between them: the
/// reassembler's checks, and a connection's read side fed by hand. The vectors are <see cref="FragmentConformanceTests"/>'s,
/// large messages between real nodes <see cref="FragmentClusterTests"/>'.
/// </summary>
[Trait("Category", Category.Unit)]
public class FragmentTests
{
    internal const int MaxMessage = 16 * 1024 * 1024 - Framing.SingleMessageOverhead;

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

    // The expected error by name: FragmentError is internal, and a theory's data must be public.
    public static TheoryData<string, int[][], string> Hostile => new()
    {
        { "total of one chunk: it would have gone whole", [[65536, 0, 100]], nameof(FragmentError.BadTotal) },
        { "total above the largest message", [[MaxMessage + 1, 0, 65536]], nameof(FragmentError.BadTotal) },
        { "first fragment not at offset 0", [[100_000, 65536, 34464]], nameof(FragmentError.OutOfOrder) },
        { "a chunk skipped", [[200_000, 0, 65536], [200_000, 131072, 65536]], nameof(FragmentError.OutOfOrder) },
        { "the total changes", [[200_000, 0, 65536], [300_000, 65536, 65536]], nameof(FragmentError.OutOfOrder) },
        { "a short chunk that is not the last", [[200_000, 0, 1000]], nameof(FragmentError.BadChunk) },
        { "too long: past the total", [[100_000, 0, 65536], [100_000, 65536, 65536]], nameof(FragmentError.BadChunk) },
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Assembler_HostileSequence_FailsWithItsError(string why, int[][] fragments, string expected)
    {
        using var assembler = new FragmentAssembler(MaxMessage);
        var error = Assert.Throws<FragmentException>(() =>
        {
            foreach (var f in fragments)
            {
                assembler.Accept(Fragment(f[0], f[1], f[2]), out _);
            }
        });
        Assert.True(expected == error.Error.ToString(), $"{why}: {error.Message}");
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

    /// <summary>A message of <paramref name="length"/> bytes whose every byte says where it is, so that <see cref="Intact"/> can tell.</summary>
    internal static byte[] Blob(int length)
    {
        var blob = new byte[length];
        for (var i = 0; i < length; i++)
        {
            blob[i] = (byte)(i * 31 + (i >> 16));
        }
        return blob;
    }

    /// <summary>Whether <paramref name="blob"/> is what <see cref="Blob"/> made: every byte where it belongs.</summary>
    internal static bool Intact(ReadOnlySpan<byte> blob)
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

    private sealed class Handler : IConnectionHandler
    {
        public List<byte[]> Messages { get; } = [];

        public void OnMessage(Connection connection, ReadOnlySpan<byte> message) => Messages.Add(message.ToArray());

        public void OnClosed(Connection connection)
        {
        }
    }

    /// <summary>A connection's read side fed by hand with frames sealed under its key, as a hostile peer could send them.</summary>
    private static async Task<(FragmentException Error, List<byte[]> Delivered)> FeedAsync(params byte[][][] frames)
    {
        var key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
        var handler = new Handler();
        var connection = new Connection(new Socket(SocketType.Stream, ProtocolType.Tcp), null, NodeId.Parse("peer@127.0.0.1:1"), 1,
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

    [Fact]
    public async Task Connection_MessageOver64KiBInOneFrame_IsAcceptedUnfragmented()
    {
        // protocol.md §5.1: fragmenting is the sender's duty, not the receiver's condition.
        var message = Blob(200_000);
        message[0] = 0x12;
        var (error, delivered) = await FeedAsync([message], [Fragment(65536, 0, 10)]);

        Assert.Equal(FragmentError.BadTotal, error.Error); // the trailing bad fragment, only there to end the feed
        Assert.Equal(message, Assert.Single(delivered));
    }
}
