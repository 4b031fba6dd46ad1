using System.Buffers;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using CommunityToolkit.HighPerformance.Buffers;

namespace Noex.Lite.Bench;

/// <summary>
/// Frame sign (Seal) and verify (TryRead) per payload size, against a raw HMACSHA256.HashData over the
/// bytes a frame's tag covers, so that the framing overhead shows as the ratio. All must be 0 B/op.
/// </summary>
[Config(typeof(BenchConfig))]
public class FramingBenchmarks
{
    private static readonly byte[] s_small = Convert.FromHexString("0702047479706523676574036B6579226B31");

    private readonly byte[] _key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
    private readonly byte[] _tag = new byte[32];
    private byte[] _message = [];
    private byte[] _frame = [];
    private FrameWriter _writer = null!;
    private FrameReader _reader = null!;
    private IncrementalHash _mac = null!;
    private ArrayPoolBufferWriter<byte> _toolkitWriter = null!;

    /// <summary>The message size: 18 B (protocol.md's small get message), 1 KiB, 64 KiB.</summary>
    [Params(18, 1024, 65536)]
    public int PayloadSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _message = PayloadSize == s_small.Length ? s_small : Enumerable.Range(0, PayloadSize).Select(i => (byte)i).ToArray();
        _writer = new FrameWriter(_key);
        _reader = new FrameReader(_key);
        _mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, _key);
        _toolkitWriter = new ArrayPoolBufferWriter<byte>(FrameWriter.DefaultBufferSize);
        using var writer = new FrameWriter(_key);
        writer.WriteMessage(_message);
        writer.Seal();
        _frame = writer.WrittenSpan.ToArray();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _writer.Dispose();
        _reader.Dispose();
        _mac.Dispose();
        _toolkitWriter.Dispose();
    }

    /// <summary>The static one-shot HMAC over what a tag covers: length, header and payload.</summary>
    [Benchmark(Baseline = true)]
    public int HmacHashData() => HMACSHA256.HashData(_key, _frame.AsSpan(0, _frame.Length - Framing.TagSize), _tag);

    /// <summary>The same HMAC through a reused IncrementalHash, as the writer and the reader use it.</summary>
    [Benchmark]
    public bool HmacIncremental()
    {
        _mac.AppendData(_frame.AsSpan(0, _frame.Length - Framing.TagSize));
        return _mac.TryGetHashAndReset(_tag, out _);
    }

    /// <summary>Write one message, seal the frame (back-fill, tag), clear after the "send".</summary>
    [Benchmark]
    public int Seal()
    {
        _writer.WriteMessage(_message);
        _writer.Seal();
        int written = _writer.WrittenSpan.Length;
        _writer.Clear();
        return written;
    }

    /// <summary>Verify one frame with the stateless core: the 7 steps of §3.4, tag compare included.</summary>
    [Benchmark]
    public int TryReadFrame()
    {
        Framing.TryReadFrame(_frame, _mac, 0, Framing.DefaultMaxFrameLength, out FrameView frame, out int consumed, out _);
        return consumed + frame.MessageCount;
    }

    /// <summary>A whole hop: seal, copy into the reader's receive buffer, TryRead, walk the messages.</summary>
    [Benchmark]
    public int SealThenReaderTryRead()
    {
        _writer.WriteMessage(_message);
        _writer.Seal();
        // The reader hands out at most 16 KiB of free space until a frame's length has been checked.
        for (ReadOnlySpan<byte> sent = _writer.WrittenSpan; !sent.IsEmpty;)
        {
            Span<byte> free = _reader.GetMemory(sent.Length).Span;
            int n = Math.Min(free.Length, sent.Length);
            sent[..n].CopyTo(free);
            _reader.Advance(n);
            sent = sent[n..];
        }
        _writer.Clear();
        int bytes = 0;
        if (_reader.TryRead(out FrameView frame) == OperationStatus.Done)
        {
            foreach (ReadOnlySpan<byte> message in frame)
            {
                bytes += message.Length;
            }
        }
        return bytes;
    }

    /// <summary>What CommunityToolkit's ArrayPoolBufferWriter.Clear() costs per frame: it zeroes what was written.</summary>
    [Benchmark]
    public int ToolkitWriterClear()
    {
        _toolkitWriter.Advance(_toolkitWriter.GetSpan(_frame.Length).Length >= _frame.Length ? _frame.Length : 0);
        int written = _toolkitWriter.WrittenCount;
        _toolkitWriter.Clear();
        return written;
    }
}
