using System.Buffers;
using System.Text;
using CommunityToolkit.HighPerformance.Buffers;

namespace Noex.Lite.Tests;

[Trait("Category", Category.Unit)]
public class ValueCodecTests
{
    // JSON texts in the exact form ValueJson writes them, so JSON → value → binary → value → JSON must be the identity.
    public static TheoryData<string> RoundTripJson => new()
    {
        "null", "true", "false",
        "0", "127", "128", "-1", "-64", "-65", "8191", "8192", "-9223372036854775808", "9223372036854775807",
        "1.0", "-0.0", "0.0", "0.1", "5E-324", "1.7976931348623157E+308", "1.5E+300", "-2.5", "123456.789",
        "\"\"", "\"é\"", "\"中文\"", "\"😀 and 👍🏽\"", "\"a\\u0000b\"", "\"q\\\"b\\\\n\\nt\\t\"",
        "\"" + new string('a', 31) + "\"", "\"" + new string('a', 32) + "\"",
        "\"" + string.Concat(Enumerable.Repeat("中", 10)) + "x\"", "\"" + string.Concat(Enumerable.Repeat("中", 11)) + "\"",
        "\"" + string.Concat(Enumerable.Repeat("é", 21)) + "\"", "\"" + new string('z', 200) + "\"",
        "[]", "{}", "[[]]", "[{}]", "{\"a\":[]}",
        "[1,[2,[3,[4]]],{\"x\":{\"y\":null}}]",
        "{\"b\":1,\"a\":2,\"c\":3}",
        "{\"type\":\"get\",\"key\":\"k1\"}",
        "{\"中文键\":\"值\",\"\":\"empty key\"}",
        "{\"__noex_type__\":\"Binary\",\"value\":\"\"}",
        "{\"__noex_type__\":\"Binary\",\"value\":\"AAECA/8=\"}",
        "[{\"__noex_type__\":\"Binary\",\"value\":\"3q2+7w==\"},1.0,1]",
    };

    [Theory]
    [MemberData(nameof(RoundTripJson))]
    public void Encode_JsonRoundTrip_GivesSameJsonAndBytes(string json)
    {
        var value = Value.Parse(json);
        var bytes = ValueCodec.Encode(value);
        var decoded = ValueCodec.Decode(bytes);
        Assert.Equal(value, decoded);
        Assert.Equal(json, decoded.ToString());
        Assert.Equal(bytes, ValueCodec.Encode(decoded));
        Assert.Equal(bytes.Length, ValueCodec.GetEncodedLength(value));
    }

    [Fact]
    public void Encode_LargeValue_RoundTrips()
    {
        var value = Corpus.Large();
        var bytes = ValueCodec.Encode(value);
        Assert.InRange(bytes.Length, 60_000, 80_000);
        var decoded = ValueCodec.Decode(bytes);
        Assert.Equal(value, decoded);
        Assert.Equal(value.ToString(), decoded.ToString());
        Assert.Equal(value.ToString(), Value.Parse(value.ToString()).ToString());
        Assert.Equal(bytes, ValueCodec.Encode(decoded));
    }

    [Fact]
    public void Encode_KeyOrder_IsKept()
    {
        var value = Value.Object(("z", 1), ("a", 2), ("m", 3));
        var decoded = ValueCodec.Decode(ValueCodec.Encode(value));
        Assert.Equal(["z", "a", "m"], decoded.AsObject().ToArray().Select(e => e.Key));
    }

    [Fact]
    public void Decode_StringStartingWithByteOrderMark_KeepsIt()
    {
        // protocol.md §1: a string carries no BOM of its own, so EF BB BF at its start is the character U+FEFF.
        byte[] bytes = [0x24, 0xEF, 0xBB, 0xBF, 0x61];
        var value = ValueCodec.Decode(bytes);
        Assert.Equal("\uFEFFa", value.AsString());
        Assert.Equal(bytes, ValueCodec.Encode(value));
    }

