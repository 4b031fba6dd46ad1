using System.Text;

namespace Noex.Lite.Tests;

// The cache is shared by every test that decodes, and tests run in parallel, so no test here relies on a slot keeping its
// string between two calls; they check that every answer is right, and measure allocation over many decodes.
[Trait("Category", Category.Unit)]
public class StringCacheTests
{
    private static readonly Value SmallMessage = Value.Parse("""{"type":"get","key":"k1"}""");

    [Fact]
    public void Decode_RepeatedMessage_GivesEqualValuesAndReusesStrings()
    {
        var bytes = ValueCodec.Encode(SmallMessage);
        var first = ValueCodec.Decode(bytes);
        var reused = false;
        for (var i = 0; i < 100; i++)
        {
            var decoded = ValueCodec.Decode(bytes);
            Assert.Equal(SmallMessage, decoded);
            Assert.Equal(bytes, ValueCodec.Encode(decoded));
            reused |= ReferenceEquals(first["type"].AsString(), decoded["type"].AsString());
        }
        Assert.True(reused, "the string \"get\" was never served from the cache");
    }

    [Fact]
    public void Decode_RepeatedSmallMessage_DoesNotAllocateItsStrings()
    {
        var bytes = ValueCodec.Encode(SmallMessage);
        ValueCodec.Decode(bytes);
        const int Rounds = 1000;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < Rounds; i++)
        {
            ValueCodec.Decode(bytes);
        }
        var perDecode = (GC.GetAllocatedBytesForCurrentThread() - before) / Rounds;
        // The tree alone is 128 bytes here; the four strings would add 120 ("type", "get", "key", "k1"), and the two
        // values alone 56. The margin covers the few decodes whose slots another test's decoding evicts meanwhile.
        Assert.InRange(perDecode, 0, 140);
    }

    [Fact]
    public void Get_CollidingInputs_NeverReturnsTheOtherString()
    {
        var pairs = CollidingPairs().ToList();
        Assert.True(pairs.Count >= 20, $"only {pairs.Count} colliding pairs found");
        foreach (var (a, b) in pairs)
        {
            for (var round = 0; round < 3; round++)
            {
                Assert.Equal(a, Get(a));
                Assert.Equal(a, Get(a));
                Assert.Equal(b, Get(b));
                Assert.Equal(b, Get(b));
            }
        }
    }

    [Fact]
    public void Get_ManyDistinctStrings_ReturnsEachExactly()
    {
        var texts = new List<string> { "", "a", "é", "中", "😀", new string('x', StringCache.MaxLength), new string('x', StringCache.MaxLength + 1) };
        for (var i = 0; i < 5000; i++)
        {
            texts.Add((i % 5) switch
            {
                0 => "k" + i,
                1 => "ключ" + i,
                2 => new string((char)('a' + i % 26), i % 40),
                3 => "中" + i + "文",
                _ => "😀" + (i % 300),
            });
        }
        for (var round = 0; round < 2; round++)
        {
            foreach (var text in texts)
            {
                Assert.Equal(text, Get(text));
            }
        }
    }

    [Fact]
    public void Get_SameLengthAsciiAndNonAscii_AreNotConfused()
    {
        // "éa" is 2 chars and 3 bytes; "abc" is 3 chars and 3 bytes; "中" is 1 char and 3 bytes. Whatever slots they take,
        // each must come back as itself.
        string[] texts = ["abc", "éa", "aé", "中", "ab", "é", "😀", "abcd", "a😀"];
        for (var round = 0; round < 3; round++)
        {
            foreach (var text in texts)
            {
                Assert.Equal(text, Get(text));
            }
        }
    }

    [Fact]
    public void Matches_IsTrueExactlyForTheSameText()
    {
        // Get reaches Matches only when slot and check bits agree, which distinct short texts almost never do, so the
        // compare is tested on its own, on every pair: same and different lengths, ASCII and not, same char count with
        // different byte counts, and texts that differ only in the first, a middle or the last char.
        string[] texts =
        [
            "a", "b", "ab", "abc", "abd", "Ã©", "é", "bbc", "aXc", "éa", "aé", "ée", "中", "ä¸\u00AD", "中a", "a中", "😀", "😁", "a😀", "abcd",
            "ü1", "ü2", "ünïcödé 1", "ünïcödé 2", "ünïcödé 12", "unicode 12", "user-1@example.com", "user-2@example.com",
            new string('x', StringCache.MaxLength), new string('x', StringCache.MaxLength - 1) + "y",
            string.Concat(Enumerable.Repeat("é", StringCache.MaxLength / 2)), string.Concat(Enumerable.Repeat("中", 10)) + "xy",
        ];
        foreach (var cached in texts)
        {
            foreach (var input in texts)
            {
                var bytes = Encoding.UTF8.GetBytes(input);
                if (bytes.Length <= StringCache.MaxLength)
                {
                    Assert.True(StringCache.Matches(cached, bytes) == (cached == input), $"'{cached}' vs '{input}'");
                }
            }
        }
    }

    [Fact]
    public void Decode_InvalidUtf8AfterTheValidTextIsCached_StillFails()
    {
        Assert.Equal("ab", ValueCodec.Decode([0x22, (byte)'a', (byte)'b']).AsString());
        var e = Assert.Throws<ValueCodecException>(() => ValueCodec.Decode([0x22, (byte)'a', 0xFF]));
        Assert.Equal(ValueCodecError.InvalidUtf8, e.Error);
        Assert.Equal(0, e.Offset);
        // A key: {"a\xff": null}.
        e = Assert.Throws<ValueCodecException>(() => ValueCodec.Decode([0x07, 0x01, 0x02, (byte)'a', 0xFF, 0x00]));
        Assert.Equal(ValueCodecError.InvalidUtf8, e.Error);
    }

    [Fact]
    public async Task Decode_FromSeveralThreads_GivesCorrectValues()
    {
        // Each thread decodes its own messages and some shared ones; colliding strings make the threads replace each
        // other's slots all the time.
        var colliding = CollidingPairs().Take(64).SelectMany(p => new[] { p.A, p.B }).ToArray();
        const int Threads = 4;
        var messages = Enumerable.Range(0, Threads).Select(t =>
            Enumerable.Range(0, 50).Select(i =>
            {
                var builder = new Value.ObjectBuilder();
                builder.Add("type", i % 2 == 0 ? "get" : "put");
                builder.Add("key", "k" + (i % 7));
                builder.Add("thread" + t, colliding[(t * 50 + i) % colliding.Length]);
                builder.Add(colliding[(t + i) % colliding.Length], "v" + t + "-" + i + "é");
                return builder.Build();
            }).Select(v => (Value: v, Bytes: ValueCodec.Encode(v))).ToArray()).ToArray();
        using var start = new Barrier(Threads);
        var workers = Enumerable.Range(0, Threads).Select(t => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait(TimeSpan.FromSeconds(30));
            for (var round = 0; round < 200; round++)
            {
                foreach (var (value, bytes) in messages[t])
                {
                    var decoded = ValueCodec.Decode(bytes);
                    if (!decoded.Equals(value))
                    {
                        throw new InvalidOperationException($"thread {t}: decoded {decoded}, expected {value}");
                    }
                }
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60));
    }

    private static string Get(string text) => StringCache.Get(Encoding.UTF8.GetBytes(text));

    // Pairs of distinct strings that map to the same slot, ASCII and not, of the same and of different lengths.
    private static IEnumerable<(string A, string B)> CollidingPairs()
    {
        var firstInSlot = new Dictionary<int, string>();
        for (var i = 0; i < 20_000; i++)
        {
            var text = (i % 3) switch { 0 => "key" + i, 1 => "é" + i, _ => "k" + (i * 7919) + "中" };
            var slot = StringCache.SlotOf(Encoding.UTF8.GetBytes(text));
            if (firstInSlot.TryGetValue(slot, out var other))
            {
                yield return (other, text);
            }
            else
            {
                firstInSlot[slot] = text;
            }
        }
    }
}
