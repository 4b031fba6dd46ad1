using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;

namespace Noex.Lite;

/// <summary>
/// The reads and writes a <see cref="ValueContract{T}"/> is made of: each read checks the kind first and throws
/// <see cref="MessageContractException"/> naming the type and field, so that a wrong message is a typed error and never a
/// crash. The generator's code calls these; a hand-written contract may too.
/// </summary>
public static class MessageFields
{
    /// <summary>Reads an object's header (entering one level of nesting: pair it with <see cref="ValueReader.ExitContainer"/>).</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read, for errors.</param>
    /// <param name="field">The field holding it, or null for the whole message.</param>
    /// <returns>The number of entries.</returns>
    public static int ReadObjectHeader(ref ValueReader reader, string type, string? field)
    {
        Expect(ref reader, ValueKind.Object, type, field);
        reader.EnterContainer();
        return reader.ReadObjectHeader();
    }

    /// <summary>Reads an array's header (entering one level of nesting: pair it with <see cref="ValueReader.ExitContainer"/>).</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <returns>The number of elements.</returns>
    public static int ReadArrayHeader(ref ValueReader reader, string type, string? field)
    {
        Expect(ref reader, ValueKind.Array, type, field);
        reader.EnterContainer();
        return reader.ReadArrayHeader();
    }

    /// <summary>Reads an integer.</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <returns>The integer.</returns>
    public static long ReadInt64(ref ValueReader reader, string type, string? field)
    {
        Expect(ref reader, ValueKind.Integer, type, field);
        return reader.ReadInt64();
    }

    /// <summary>Reads an integer that must fit 32 bits.</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <returns>The integer.</returns>
    public static int ReadInt32(ref ValueReader reader, string type, string? field)
    {
        var value = ReadInt64(ref reader, type, field);
        if (value is < int.MinValue or > int.MaxValue)
        {
            ThrowInvalid(type, field, $"{value} does not fit a 32-bit integer");
        }
        return (int)value;
    }

    /// <summary>Reads an integer in <paramref name="min"/>..<paramref name="max"/> (for the narrower integer types).</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <param name="min">The least value the field's type takes.</param>
    /// <param name="max">The greatest.</param>
    /// <returns>The integer.</returns>
    public static long ReadInt64InRange(ref ValueReader reader, string type, string? field, long min, long max)
    {
        var value = ReadInt64(ref reader, type, field);
        if (value < min || value > max)
        {
            ThrowInvalid(type, field, $"{value} is outside {min}..{max}");
        }
        return value;
    }

    /// <summary>Reads a number: a float, or an integer (a JSON peer writes <c>1</c>, not <c>1.0</c>).</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <returns>The number.</returns>
    public static double ReadDouble(ref ValueReader reader, string type, string? field)
    {
        var kind = reader.PeekKind();
        if (kind == ValueKind.Integer)
        {
            return reader.ReadInt64();
        }
        if (kind != ValueKind.Float)
        {
            ThrowWrongKind(type, field, "a number", kind);
        }
        return reader.ReadDouble();
    }

    /// <summary>Reads a boolean.</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <returns>The boolean.</returns>
    public static bool ReadBoolean(ref ValueReader reader, string type, string? field)
    {
        Expect(ref reader, ValueKind.Bool, type, field);
        return reader.ReadBoolean();
    }

    /// <summary>Reads a string that must be present (not null).</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <returns>The string; short ones come from the codec's shared cache.</returns>
    public static string ReadString(ref ValueReader reader, string type, string? field)
    {
        var kind = reader.PeekKind();
        if (kind == ValueKind.Null)
        {
            ThrowMissing(type, field);
        }
        if (kind != ValueKind.String)
        {
            ThrowWrongKind(type, field, "a string", kind);
        }
        return reader.ReadCachedString();
    }

    /// <summary>Reads a string or null.</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <returns>The string, or null.</returns>
    public static string? ReadNullableString(ref ValueReader reader, string type, string? field) =>
        reader.TryReadNull() ? null : ReadString(ref reader, type, field);

    /// <summary>Reads a string's UTF-8 bytes without allocating (for enums and discriminators).</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <returns>The bytes, pointing into the input.</returns>
    public static ReadOnlySpan<byte> ReadStringSpan(ref ValueReader reader, string type, string? field)
    {
        Expect(ref reader, ValueKind.String, type, field);
        return reader.ReadStringSpan();
    }

    /// <summary>Reads a binary blob or null (a copy).</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <returns>The bytes, or null.</returns>
    public static byte[]? ReadBinary(ref ValueReader reader, string type, string? field)
    {
        if (reader.TryReadNull())
        {
            return null;
        }
        Expect(ref reader, ValueKind.Binary, type, field);
        return Value.CopyBytes(reader.ReadBinarySpan());
    }

    /// <summary>Reads a <see cref="Guid"/> written as its 36-character text (<c>D</c> format).</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <returns>The Guid.</returns>
    public static Guid ReadGuid(ref ValueReader reader, string type, string? field)
    {
        var text = ReadStringSpan(ref reader, type, field);
        if (!Utf8Parser.TryParse(text, out Guid value, out var consumed, 'D') || consumed != text.Length)
        {
            ThrowInvalid(type, field, "not a Guid in the 8-4-4-4-12 form");
        }
        return value;
    }