    [Fact]
    public void Encode_IntegerAndFloatOne_AreDifferentValues()
    {
        Assert.Equal("81", Convert.ToHexString(ValueCodec.Encode(1)));
        Assert.Equal("04000000000000F03F", Convert.ToHexString(ValueCodec.Encode(1.0)));
        Assert.Equal(ValueKind.Float, ValueCodec.Decode(ValueCodec.Encode(1.0)).Kind);
    }

    [Theory]
    [InlineData(0, "80")]
    [InlineData(127, "FF")]
    [InlineData(128, "038002")]
    [InlineData(-1, "0301")]
    [InlineData(8191, "03FE7F")]
    [InlineData(-8192, "03FF7F")]
    [InlineData(8192, "03808001")]
    [InlineData(long.MaxValue, "03FEFFFFFFFFFFFFFFFF01")]
    [InlineData(long.MinValue, "03FFFFFFFFFFFFFFFFFF01")]
    public void WriteInt64_Boundaries_GiveMinimalVarints(long value, string hex)
    {
        Assert.Equal(hex, Convert.ToHexString(ValueCodec.Encode(value)));
        var reader = new ValueReader(Convert.FromHexString(hex));
        Assert.Equal(value, reader.ReadInt64());
        Assert.True(reader.IsAtEnd);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(10)]
    [InlineData(11)]
    [InlineData(31)]
    [InlineData(32)]
    [InlineData(42)]
    [InlineData(43)]
    [InlineData(127)]
    [InlineData(128)]
    [InlineData(16384)]
    public void WriteString_EveryPathOfTheWriter_MatchesTheUtf8Overload(int length)
    {
        foreach (var unit in new[] { "a", "é", "中", "😀" })
        {
            var text = string.Concat(Enumerable.Repeat(unit, length / unit.Length + 1))[..Math.Max(0, length - (length % unit.Length))];
            var fromChars = new ArrayBufferWriter<byte>();
            var writer = new ValueWriter(fromChars);
            writer.WriteString(text);
            writer.Flush();
            var fromBytes = new ArrayBufferWriter<byte>();
            writer = new ValueWriter(fromBytes);
            writer.WriteString(Encoding.UTF8.GetBytes(text));
            writer.Flush();
            Assert.Equal(fromBytes.WrittenSpan.ToArray(), fromChars.WrittenSpan.ToArray());
            Assert.Equal(text, ValueCodec.Decode(fromChars.WrittenSpan).AsString());
        }
    }

    [Fact]
    public void WritePropertyName_LongAndShortKeys_RoundTrip()
    {
        var keys = new[] { "", "k", new string('k', 42), new string('k', 43), new string('é', 42), new string('中', 300) };
        var builder = new Value.ObjectBuilder();
        foreach (var key in keys)
        {
            builder.Add(key, key.Length);
        }
        var value = builder.Build();
        Assert.Equal(value, ValueCodec.Decode(ValueCodec.Encode(value)));
    }

    [Fact]
    public void ValueWriter_StreamingCalls_GiveSameBytesAsWholeValue()
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new ValueWriter(output);
        writer.WriteObjectHeader(7);
        writer.WritePropertyName("type"u8);
        writer.WriteString("get"u8);
        writer.WritePropertyName("n");
        writer.WriteNull();
        writer.WritePropertyName("t");
        writer.WriteBoolean(true);
        writer.WritePropertyName("f");
        writer.WriteDouble(-0.0);
        writer.WritePropertyName("a");
        writer.WriteArrayHeader(2);
        writer.WriteInt64(-5);
        writer.WriteBoolean(false);
        writer.WritePropertyName("b");
        writer.WriteBinary([1, 2, 3]);
        writer.WritePropertyName("v");
        writer.WriteValue(Value.Array(1, "x"));
        Assert.Equal(0, output.WrittenCount);
        writer.Flush();
        Assert.Equal(output.WrittenCount, writer.BytesWritten);

