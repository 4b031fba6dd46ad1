using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using CommunityToolkit.HighPerformance.Buffers;

namespace Noex.Lite;

/// <summary>JSON text in and out for <see cref="Value"/> (protocol.md §2.2), through the BCL's Utf8JsonReader and Utf8JsonWriter.</summary>
/// <remarks>Thread-safe: no state is shared between calls but a per-thread scratch writer.</remarks>
public static class ValueJson
{
    /// <summary>The deepest nesting of arrays and objects read by default (protocol.md §6).</summary>
    public const int DefaultMaxDepth = 64;

    // The JSON form is for people and tools, not the wire: non-ASCII text stays readable. The relaxed encoder still
    // escapes quotes, backslashes and control characters, which is all that well-formed JSON needs.
    private static readonly JsonWriterOptions s_writerOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = true,
        MaxDepth = 4096,
    };

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    /// <summary>Reads a value from JSON text.</summary>
    /// <param name="json">The text.</param>
    /// <param name="maxDepth">The deepest nesting of arrays and objects allowed.</param>
    /// <returns>The value.</returns>
    /// <exception cref="ValueCodecException">The text is not one well-formed JSON value, or holds a number, key or
    /// depth that a value cannot (<see cref="ValueCodecException.Error"/> says which).</exception>
    public static Value Parse(string json, int maxDepth = DefaultMaxDepth)
    {
        ArgumentNullException.ThrowIfNull(json);
        var max = Encoding.UTF8.GetMaxByteCount(json.Length);
        var rented = ArrayPool<byte>.Shared.Rent(max);
        try
        {
            var length = Encoding.UTF8.GetBytes(json, rented);
            return Parse(rented.AsSpan(0, length), maxDepth);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
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
        // Our own depth check runs first (it names DepthExceeded); the reader's limit is only a backstop.
        var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions
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
            if (reader.Read())
            {
                ValueCodecException.Throw(ValueCodecError.TrailingBytes, reader.TokenStartIndex, "more JSON follows the value");
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

    /// <summary>Writes a value as compact JSON.</summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="value">The value.</param>
    public static void Write(Utf8JsonWriter writer, Value value)
    {
        ArgumentNullException.ThrowIfNull(writer);
        WriteValue(writer, value);
    }

    /// <summary>The value as compact JSON text.</summary>
    /// <param name="value">The value.</param>
    /// <returns>The text.</returns>
    public static string ToJsonString(Value value)
    {
        // Scalars are common in messages and logs; they need no writer.
        switch (value.Kind)
        {
            case ValueKind.Null:
                return "null";
            case ValueKind.Bool:
                return value.AsBoolean() ? "true" : "false";
            case ValueKind.Integer:
                return value.AsInt64().ToString(CultureInfo.InvariantCulture);
        }
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(256);
        var writer = t_writer ??= new Utf8JsonWriter(buffer, s_writerOptions);
        try
        {
            WriteValue(writer, value);
            writer.Flush();
            return Encoding.UTF8.GetString(buffer.WrittenSpan);
        }
        finally
        {
            // ResetWrittenCount keeps the buffer's memory for the next call on this thread.
            buffer.ResetWrittenCount();
            writer.Reset(buffer);
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
            // Keys repeat across messages ("type", "key", ...): pool them instead of allocating each time.
            var key = reader.ValueIsEscaped
                ? reader.GetString()!
                : StringPool.Shared.GetOrAdd(reader.ValueSpan, Encoding.UTF8);
            var keyStart = reader.TokenStartIndex;
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
        // {"__noex_type__":"Binary","value":"<base64>"} in either order (protocol.md §2.2).
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
        if (!Convert.TryFromBase64String(base64, bytes, out var written))
        {
            return false;
        }
        binary = Value.FromOwnedBinary(written == bytes.Length ? bytes : bytes.AsSpan(0, written).ToArray());
        return true;
    }

    private const string BinaryMarkerKey = "__noex_type__";
    private const string BinaryMarkerName = "Binary";

    private static void WriteValue(Utf8JsonWriter writer, Value value)
    {
        switch (value.Kind)
        {
            case ValueKind.Null:
                writer.WriteNullValue();
                break;
            case ValueKind.Bool:
                writer.WriteBooleanValue(value.AsBoolean());
                break;
            case ValueKind.Integer:
                writer.WriteNumberValue(value.AsInt64());
                break;
            case ValueKind.Float:
                WriteFloat(writer, value.AsDouble());
                break;
            case ValueKind.String:
                writer.WriteStringValue(value.AsString());
                break;
            case ValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in value.AsArray())
                {
                    WriteValue(writer, item);
                }
                writer.WriteEndArray();
                break;
            case ValueKind.Object:
                writer.WriteStartObject();
                foreach (var entry in value.AsObject())
                {
                    writer.WritePropertyName(entry.Key);
                    WriteValue(writer, entry.Value);
                }
                writer.WriteEndObject();
                break;
            case ValueKind.Binary:
                writer.WriteStartObject();
                writer.WriteString(BinaryMarkerKey, BinaryMarkerName);
                writer.WriteBase64String("value", value.AsBinary().Span);
                writer.WriteEndObject();
                break;
        }
    }

    private static void WriteFloat(Utf8JsonWriter writer, double number)
    {
        // "R" is the shortest text that reads back to the same bits. A float must read back as a float, so a text
        // with neither '.' nor an exponent ("1", "-0") gets ".0" (protocol.md §2.2).
        Span<byte> text = stackalloc byte[40];
        number.TryFormat(text, out var length, "R", CultureInfo.InvariantCulture);
        if (text[..length].IndexOfAny((byte)'.', (byte)'E') < 0)
        {
            text[length++] = (byte)'.';
            text[length++] = (byte)'0';
        }
        writer.WriteRawValue(text[..length], skipInputValidation: true);
    }
}
