namespace Noex.Lite;

/// <summary>
/// An object key encoded once, as protocol.md §2.1 writes it (its length, then its UTF-8), and checked when made: writing
/// it is one copy. A contract keeps one per field in a static field, as System.Text.Json's generated code keeps
/// <c>JsonEncodedText</c>s.
/// </summary>
public sealed class ValueKey
{
    private readonly byte[] _encoded;

    private ValueKey(string name, byte[] encoded)
    {
        Name = name;
        _encoded = encoded;
    }

    /// <summary>The key as text.</summary>
    public string Name { get; }

    /// <summary>The length prefix and the UTF-8 bytes.</summary>
    internal ReadOnlySpan<byte> Encoded => _encoded;

    /// <summary>Encodes a key given as UTF-8 (e.g. <c>"id"u8</c>).</summary>
    /// <param name="utf8Name">The key.</param>
    /// <returns>The encoded key.</returns>
    /// <exception cref="ValueCodecException">The bytes are not well-formed UTF-8.</exception>
    public static ValueKey Create(ReadOnlySpan<byte> utf8Name)
    {
        if (!ValueCodec.IsValidUtf8(utf8Name))
        {
            ValueCodecException.Throw(ValueCodecError.InvalidUtf8, -1, "a key is not well-formed UTF-8");
        }
        var header = ValueCodec.VarintLength((ulong)utf8Name.Length);
        var encoded = new byte[header + utf8Name.Length];
        var length = (ulong)utf8Name.Length;
        for (var i = 0; i < header; i++, length >>= 7)
        {
            encoded[i] = (byte)((length & 0x7F) | (i < header - 1 ? 0x80UL : 0));
        }
        utf8Name.CopyTo(encoded.AsSpan(header));
        return new ValueKey(System.Text.Encoding.UTF8.GetString(utf8Name), encoded);
    }

    /// <summary>Encodes a key.</summary>
    /// <param name="name">The key.</param>
    /// <returns>The encoded key.</returns>
    /// <exception cref="ValueCodecException">The key holds an unpaired surrogate.</exception>
    public static ValueKey Create(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        ValueCodec.StrictUtf8ByteCount(name);
        return Create(System.Text.Encoding.UTF8.GetBytes(name));
    }

    /// <summary>The key as text.</summary>
    public override string ToString() => Name;
}