        var expected = Value.Object(("type", "get"), ("n", Value.Null), ("t", true), ("f", -0.0), ("a", Value.Array(-5, false)),
            ("b", Value.Binary([1, 2, 3])), ("v", Value.Array(1, "x")));
        Assert.Equal(ValueCodec.Encode(expected), output.WrittenSpan.ToArray());
    }

    [Fact]
    public void ValueWriter_ManySmallWrites_AdvancesOncePerSpan()
    {
        var output = new CountingBufferWriter();
        var writer = new ValueWriter(output);
        writer.WriteArrayHeader(1000);
        for (var i = 0; i < 1000; i++)
        {
            writer.WriteInt64(i);
        }
        writer.Flush();
        Assert.Equal(ValueCodec.Encode(Value.Array(Enumerable.Range(0, 1000).Select(i => (Value)i))), output.Written.ToArray());
        // ~2,900 bytes in spans of at least 256: far fewer Advance calls than the 1001 values written.
        Assert.InRange(output.AdvanceCalls, 1, 12);
    }

    [Fact]
    public void WriteDouble_NonFinite_ThrowsNonFiniteNumber()
    {
        foreach (var number in new[] { double.NaN, double.PositiveInfinity, double.NegativeInfinity })
        {
            var e = Assert.Throws<ValueCodecException>(() =>
            {
                var writer = new ValueWriter(new ArrayBufferWriter<byte>());
                writer.WriteDouble(number);
            });
            Assert.Equal(ValueCodecError.NonFiniteNumber, e.Error);
        }
    }

    [Fact]
    public void WriteString_UnpairedSurrogate_ThrowsInvalidUtf8()
    {
        foreach (var text in new[] { "\ud800", "ab\udc00", new string('a', 50) + "\ud800", "\ud83d" + new string('x', 20) })
        {
            Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() => ValueCodec.Encode(text)).Error);
            Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() => ValueCodec.Encode(Value.Object((text, 1)))).Error);
            Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() => ValueCodec.GetEncodedLength(text)).Error);
        }
    }

    [Fact]
    public void WriteString_InvalidUtf8Bytes_ThrowsInvalidUtf8()
    {
        Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() =>
        {
            var writer = new ValueWriter(new ArrayBufferWriter<byte>());
            writer.WriteString([0xC3, 0x28]);
        }).Error);
        Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() =>
        {
            var writer = new ValueWriter(new ArrayBufferWriter<byte>());
            writer.WritePropertyName([0xED, 0xA0, 0x80]);
        }).Error);
    }

    [Fact]
    public void Encode_DeeperThanMaxDepth_ThrowsDepthExceeded()
    {
        var value = Nest(65);
        Assert.Equal(ValueCodecError.DepthExceeded, Assert.Throws<ValueCodecException>(() => ValueCodec.Encode(value)).Error);
        Assert.Equal(value, ValueCodec.Decode(ValueCodec.Encode(value, maxDepth: 65), maxDepth: 65));
        Assert.Equal(ValueCodecError.DepthExceeded, Assert.Throws<ValueCodecException>(() => ValueCodec.Decode(ValueCodec.Encode(value, maxDepth: 65))).Error);
        Assert.Equal(Nest(64), ValueCodec.Decode(ValueCodec.Encode(Nest(64))));
    }

    [Fact]
    public void Decode_Hostile100kOpenArrays_ThrowsDepthExceededWithoutStackOverflow()
    {
        var input = new byte[200_000];
        for (var i = 0; i < input.Length; i += 2)
        {
            input[i] = 0x06;
            input[i + 1] = 0x01;
        }
        var e = Assert.Throws<ValueCodecException>(() => ValueCodec.Decode(input));
        Assert.Equal(ValueCodecError.DepthExceeded, e.Error);
        Assert.Equal(128, e.Offset);
        Assert.Equal(ValueCodecError.DepthExceeded, Assert.Throws<ValueCodecException>(() => new ValueReader(input).Skip()).Error);
    }

    [Fact]
    public void Decode_100kArrayTagBytes_ThrowsDepthExceeded()
    {
        // 100,000 bytes of 0x06: each is an array tag and, read as a count, an array of 6 elements.
        var input = new byte[100_000];
        input.AsSpan().Fill(0x06);
        Assert.Equal(ValueCodecError.DepthExceeded, Assert.Throws<ValueCodecException>(() => ValueCodec.Decode(input)).Error);
        Assert.Equal(ValueCodecError.DepthExceeded, Assert.Throws<ValueCodecException>(() => new ValueReader(input).Skip()).Error);
        input.AsSpan().Fill(0x07); // objects: the count 7, then the key length 7 and "\x07" * 7, then a value tag 0x07...
        Assert.Throws<ValueCodecException>(() => ValueCodec.Decode(input));
    }

    [Fact]
    public void Skip_LimitRaisedBeyondTheStack_ThrowsDepthExceededNotStackOverflow()
    {
        // 4 million nested arrays with the depth limit lifted: the stack guard must turn into a typed error.
        var input = new byte[8_000_000];
        for (var i = 0; i < input.Length; i += 2)
        {
            input[i] = 0x06;
            input[i + 1] = 0x01;
        }
        var e = Assert.Throws<ValueCodecException>(() => new ValueReader(input, int.MaxValue).Skip());
        Assert.Equal(ValueCodecError.DepthExceeded, e.Error);
        Assert.InRange(e.Offset, 1000, input.Length - 2);
    }

    [Theory]
    [InlineData("05 80 80 80 80 80 80 80 80 80 01", "a string of 2^63 bytes")]
    [InlineData("05 ff ff ff ff ff ff ff ff ff 01", "a string of 2^64-1 bytes")]
    [InlineData("06 80 80 80 80 10 80 80 80", "an array of 2^32 elements with 3 bytes left")]
    [InlineData("06 ff ff ff ff 07 80 80 80", "an array of int.MaxValue elements")]
    [InlineData("07 ff ff ff ff 07 00 80 00 80", "an object of int.MaxValue entries")]
    [InlineData("08 ff ff ff ff 0f 00 00 00 00", "a blob of 4 GB")]
    [InlineData("07 01 ff ff ff ff 0f 00 00 00", "a key of 4 GB")]
    public void Decode_HostileLength_ThrowsLengthExceedsInputWithoutAllocating(string hex, string what)
    {
        var input = ProtocolVectors.Hex(hex);
        ValueCodec.Decode([0x80]); // warm up
        var before = GC.GetAllocatedBytesForCurrentThread();
        ValueCodecError error = default;
        for (var i = 0; i < 10; i++)
        {
            error = ValueCodec.TryDecode(input, out _, out var e, out _) ? default : e;
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(error == ValueCodecError.LengthExceedsInput, what);
        // Ten failed decodes cost ten exceptions and their messages, nothing proportional to the declared length.
        Assert.InRange(allocated, 0, 10 * 4096);
    }

    [Fact]
    public void Decode_Hostile100kOpenArrays_AllocatesLittle()
    {
        var input = new byte[200_000];
        input.AsSpan().Fill(0x06);
        for (var i = 1; i < input.Length; i += 2)
        {
            input[i] = 0x01;
        }
        Assert.Throws<ValueCodecException>(() => ValueCodec.Decode(input));
        var before = GC.GetAllocatedBytesForCurrentThread();
        Assert.False(ValueCodec.TryDecode(input, out _, out _, out _));
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // 64 one-element Value arrays (48 bytes each) and one exception.
        Assert.InRange(allocated, 0, 16 * 1024);
    }

    [Fact]
    public void Decode_EveryPrefixOfEveryCorpusValue_FailsTyped()
    {
        foreach (var value in Corpus.Values())
        {
            var bytes = ValueCodec.Encode(value);
            for (var cut = 0; cut < bytes.Length; cut++)
            {
                var prefix = bytes.AsSpan(0, cut).ToArray();
                var e = Assert.Throws<ValueCodecException>(() => ValueCodec.Decode(prefix));
                Assert.True(e.Error is ValueCodecError.Truncated or ValueCodecError.LengthExceedsInput,
                    $"{value} cut at {cut}: {e.Error}");
                Assert.InRange(e.Offset, 0, cut);
                Assert.False(SkipAll(prefix));
            }
        }
    }

    [Fact]
    public void Decode_ManyDistinctKeys_ThroughTheKeyCacheStayExact()
    {
        // More keys than the per-thread cache has slots, so slots collide and are replaced; ASCII, non-ASCII, empty,
        // and longer than the cache takes.
        var builder = new Value.ObjectBuilder();
        for (var i = 0; i < 2000; i++)
        {
            builder.Add((i % 4) switch { 0 => "k" + i, 1 => "ключ" + i, 2 => new string('x', 30 + (i % 7)) + i, _ => "K" + i }, i);
        }
        builder.Add("", -1);
        var value = builder.Build();
        var bytes = ValueCodec.Encode(value);
        for (var round = 0; round < 3; round++)
        {
            var decoded = ValueCodec.Decode(bytes);
            Assert.Equal(value, decoded);
            Assert.Equal(value.AsObject().ToArray().Select(e => e.Key), decoded.AsObject().ToArray().Select(e => e.Key));
        }
    }

    [Fact]
    public void Decode_NestedTrailingBytes_ReportsOffset()
    {
        var e = Assert.Throws<ValueCodecException>(() => ValueCodec.Decode([0x06, 0x01, 0x80, 0x80]));
        Assert.Equal(ValueCodecError.TrailingBytes, e.Error);
        Assert.Equal(3, e.Offset);
    }

    [Fact]
    public void Decode_DuplicateKeyInLargeObject_ThrowsDuplicateKeyAtTheKey()
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new ValueWriter(output);
        writer.WriteObjectHeader(40);
        for (var i = 0; i < 40; i++)
        {
            writer.WritePropertyName(i == 39 ? "k7" : "k" + i);
            writer.WriteInt64(i);
        }
        writer.Flush();
        var bytes = output.WrittenSpan.ToArray();
        var e = Assert.Throws<ValueCodecException>(() => ValueCodec.Decode(bytes));
        Assert.Equal(ValueCodecError.DuplicateKey, e.Error);
        Assert.Equal(bytes.Length - 4, e.Offset);
        Assert.Contains("'k7'", e.Message);
        // Skip checks everything but key uniqueness (documented).
        var reader = new ValueReader(bytes);
        reader.Skip();
        Assert.True(reader.IsAtEnd);
    }

    [Fact]
    public void ValueReader_SmallMessage_ReadsFieldsWithoutMaterialising()
    {
        var bytes = ProtocolVectors.Get("small-get-message").Bytes("hex");
        var reader = new ValueReader(bytes);
        Assert.Equal(ValueKind.Object, reader.PeekKind());
        Assert.Equal(2, reader.ReadObjectHeader());
        Assert.True(reader.ReadPropertyName().SequenceEqual("type"u8));
        Assert.True(reader.ValueTextEquals("get"u8));
        Assert.False(reader.ValueTextEquals("got"u8));
        Assert.False(reader.ValueTextEquals("ge"u8));
        Assert.Equal("get", reader.ReadString());
        Assert.Equal("key", Encoding.UTF8.GetString(reader.ReadPropertyName()));
        Assert.True(reader.ReadStringSpan().SequenceEqual("k1"u8));
        Assert.True(reader.IsAtEnd);
        Assert.Equal(bytes.Length, reader.Consumed);
        Assert.Equal(0, reader.Remaining);
    }

    [Fact]
    public void ValueReader_EveryKind_ReadsWithTypedMethods()
    {
        var value = Value.Array(Value.Null, true, false, 5, -300, 2.5, "short", new string('L', 40), Value.Binary([9, 8]), Value.Array(1), Value.Object(("k", 1)));
        var bytes = ValueCodec.Encode(value);
        var reader = new ValueReader(bytes);
        Assert.Equal(11, reader.ReadArrayHeader());
        Assert.Equal(ValueKind.Null, reader.PeekKind());
        Assert.True(reader.TryReadNull());
        Assert.Equal(ValueKind.Bool, reader.PeekKind());
        Assert.False(reader.TryReadNull());
        Assert.True(reader.ReadBoolean());
        Assert.False(reader.ReadBoolean());
        Assert.Equal(5, reader.ReadDouble());
        Assert.Equal(-300, reader.ReadInt64());
        Assert.Equal(ValueKind.Float, reader.PeekKind());
        Assert.Equal(2.5, reader.ReadDouble());
        Assert.Equal(ValueKind.String, reader.PeekKind());
        Assert.Equal("short", reader.ReadString());
        Assert.True(reader.ValueTextEquals(Encoding.UTF8.GetBytes(new string('L', 40))));
        Assert.Equal(new string('L', 40), reader.ReadString());
        Assert.Equal(ValueKind.Binary, reader.PeekKind());
        Assert.Equal(new byte[] { 9, 8 }, reader.ReadBinarySpan().ToArray());
        Assert.Equal(ValueKind.Array, reader.PeekKind());
        Assert.Equal(Value.Array(1), reader.ReadValue());
        Assert.Equal(ValueKind.Object, reader.PeekKind());
        reader.Skip();
        Assert.True(reader.IsAtEnd);
        Assert.Equal(ValueCodecError.Truncated, Assert.Throws<ValueCodecException>(() => new ValueReader(bytes.AsSpan(0, 0)).PeekKind()).Error);
    }

    [Fact]
    public void ValueReader_WrongKind_ThrowsUnexpectedKindAtOffset()
    {
        var bytes = ValueCodec.Encode(Value.Array("s", 1));
        var e = Assert.Throws<ValueCodecException>(() =>
        {
            var reader = new ValueReader(bytes);
            reader.ReadArrayHeader();
            reader.ReadInt64();
        });
        Assert.Equal(ValueCodecError.UnexpectedKind, e.Error);
        Assert.Equal(2, e.Offset);
        Assert.Contains("expected Integer, found String", e.Message);
        foreach (var read in new Action<byte[]>[]
        {
            b => new ValueReader(b).ReadNull(), b => new ValueReader(b).ReadBoolean(), b => new ValueReader(b).ReadDouble(),
            b => new ValueReader(b).ReadStringSpan(), b => new ValueReader(b).ReadObjectHeader(), b => new ValueReader(b).ReadBinarySpan(),
        })
        {
            Assert.Equal(ValueCodecError.UnexpectedKind, Assert.Throws<ValueCodecException>(() => read(bytes)).Error);
        }
        Assert.Equal(ValueCodecError.UnexpectedKind, Assert.Throws<ValueCodecException>(() => new ValueReader([0x80]).ReadArrayHeader()).Error);
    }

    [Fact]
    public void ValueReader_InvalidUtf8_ThrowsFromSpanReadsAndPropertyNames()
    {
        Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() => new ValueReader([0x22, 0xC3, 0x28]).ReadStringSpan()).Error);
        Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() => new ValueReader([0x22, 0xC3, 0x28]).ReadString()).Error);
        Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() => new ValueReader([0x02, 0xC3, 0x28]).ReadPropertyName()).Error);
        Assert.Equal(ValueCodecError.InvalidUtf8, Assert.Throws<ValueCodecException>(() => new ValueReader([0x22, 0xC3, 0x28]).Skip()).Error);
    }

    [Fact]
    public void TryDecode_ValidAndInvalid_ReportsWithoutThrowing()
    {
        Assert.True(ValueCodec.TryDecode([0x81], out var value, out _, out var offset));
        Assert.Equal(1, value.AsInt64());
        Assert.Equal(-1, offset);
        Assert.False(ValueCodec.TryDecode([0x06, 0x02, 0x80], out value, out var error, out offset));
        Assert.True(value.IsNull);
        Assert.Equal(ValueCodecError.LengthExceedsInput, error);
        Assert.Equal(1, offset);
    }

    [Fact]
    public void Encode_IntoWarmedPooledWriter_AllocatesNothing()
    {
        var values = new[] { Corpus.Small(), Corpus.Medium(), Corpus.Large() };
        using var pooled = new ArrayPoolBufferWriter<byte>();
        var reused = new ArrayBufferWriter<byte>();
        foreach (var value in values)
        {
            ValueCodec.Encode(value, pooled);
            ValueCodec.Encode(value, reused);
        }
        foreach (var value in values)
        {
            pooled.Clear();
            reused.ResetWrittenCount();
            Assert.Equal(0, FewestBytesAllocated(() =>
            {
                for (var i = 0; i < 100; i++)
                {
                    pooled.Clear();
                    ValueCodec.Encode(value, pooled);
                    reused.ResetWrittenCount();
                    ValueCodec.Encode(value, reused);
                }
            }));
            Assert.Equal(ValueCodec.Encode(value), pooled.WrittenSpan.ToArray());
        }
    }

    /// <summary>
    /// The fewest bytes this thread allocated in one of three runs of <paramref name="work"/>: a path that allocates per
    /// call allocates in every run, while the runtime's one-time work on a loaded machine (a tier-up of a method, a pool
    /// refilled after other threads drained it) lands in one run at most.
    /// </summary>
    private static long FewestBytesAllocated(Action work)
    {
        var fewest = long.MaxValue;
        for (var run = 0; run < 3; run++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            work();
            fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return fewest;
    }

    [Fact]
    public void ValueReader_StreamingReadsOfSmallMessage_AllocateNothing()
    {
        var bytes = ValueCodec.Encode(Value.Object(("type", "get"), ("key", "k1"), ("n", 300), ("rest", Corpus.Medium())));
        ReadMessage(bytes);
        long sum = 0;
        Assert.Equal(0, FewestBytesAllocated(() =>
        {
            sum = 0;
            for (var i = 0; i < 100; i++)
            {
                sum += ReadMessage(bytes);
            }
        }));
        Assert.Equal(100 * (1 + 2 + 300), sum);

        static long ReadMessage(byte[] bytes)
        {
            var reader = new ValueReader(bytes);
            long result = 0;
            for (var n = reader.ReadObjectHeader(); n > 0; n--)
            {
                var name = reader.ReadPropertyName();
                if (name.SequenceEqual("type"u8))
                {
                    result += reader.ValueTextEquals("get"u8) ? 1 : 0;
                    reader.Skip();
                }
                else if (name.SequenceEqual("key"u8))
                {
                    result += reader.ReadStringSpan().Length;
                }
                else if (name.SequenceEqual("n"u8))
                {
                    result += reader.ReadInt64();
                }
                else
                {
                    reader.Skip();
                }
            }
            return result;
        }
    }

    [Fact]
    public void Fuzz_RandomBytes_NeverCrashAndAcceptedInputsAreCanonical()
    {
        var random = new Random(12345);
        var buffer = new byte[64];
        var accepted = 0;
        for (var i = 0; i < 200_000; i++)
        {
            var length = random.Next(0, 24);
            random.NextBytes(buffer.AsSpan(0, length));
            // Bias towards the interesting tags, so that random input reaches deeper than its first byte.
            if (length > 0 && random.Next(3) == 0)
            {
                buffer[0] = (byte)random.Next(0, 9);
            }
            accepted += CheckInput(buffer.AsSpan(0, length)) ? 1 : 0;
        }
        Assert.InRange(accepted, 1000, 200_000);
    }

    [Fact]
    public void Fuzz_MutatedValidEncodings_NeverCrashAndAcceptedInputsAreCanonical()
    {
        var random = new Random(4242);
        var seeds = Corpus.Values().Select(v => ValueCodec.Encode(v)).ToArray();
        var mutants = 0;
        foreach (var seed in seeds)
        {
            for (var i = 0; i < 3000; i++)
            {
                var input = new List<byte>(seed);
                var edits = random.Next(1, 4);
                for (var e = 0; e < edits; e++)
                {
                    var at = input.Count == 0 ? 0 : random.Next(input.Count);
                    switch (random.Next(5))
                    {
                        case 0 when input.Count > 0:
                            input[at] ^= (byte)(1 << random.Next(8));
                            break;
                        case 1:
                            input.Insert(at, (byte)random.Next(256));
                            break;
                        case 2 when input.Count > 0:
                            input.RemoveAt(at);
                            break;
                        case 3:
                            input.RemoveRange(at, input.Count - at);
                            break;
                        default:
                            if (input.Count > 0)
                            {
                                input[at] = (byte)random.Next(256);
                            }
                            break;
                    }
                }
                CheckInput(input.ToArray());
                mutants++;
            }
        }
        Assert.True(mutants > 50_000);
    }

    // Decode and Skip an input: only ValueCodecException may escape; an accepted input re-encodes to the same bytes, and
    // Skip accepts whatever Decode accepts. Allocation stays within a constant multiple of the input.
    private static bool CheckInput(ReadOnlySpan<byte> input)
    {
        var before = GC.GetAllocatedBytesForCurrentThread();
        var decoded = ValueCodec.TryDecode(input, out var value, out _, out _);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        // Each input byte can become at most one 32-byte object entry or a string of 2 bytes per byte, plus headers,
        // and a failure costs one exception (a few hundred bytes, and the stack trace).
        Assert.True(allocated < 8192 + (64 * input.Length), $"{allocated} bytes allocated for {Convert.ToHexString(input)}");
        var skipped = SkipAll(input);
        if (decoded)
        {
            Assert.True(skipped, $"Decode accepted what Skip refused: {Convert.ToHexString(input)}");
            Assert.Equal(Convert.ToHexString(input), Convert.ToHexString(ValueCodec.Encode(value)));
        }
        return decoded;
    }

    private static bool SkipAll(ReadOnlySpan<byte> input)
    {
        try
        {
            var reader = new ValueReader(input);
            reader.Skip();
            return reader.IsAtEnd;
        }
        catch (ValueCodecException)
        {
            return false;
        }
    }

    private static Value Nest(int depth)
    {
        var value = Value.FromInt64(1);
        for (var i = 0; i < depth; i++)
        {
            value = i % 2 == 0 ? Value.Array(value) : Value.Object(("k", value));
        }
        return value;
    }

    private sealed class CountingBufferWriter : IBufferWriter<byte>
    {
        private readonly ArrayBufferWriter<byte> _inner = new(16);

        public int AdvanceCalls { get; private set; }

        public ReadOnlySpan<byte> Written => _inner.WrittenSpan;

        public void Advance(int count)
        {
            AdvanceCalls++;
            _inner.Advance(count);
        }

        public Memory<byte> GetMemory(int sizeHint = 0) => _inner.GetMemory(sizeHint);

        public Span<byte> GetSpan(int sizeHint = 0) => _inner.GetSpan(sizeHint);
    }
}