    /// <summary>Writes a <see cref="Guid"/> as its 36-character text.</summary>
    /// <param name="writer">The writer.</param>
    /// <param name="value">The Guid.</param>
    public static void WriteGuid(ref ValueWriter writer, Guid value) =>
        writer.WriteFormattedAscii(36, value, static (guid, text) => Utf8Formatter.TryFormat(guid, text, out var written, 'D') ? written : 0);

    /// <summary>Reads a <see cref="DateTimeOffset"/> written as ISO 8601 text (JSON's usual form for dates).</summary>
    /// <param name="reader">The reader.</param>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <returns>The date and time.</returns>
    public static DateTimeOffset ReadDateTimeOffset(ref ValueReader reader, string type, string? field)
    {
        var text = ReadStringSpan(ref reader, type, field);
        Span<char> chars = stackalloc char[64];
        if (text.Length > chars.Length
            || !System.Text.Unicode.Utf8.ToUtf16(text, chars, out _, out var written).Equals(System.Buffers.OperationStatus.Done)
            || !DateTimeOffset.TryParse(chars[..written], System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.RoundtripKind, out var value))
        {
            ThrowInvalid(type, field, "not an ISO 8601 date and time");
            return default;
        }
        return value;
    }

    /// <summary>Writes a <see cref="DateTimeOffset"/> as ISO 8601 text (the round-trip <c>O</c> format).</summary>
    /// <param name="writer">The writer.</param>
    /// <param name="value">The date and time.</param>
    public static void WriteDateTimeOffset(ref ValueWriter writer, DateTimeOffset value) =>
        writer.WriteFormattedAscii(40, value, static (date, text) => Utf8Formatter.TryFormat(date, text, out var written, 'O') ? written : 0);

    /// <summary>Reads a field whose type has its own contract, naming the path on failure.</summary>
    /// <typeparam name="T">The field's type.</typeparam>
    /// <param name="reader">The reader.</param>
    /// <param name="contract">The field type's contract.</param>
    /// <param name="type">The type holding the field.</param>
    /// <param name="field">The field (or element, e.g. <c>[2]</c>).</param>
    /// <returns>The field's value.</returns>
    public static T ReadNested<T>(ref ValueReader reader, ValueContract<T> contract, string type, string field)
    {
        ArgumentNullException.ThrowIfNull(contract);
        try
        {
            return contract.Read(ref reader);
        }
        catch (MessageContractException inner)
        {
            throw inner.Within(type, field);
        }
    }

    /// <summary>Throws <see cref="MessageContractError.MissingField"/>.</summary>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The missing field.</param>
    [DoesNotReturn]
    public static void ThrowMissing(string type, string? field) =>
        throw new MessageContractException(MessageContractError.MissingField, type, field, "required, but absent or null");

    /// <summary>Throws <see cref="MessageContractError.DuplicateField"/>.</summary>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The repeated field.</param>
    [DoesNotReturn]
    public static void ThrowDuplicate(string type, string field) =>
        throw new MessageContractException(MessageContractError.DuplicateField, type, field, "named twice in one object");

    /// <summary>Throws <see cref="MessageContractError.InvalidValue"/>.</summary>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <param name="detail">What is wrong with the value.</param>
    [DoesNotReturn]
    public static void ThrowInvalid(string type, string? field, string detail) =>
        throw new MessageContractException(MessageContractError.InvalidValue, type, field, detail);

    /// <summary>Throws <see cref="MessageContractError.UnknownDiscriminator"/>.</summary>
    /// <param name="type">The family's base type.</param>
    /// <param name="field">The discriminator's key.</param>
    /// <param name="found">The discriminator's value as found (UTF-8).</param>
    [DoesNotReturn]
    public static void ThrowUnknownDiscriminator(string type, string field, ReadOnlySpan<byte> found) =>
        throw new MessageContractException(MessageContractError.UnknownDiscriminator, type, field,
            $"'{System.Text.Encoding.UTF8.GetString(found)}' names no member of the family");

    /// <summary>Throws <see cref="MessageContractError.WrongKind"/>.</summary>
    /// <param name="type">The type being read.</param>
    /// <param name="field">The field.</param>
    /// <param name="expected">What the field takes, e.g. "an integer".</param>
    /// <param name="found">The kind found.</param>
    [DoesNotReturn]
    public static void ThrowWrongKind(string type, string? field, string expected, ValueKind found) =>
        throw new MessageContractException(MessageContractError.WrongKind, type, field, $"expected {expected}, found {Describe(found)}");

    private static void Expect(ref ValueReader reader, ValueKind expected, string type, string? field)
    {
        var kind = reader.PeekKind();
        if (kind != expected)
        {
            if (kind == ValueKind.Null)
            {
                ThrowMissing(type, field);
            }
            ThrowWrongKind(type, field, Describe(expected), kind);
        }
    }

    private static string Describe(ValueKind kind) => kind switch
    {
        ValueKind.Null => "null",
        ValueKind.Bool => "a boolean",
        ValueKind.Integer => "an integer",
        ValueKind.Float => "a float",
        ValueKind.String => "a string",
        ValueKind.Array => "an array",
        ValueKind.Object => "an object",
        _ => "a binary blob",
    };
}
