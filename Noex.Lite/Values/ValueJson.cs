using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CommunityToolkit.HighPerformance.Buffers;

namespace Noex.Lite;

/// <summary>JSON text in and out for <see cref="Value"/> (protocol.md §2.2): read through the BCL's Utf8JsonReader, written
/// by hand so that the text (its escapes above all) is exactly the one protocol.md specifies.</summary>
/// <remarks>Thread-safe: no state is shared between calls but a per-thread scratch buffer.</remarks>
public static class ValueJson
{
    /// <summary>The deepest nesting of arrays and objects read by default (protocol.md §6).</summary>
    public const int DefaultMaxDepth = 64;

    // Characters a JSON string is written with an escape for (protocol.md §2.2): those RFC 8259 requires (quote,
    // backslash, U+0000 to U+001F) and U+2028/U+2029, which end a JavaScript string literal. Everything else, non-ASCII
    // included, is written as UTF-8, so that the text is exact and the same in every implementation.
    private static readonly SearchValues<char> s_escaped = SearchValues.Create(
        "\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000B\f\r\u000E\u000F\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001A\u001B\u001C\u001D\u001E\u001F\"\\\u2028\u2029");

    // The characters of a JSON number, whose longest run is read as one (protocol.md §2.2).
    private static readonly SearchValues<byte> s_numberChars = SearchValues.Create("0123456789+-.eE"u8);

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    /// <summary>Reads a value from JSON text.</summary>
    /// <param name="json">The text.</param>
    /// <param name="maxDepth">The deepest nesting of arrays and objects allowed.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ValueCodecException">The text is not one well-formed JSON value, or holds a number, key or
    /// depth that a value cannot (<see cref="ValueCodecException.Error"/> says which).</exception>
    public static Value Parse(string json, int maxDepth = DefaultMaxDepth)
    {
        ArgumentNullException.ThrowIfNull(json);
        using var utf8 = SpanOwner<byte>.Allocate(Encoding.UTF8.GetMaxByteCount(json.Length));
        var length = Encoding.UTF8.GetBytes(json, utf8.Span);
        return Parse(utf8.Span[..length], maxDepth);
    }