/// <summary>Values shared by the codec tests and benchmarks' shapes: the small message, a ~1 KB and a ~64 KB one.</summary>
internal static class Corpus
{
    public static Value Small() => Value.Object(("type", "get"), ("key", "k1"));

    public static Value Medium()
    {
        var items = new List<Value>();
        for (var i = 0; i < 8; i++)
        {
            items.Add(Value.Object(("id", i * 1000), ("name", "item-" + i), ("price", 9.99 + i), ("active", i % 2 == 0),
                ("tags", Value.Array("a", "bé", "中文")), ("note", Value.Null)));
        }
        return Value.Object(("type", "batch"), ("seq", 123456789L), ("items", Value.Array(items)),
            ("blob", Value.Binary(Enumerable.Range(0, 64).Select(i => (byte)i).ToArray())), ("text", new string('x', 100)));
    }

    public static Value Large()
    {
        var rows = new List<Value>();
        for (var i = 0; i < 700; i++)
        {
            rows.Add(Value.Object(("id", i), ("user", "user-" + i + "@example.com"), ("score", i * 1.25), ("flag", i % 3 == 0),
                ("big", (long)i << 40), ("neg", -i), ("label", "ünïcödé " + i)));
        }
        return Value.Object(("type", "snapshot"), ("rows", Value.Array(rows)));
    }

    public static IEnumerable<Value> Values()
    {
        yield return Small();
        yield return Medium();
        yield return Value.Null;
        yield return true;
        yield return 0;
        yield return 127;
        yield return 128;
        yield return long.MinValue;
        yield return long.MaxValue;
        yield return -0.0;
        yield return 5e-324;
        yield return "";
        yield return new string('s', 31);
        yield return new string('s', 32);
        yield return "é中😀";
        yield return Value.Binary([]);
        yield return Value.Binary([1, 2, 3, 255]);
        yield return Value.EmptyArray;
        yield return Value.EmptyObject;
        yield return Value.Array(Value.Array(Value.Array()), Value.Object(("", Value.Object())));
        yield return Value.Object(("a", 1), ("b", Value.Array(1.5, "x", Value.Null)), ("c", Value.Object(("d", false))));
    }
}