    /// <summary>Reads a value from UTF-8 JSON text.</summary>
    /// <param name="utf8Json">The text.</param>
    /// <param name="maxDepth">The deepest nesting of arrays and objects allowed.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ValueCodecException">The text is not one well-formed JSON value, or holds a number, key or
    /// depth that a value cannot (<see cref="ValueCodecException.Error"/> says which).</exception>
    public static Value Parse(ReadOnlySpan<byte> utf8Json, int maxDepth = DefaultMaxDepth)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxDepth);
        // Our own depth check runs first (it names DepthExceeded); the reader's limit is only a backstop. A top-level number
        // is read alone, so that what follows it is judged as what follows any value (see NumberEnd).
        var reader = new Utf8JsonReader(utf8Json[..NumberEnd(utf8Json)], new JsonReaderOptions
        {
            MaxDepth = maxDepth + 1,
            CommentHandling = JsonCommentHandling.Disallow,
            AllowTrailingCommas = false,
        });
        try
        {
            if (!reader.Read())
            {
                ValueCodecException.Throw(ValueCodecError.InvalidJson, 0, "the text holds no JSON value");
            }
            var value = ReadValue(ref reader, 0, maxDepth);
            // Anything but whitespace after the value is TrailingBytes (protocol.md §2.2). Asking the reader for another
            // token would instead throw its own "invalid after a single JSON value" error, reported as InvalidJson.
            var rest = utf8Json[(int)reader.BytesConsumed..];
            var trailing = rest.IndexOfAnyExcept(" \t\r\n"u8);
            if (trailing >= 0)
            {
                ValueCodecException.Throw(ValueCodecError.TrailingBytes, reader.BytesConsumed + trailing, "more text follows the JSON value");
            }
            return value;
        }
        catch (JsonException e)
        {
            throw new ValueCodecException(ValueCodecError.InvalidJson, reader.BytesConsumed, $"InvalidJson near byte {reader.BytesConsumed}: {e.Message}");
        }
        catch (InvalidOperationException e)
        {
            // Utf8JsonReader validates structure while reading and UTF-8 when a string is decoded; the latter surfaces here.
            throw new ValueCodecException(ValueCodecError.InvalidUtf8, reader.TokenStartIndex, $"InvalidUtf8 at byte {reader.TokenStartIndex}: {e.Message}");
        }
    }

    /// <summary>
    /// Where the text ends for the reader: after the number when the value is a number, else at the end. protocol.md §2.2
    /// reads a number as the longest run of number characters, so "1x" is the number 1 followed by trailing text
    /// (TrailingBytes), as "[1]x" is; Utf8JsonReader alone would call it a malformed number (InvalidJson). A run that is not
    /// a number ("01", "1.", "2-1") still fails in the reader, with InvalidJson.
    /// </summary>
    private static int NumberEnd(ReadOnlySpan<byte> utf8Json)
    {
        var start = utf8Json.IndexOfAnyExcept(" \t\r\n"u8);
        if (start < 0 || utf8Json[start] is not ((byte)'-' or (>= (byte)'0' and <= (byte)'9')))
        {
            return utf8Json.Length;
        }
        var end = utf8Json[start..].IndexOfAnyExcept(s_numberChars);
        return end < 0 ? utf8Json.Length : start + end;
    }

    /// <summary>Writes a value as compact JSON.</summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="value">The value.</param>
    /// <exception cref="ValueCodecException">A string holds an unpaired surrogate (<see cref="ValueCodecError.InvalidUtf8"/>).</exception>
    /// <remarks>The text is exactly that of <see cref="ToJsonString"/> (protocol.md §2.2), whatever the writer's encoder.</remarks>
    public static void Write(Utf8JsonWriter writer, Value value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var buffer = TakeBuffer();
        try
        {
            WriteValue(buffer, value, 0);
            writer.WriteRawValue(buffer.WrittenSpan, skipInputValidation: true);
        }
        finally
        {
            ReturnBuffer(buffer);
        }
    }

    /// <summary>Writes a value as compact UTF-8 JSON text (protocol.md §2.2).</summary>
    /// <param name="output">Where to write.</param>
    /// <param name="value">The value.</param>
    /// <exception cref="ValueCodecException">A string holds an unpaired surrogate (<see cref="ValueCodecError.InvalidUtf8"/>).</exception>
    public static void Write(IBufferWriter<byte> output, Value value)
    {
        ArgumentNullException.ThrowIfNull(output);
        WriteValue(output, value, 0);
    }

    /// <summary>The value as compact JSON text.</summary>
    /// <param name="value">The value.</param>
    /// <returns>The text.</returns>
    /// <exception cref="ValueCodecException">A string holds an unpaired surrogate (<see cref="ValueCodecError.InvalidUtf8"/>).</exception>
    public static string ToJsonString(Value value)
    {
        // Scalars are common in messages and logs; they need no buffer.
        switch (value.Kind)
        {
            case ValueKind.Null:
                return "null";
            case ValueKind.Bool:
                return value.AsBoolean() ? "true" : "false";
            case ValueKind.Integer:
                return value.AsInt64().ToString(CultureInfo.InvariantCulture);
        }
        var buffer = TakeBuffer();
        try
        {
            WriteValue(buffer, value, 0);
            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        finally
        {
            ReturnBuffer(buffer);
        }
    }

    private static ArrayBufferWriter<byte> TakeBuffer()
    {
        var buffer = t_buffer ?? new ArrayBufferWriter<byte>(256);
        t_buffer = null; // Write(Utf8JsonWriter) may be re-entered from a converter; a nested call takes its own buffer
        return buffer;
    }

    private static void ReturnBuffer(ArrayBufferWriter<byte> buffer)
    {
        // ResetWrittenCount keeps the memory for the next call on this thread, unless one huge value grew it.
        buffer.ResetWrittenCount();
        if (buffer.Capacity <= 64 * 1024)
        {
            t_buffer = buffer;
        }
    }

    private static Value ReadValue(ref Utf8JsonReader reader, int depth, int maxDepth)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return Value.Null;
            case JsonTokenType.True:
                return Value.True;
            case JsonTokenType.False:
                return Value.False;
            case JsonTokenType.Number:
                return ReadNumber(ref reader);
            case JsonTokenType.String:
                return Value.FromStringUnchecked(reader.GetString()!);
            case JsonTokenType.StartArray:
                CheckDepth(ref reader, depth, maxDepth);
                return ReadArray(ref reader, depth + 1, maxDepth);
            case JsonTokenType.StartObject:
                CheckDepth(ref reader, depth, maxDepth);
                return ReadObject(ref reader, depth + 1, maxDepth);
            default:
                ValueCodecException.Throw(ValueCodecError.InvalidJson, reader.TokenStartIndex, $"unexpected {reader.TokenType}");
                return default;
        }
    }

    private static void CheckDepth(ref Utf8JsonReader reader, int depth, int maxDepth)
    {
        if (depth >= maxDepth)
        {
            ValueCodecException.Throw(ValueCodecError.DepthExceeded, reader.TokenStartIndex, $"arrays and objects nest deeper than {maxDepth}");
        }
    }

    private static Value ReadNumber(ref Utf8JsonReader reader)
    {
        // A number without a fraction or an exponent is an integer and must fit 64 bits: it never silently becomes a
        // float (protocol.md §2.2). The reader gives a contiguous span because the input is one span.
        var raw = reader.ValueSpan;
        if (raw.IndexOfAny((byte)'.', (byte)'e', (byte)'E') < 0)
        {
            if (!reader.TryGetInt64(out var integer))
            {
                ValueCodecException.Throw(ValueCodecError.IntegerOverflow, reader.TokenStartIndex, $"{Encoding.UTF8.GetString(raw)} is outside the signed 64-bit range");
            }
            return Value.FromInt64(integer);
        }
        if (!reader.TryGetDouble(out var number) || !double.IsFinite(number))
        {
            ValueCodecException.Throw(ValueCodecError.NonFiniteNumber, reader.TokenStartIndex, $"{Encoding.UTF8.GetString(raw)} does not fit a finite binary64");
        }
        return Value.FromFiniteDoubleBits(BitConverter.DoubleToInt64Bits(number));
    }

    private static Value ReadArray(ref Utf8JsonReader reader, int depth, int maxDepth)
    {
        var items = new List<Value>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            items.Add(ReadValue(ref reader, depth, maxDepth));
        }
        return Value.FromOwnedArray(items.ToArray());
    }

    private static Value ReadObject(ref Utf8JsonReader reader, int depth, int maxDepth)
    {
        var start = reader.TokenStartIndex;
        var items = new List<KeyValuePair<string, Value>>();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            // Keys repeat across messages ("type", "key", ...): take them from the cache the binary decoder uses instead
            // of allocating each time. The reader checks UTF-8 only when it decodes a string itself, and the cache takes
            // only well-formed UTF-8.
            var keyStart = reader.TokenStartIndex;
            if (!reader.ValueIsEscaped && !System.Text.Unicode.Utf8.IsValid(reader.ValueSpan))
            {
                ValueCodecException.Throw(ValueCodecError.InvalidUtf8, keyStart, "the key is not well-formed UTF-8");
            }
            var key = reader.ValueIsEscaped
                ? reader.GetString()!
                : StringCache.Get(reader.ValueSpan);
            reader.Read();
            var value = ReadValue(ref reader, depth, maxDepth);
            foreach (var existing in items)
            {
                if (string.Equals(existing.Key, key, StringComparison.Ordinal))
                {
                    ValueCodecException.Throw(ValueCodecError.DuplicateKey, keyStart, $"the key '{key}' appears twice in the object at byte {start}");
                }
            }
            items.Add(new(key, value));
        }
        if (items.Count == 2 && TryReadBinaryMarker(items, out var binary))
        {
            return binary;
        }
        return Value.FromOwnedEntries(items.ToArray(), checkDuplicates: false);
    }

    private static bool TryReadBinaryMarker(List<KeyValuePair<string, Value>> items, out Value binary)
    {
        // {"__noex_type__":"Binary","value":"<canonical base64>"} in either order (protocol.md §2.2). Any near miss stays an
        // object, so that it round-trips as one.
        binary = default;
        var (first, second) = (items[0], items[1]);
        if (first.Key == "value")
        {
            (first, second) = (second, first);
        }
        if (first.Key != BinaryMarkerKey || second.Key != "value"
            || !first.Value.TryGetString(out var marker) || marker != BinaryMarkerName
            || !second.Value.TryGetString(out var base64))
        {
            return false;
        }
        var bytes = new byte[base64.Length / 4 * 3];
        if (base64.Length % 4 != 0 || !Convert.TryFromBase64String(base64, bytes, out var written))
        {
            return false;
        }
        var blob = written == bytes.Length ? bytes : bytes.AsSpan(0, written).ToArray();
        // Only the canonical text, the one a blob is written as, is a blob: TryFromBase64String also takes spaces and line
        // breaks and ignores non-zero unused bits ("AAF=" reads as "AAE="), and such a text would not round-trip. Reading
        // JSON is not a hot path, so the check re-encodes rather than validating by hand.
        if (!string.Equals(Convert.ToBase64String(blob), base64, StringComparison.Ordinal))
        {
            return false;
        }
        binary = Value.FromOwnedBinary(blob);
        return true;
    }

    private const string BinaryMarkerKey = "__noex_type__";
    private const string BinaryMarkerName = "Binary";

    private static void WriteValue(IBufferWriter<byte> output, Value value, int depth)
    {
        switch (value.Kind)
        {
            case ValueKind.Null:
                WriteAscii(output, "null"u8);
                break;
            case ValueKind.Bool:
                WriteAscii(output, value.AsBoolean() ? "true"u8 : "false"u8);
                break;
            case ValueKind.Integer:
                value.AsInt64().TryFormat(output.GetSpan(20), out var integerLength, default, CultureInfo.InvariantCulture);
                output.Advance(integerLength);
                break;
            case ValueKind.Float:
                WriteFloat(output, value.AsDouble());
                break;
            case ValueKind.String:
                WriteString(output, value.AsString());
                break;
            case ValueKind.Array:
                EnterContainer(depth);
                WriteAscii(output, "["u8);
                var first = true;
                foreach (var item in value.AsArray())
                {
                    if (!first)
                    {
                        WriteAscii(output, ","u8);
                    }
                    first = false;
                    WriteValue(output, item, depth + 1);
                }
                WriteAscii(output, "]"u8);
                break;
            case ValueKind.Object:
                EnterContainer(depth);
                WriteAscii(output, "{"u8);
                var firstEntry = true;
                foreach (var entry in value.AsObject())
                {
                    if (!firstEntry)
                    {
                        WriteAscii(output, ","u8);
                    }
                    firstEntry = false;
                    WriteString(output, entry.Key);
                    WriteAscii(output, ":"u8);
                    WriteValue(output, entry.Value, depth + 1);
                }
                WriteAscii(output, "}"u8);
                break;
            case ValueKind.Binary:
                WriteAscii(output, "{\"__noex_type__\":\"Binary\",\"value\":\""u8);
                var bytes = value.AsBinary().Span;
                var base64 = output.GetSpan(Base64.GetMaxEncodedToUtf8Length(bytes.Length));
                Base64.EncodeToUtf8(bytes, base64, out _, out var base64Length);
                output.Advance(base64Length);
                WriteAscii(output, "\"}"u8);
                break;
        }
    }

    private static void EnterContainer(int depth)
    {
        // Values built in code can nest without limit; running out of stack must be a typed error, not a crash.
        if (!System.Runtime.CompilerServices.RuntimeHelpers.TryEnsureSufficientExecutionStack())
        {
            ValueCodecException.Throw(ValueCodecError.DepthExceeded, -1, $"the value nests {depth} arrays and objects deep, more than the stack allows");
        }
    }

    private static void WriteAscii(IBufferWriter<byte> output, ReadOnlySpan<byte> text)
    {
        text.CopyTo(output.GetSpan(text.Length));
        output.Advance(text.Length);
    }

    private static void WriteString(IBufferWriter<byte> output, string text)
    {
        WriteAscii(output, "\""u8);
        var rest = text.AsSpan();
        while (!rest.IsEmpty)
        {
            var plain = rest.IndexOfAny(s_escaped);
            var run = plain < 0 ? rest : rest[..plain];
            if (!run.IsEmpty)
            {
                var span = output.GetSpan(Encoding.UTF8.GetMaxByteCount(run.Length));
                if (System.Text.Unicode.Utf8.FromUtf16(run, span, out _, out var written, replaceInvalidSequences: false) != OperationStatus.Done)
                {
                    ValueCodecException.Throw(ValueCodecError.InvalidUtf8, -1, "the string holds an unpaired surrogate, which JSON text cannot carry");
                }
                output.Advance(written);
            }
            if (plain < 0)
            {
                break;
            }
            WriteEscape(output, rest[plain]);
            rest = rest[(plain + 1)..];
        }
        WriteAscii(output, "\""u8);
    }

    private static void WriteEscape(IBufferWriter<byte> output, char c)
    {
        switch (c)
        {
            case '"':
                WriteAscii(output, "\\\""u8);
                return;
            case '\\':
                WriteAscii(output, "\\\\"u8);
                return;
            case '\b':
                WriteAscii(output, "\\b"u8);
                return;
            case '\t':
                WriteAscii(output, "\\t"u8);
                return;
            case '\n':
                WriteAscii(output, "\\n"u8);
                return;
            case '\f':
                WriteAscii(output, "\\f"u8);
                return;
            case '\r':
                WriteAscii(output, "\\r"u8);
                return;
        }
        // \u followed by four uppercase hex digits.
        var span = output.GetSpan(6);
        span[0] = (byte)'\\';
        span[1] = (byte)'u';
        ((int)c).TryFormat(span[2..6], out _, "X4", CultureInfo.InvariantCulture);
        output.Advance(6);
    }

    private static void WriteFloat(IBufferWriter<byte> output, double number)
    {
        // protocol.md §2.2 states the rule on its own terms; "R" (on .NET Core 3.0 and later) gives its digits and its
        // choice of notation, checked against an implementation of the rule on 300,000 floats. What "R" lacks is rule 4's
        // ".0": a text with neither '.' nor an exponent ("1", "-0", "10000000000000000") gets it here.
        var text = output.GetSpan(40);
        number.TryFormat(text, out var length, "R", CultureInfo.InvariantCulture);
        if (text[..length].IndexOfAny((byte)'.', (byte)'E') < 0)
        {
            text[length++] = (byte)'.';
            text[length++] = (byte)'0';
        }
        output.Advance(length);
    }
}
