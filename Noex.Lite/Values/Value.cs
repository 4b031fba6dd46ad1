using System.Collections;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Noex.Lite;

/// <summary>The kind of a <see cref="Value"/>.</summary>
[SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "The kinds are JSON's: integer, float, string, object.")]
public enum ValueKind : byte
{
    /// <summary>JSON <c>null</c>; also <c>default(Value)</c>.</summary>
    Null = 0,
    /// <summary><c>true</c> or <c>false</c>.</summary>
    Bool,
    /// <summary>A signed 64-bit integer. Integers never silently become floats.</summary>
    Integer,
    /// <summary>A finite IEEE 754 binary64 number.</summary>
    Float,
    /// <summary>A string.</summary>
    String,
    /// <summary>An ordered list of values.</summary>
    Array,
    /// <summary>String keys (unique, in insertion order) mapped to values.</summary>
    Object,
    /// <summary>A byte blob; its JSON form is <c>{"__noex_type__":"Binary","value":"&lt;base64&gt;"}</c>.</summary>
    Binary,
}

/// <summary>
/// A JSON-compatible value: the messages, replies and state snapshots that GenServers exchange.
/// </summary>
/// <remarks>
/// <para>
/// A <see cref="Value"/> is an immutable struct of 24 bytes. Scalars (null, booleans, integers, floats) live inline and
/// cost no allocation; strings, arrays, objects and blobs hold one reference. Immutability is what lets a local call
/// hand the same value to another process by reference, with no copy and no encoding.
/// </para>
/// <para>
/// Every value can cross the wire: floats are finite (NaN and the infinities are refused when the value is made), and
/// object keys are unique. Equality is structural: integers and floats are different kinds (<c>1</c> ≠ <c>1.0</c>),
/// floats compare by their bits (so <c>-0.0</c> ≠ <c>0.0</c>, as a round trip keeps them apart), and objects compare
/// their entries regardless of order. <see cref="ToString"/> gives compact JSON (protocol.md §2.2).
/// </para>
/// </remarks>
[DebuggerDisplay("{ToString(),nq}")]
public readonly struct Value : IEquatable<Value>
{
    // _ref holds string (String), Value[] (Array), ObjectEntries (Object) or byte[] (Binary).
    // _bits holds the integer, the float's bits, or 0/1 for a boolean.
    private readonly object? _ref;
    private readonly long _bits;
    private readonly ValueKind _kind;

    private Value(ValueKind kind, long bits, object? reference)
    {
        _kind = kind;
        _bits = bits;
        _ref = reference;
    }

    /// <summary>The null value (the same as <c>default(Value)</c>).</summary>
    public static Value Null => default;

    /// <summary><c>true</c>.</summary>
    public static Value True { get; } = new(ValueKind.Bool, 1, null);

    /// <summary><c>false</c>.</summary>
    public static Value False { get; } = new(ValueKind.Bool, 0, null);

    /// <summary>The empty array.</summary>
    public static Value EmptyArray { get; } = new(ValueKind.Array, 0, System.Array.Empty<Value>());

    /// <summary>The empty object.</summary>
    public static Value EmptyObject { get; } = new(ValueKind.Object, 0, ObjectEntries.Empty);

    /// <summary>What kind of value this is.</summary>
    public ValueKind Kind => _kind;

    /// <summary>Whether this is the null value.</summary>
    public bool IsNull => _kind == ValueKind.Null;

    /// <summary>The number of elements of an array or entries of an object.</summary>
    /// <exception cref="InvalidOperationException">The value is neither an array nor an object.</exception>
    public int Count => _kind switch
    {
        ValueKind.Array => Unsafe.As<Value[]>(_ref!).Length,
        ValueKind.Object => Unsafe.As<ObjectEntries>(_ref!).Items.Length,
        _ => ThrowKind<int>("an array or an object"),
    };

    /// <summary>The element at <paramref name="index"/> of an array.</summary>
    /// <exception cref="InvalidOperationException">The value is not an array.</exception>
    /// <exception cref="IndexOutOfRangeException">The index is outside the array.</exception>
    public Value this[int index] => AsArray()[index];

    /// <summary>The value of <paramref name="key"/> in an object.</summary>
    /// <exception cref="InvalidOperationException">The value is not an object.</exception>
    /// <exception cref="KeyNotFoundException">The object has no such key.</exception>
    public Value this[string key]
    {
        get
        {
            if (!TryGetProperty(key, out var value))
            {
                ThrowMissingKey(key);
            }
            return value;
        }
    }

    /// <summary>Makes an integer.</summary>
    /// <param name="value">The integer.</param>
    public static Value FromInt64(long value) => new(ValueKind.Integer, value, null);

    /// <summary>Makes a float.</summary>
    /// <param name="value">A finite number.</param>
    /// <exception cref="ValueCodecException">The number is NaN or infinite (<see cref="ValueCodecError.NonFiniteNumber"/>).</exception>
    public static Value FromDouble(double value)
    {
        if (!double.IsFinite(value))
        {
            ValueCodecException.Throw(ValueCodecError.NonFiniteNumber, -1, $"{value} cannot be a value: JSON carries only finite numbers");
        }
        return new(ValueKind.Float, BitConverter.DoubleToInt64Bits(value), null);
    }

    /// <summary>Makes a string, or null when <paramref name="value"/> is null.</summary>
    /// <param name="value">The string.</param>
    public static Value FromString(string? value) => value is null ? default : new(ValueKind.String, 0, value);

    /// <summary>Makes a boolean.</summary>
    /// <param name="value">The boolean.</param>
    public static Value FromBoolean(bool value) => value ? True : False;

    /// <summary>Makes a binary blob holding a copy of <paramref name="bytes"/>.</summary>
    /// <param name="bytes">The bytes.</param>
    public static Value Binary(ReadOnlySpan<byte> bytes) => new(ValueKind.Binary, 0, CopyBytes(bytes));

    /// <summary>Makes an array of the given elements (copied).</summary>
    /// <param name="items">The elements, in order.</param>
    public static Value Array(params ReadOnlySpan<Value> items) =>
        items.IsEmpty ? EmptyArray : new(ValueKind.Array, 0, items.ToArray());

    /// <summary>Makes an array of the given elements.</summary>
    /// <param name="items">The elements, in order.</param>
    public static Value Array(IEnumerable<Value> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var array = items.ToArray();
        return array.Length == 0 ? EmptyArray : new(ValueKind.Array, 0, array);
    }

    /// <summary>Makes an object of the given entries, in order: <c>Value.Object(("type", "get"), ("key", "k1"))</c>.</summary>
    /// <param name="entries">The entries; keys must be unique and not null.</param>
    /// <exception cref="ArgumentException">A key is repeated or null.</exception>
    [SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "It makes a JSON object.")]
    public static Value Object(params ReadOnlySpan<(string Key, Value Value)> entries)
    {
        if (entries.IsEmpty)
        {
            return EmptyObject;
        }
        var items = new KeyValuePair<string, Value>[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            items[i] = new(entries[i].Key ?? throw new ArgumentException("An object key cannot be null.", nameof(entries)), entries[i].Value);
        }
        return FromOwnedEntries(items, checkDuplicates: true);
    }

    /// <summary>Makes an object of the given entries, in order.</summary>
    /// <param name="entries">The entries; keys must be unique and not null.</param>
    /// <exception cref="ArgumentException">A key is repeated or null.</exception>
    [SuppressMessage("Naming", "CA1720:Identifier contains type name", Justification = "It makes a JSON object.")]
    public static Value Object(IEnumerable<KeyValuePair<string, Value>> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var items = entries.ToArray();
        foreach (var item in items)
        {
            if (item.Key is null)
            {
                throw new ArgumentException("An object key cannot be null.", nameof(entries));
            }
        }
        return items.Length == 0 ? EmptyObject : FromOwnedEntries(items, checkDuplicates: true);
    }

    /// <summary>Reads a value from JSON text (protocol.md §2.2).</summary>
    /// <param name="json">The JSON text.</param>
    /// <exception cref="ValueCodecException">The text is not valid JSON or holds something a value cannot.</exception>
    public static Value Parse(string json) => ValueJson.Parse(json);

    /// <summary>Reads a value from UTF-8 JSON text (protocol.md §2.2).</summary>
    /// <param name="utf8Json">The JSON text as UTF-8.</param>
    /// <exception cref="ValueCodecException">The text is not valid JSON or holds something a value cannot.</exception>
    public static Value Parse(ReadOnlySpan<byte> utf8Json) => ValueJson.Parse(utf8Json);

    /// <summary>The elements of an array.</summary>
    /// <exception cref="InvalidOperationException">The value is not an array.</exception>
    public ReadOnlySpan<Value> AsArray() =>
        _kind == ValueKind.Array ? Unsafe.As<Value[]>(_ref!) : ThrowKind<Value[]>("an array");

    /// <summary>The entries of an object, in insertion order.</summary>
    /// <exception cref="InvalidOperationException">The value is not an object.</exception>
    public ReadOnlySpan<KeyValuePair<string, Value>> AsObject() =>
        _kind == ValueKind.Object ? Unsafe.As<ObjectEntries>(_ref!).Items : ThrowKind<KeyValuePair<string, Value>[]>("an object");

    /// <summary>The bytes of a binary blob (do not modify them: values are immutable).</summary>
    /// <exception cref="InvalidOperationException">The value is not a blob.</exception>
    public ReadOnlyMemory<byte> AsBinary() =>
        _kind == ValueKind.Binary ? Unsafe.As<byte[]>(_ref!) : ThrowKind<byte[]>("a binary blob");

    /// <summary>The boolean.</summary>
    /// <exception cref="InvalidOperationException">The value is not a boolean.</exception>
    public bool AsBoolean() => _kind == ValueKind.Bool ? _bits != 0 : ThrowKind<bool>("a boolean");

    /// <summary>The integer.</summary>
    /// <exception cref="InvalidOperationException">The value is not an integer.</exception>
    public long AsInt64() => _kind == ValueKind.Integer ? _bits : ThrowKind<long>("an integer");

    /// <summary>The integer, as a 32-bit one.</summary>
    /// <exception cref="InvalidOperationException">The value is not an integer.</exception>
    /// <exception cref="OverflowException">The integer does not fit in 32 bits.</exception>
    public int AsInt32() => checked((int)AsInt64());

    /// <summary>The number: a float, or an integer converted to a float.</summary>
    /// <exception cref="InvalidOperationException">The value is not a number.</exception>
    public double AsDouble() => _kind switch
    {
        ValueKind.Float => BitConverter.Int64BitsToDouble(_bits),
        ValueKind.Integer => _bits,
        _ => ThrowKind<double>("a number"),
    };

    /// <summary>The string.</summary>
    /// <exception cref="InvalidOperationException">The value is not a string.</exception>
    public string AsString() => _kind == ValueKind.String ? Unsafe.As<string>(_ref!) : ThrowKind<string>("a string");

    /// <summary>Gets the boolean, if this is one.</summary>
    /// <param name="value">The boolean.</param>
    /// <returns>Whether this is a boolean.</returns>
    public bool TryGetBoolean(out bool value)
    {
        value = _bits != 0;
        return _kind == ValueKind.Bool;
    }

    /// <summary>Gets the integer, if this is one.</summary>
    /// <param name="value">The integer.</param>
    /// <returns>Whether this is an integer.</returns>
    public bool TryGetInt64(out long value)
    {
        value = _kind == ValueKind.Integer ? _bits : 0;
        return _kind == ValueKind.Integer;
    }

    /// <summary>Gets the number, if this is a float or an integer.</summary>
    /// <param name="value">The number.</param>
    /// <returns>Whether this is a number.</returns>
    public bool TryGetDouble(out double value)
    {
        value = _kind switch
        {
            ValueKind.Float => BitConverter.Int64BitsToDouble(_bits),
            ValueKind.Integer => _bits,
            _ => 0,
        };
        return _kind is ValueKind.Float or ValueKind.Integer;
    }

    /// <summary>Gets the string, if this is one.</summary>
    /// <param name="value">The string.</param>
    /// <returns>Whether this is a string.</returns>
    public bool TryGetString([NotNullWhen(true)] out string? value)
    {
        value = _ref as string;
        return value is not null;
    }

    /// <summary>Gets the value of <paramref name="key"/>, if this is an object that has it.</summary>
    /// <param name="key">The key.</param>
    /// <param name="value">Its value, or null.</param>
    /// <returns>Whether this is an object with that key.</returns>
    public bool TryGetProperty(string key, out Value value)
    {
        if (_kind == ValueKind.Object)
        {
            return Unsafe.As<ObjectEntries>(_ref!).TryGet(key, out value);
        }
        value = default;
        return false;
    }

    /// <summary>Whether this is an object with exactly <paramref name="keys"/>, in that order and no others.</summary>
    /// <remarks>The messages of protocol.md §5 that carry a fixed-shape value (an error's detail, an exit reason) accept
    /// only the shape their writer produces, so that each such value has one encoding; <see cref="Equals(Value)"/> would
    /// not do, since it ignores the order of entries.</remarks>
    internal bool HasExactKeys(params ReadOnlySpan<string> keys)
    {
        if (_kind != ValueKind.Object)
        {
            return false;
        }
        var entries = Unsafe.As<ObjectEntries>(_ref!).Items;
        if (entries.Length != keys.Length)
        {
            return false;
        }
        for (var i = 0; i < keys.Length; i++)
        {
            if (!string.Equals(entries[i].Key, keys[i], StringComparison.Ordinal))
            {
                return false;
            }
        }
        return true;
    }

    /// <inheritdoc/>
    public bool Equals(Value other)
    {
        if (IsTyped || other.IsTyped)
        {
            return TypedValues.Materialize(this).Equals(TypedValues.Materialize(other));
        }
        if (_kind != other._kind)
        {
            return false;
        }
        switch (_kind)
        {
            case ValueKind.Null:
                return true;
            case ValueKind.Bool:
            case ValueKind.Integer:
            case ValueKind.Float:
                return _bits == other._bits;
            case ValueKind.String:
                return string.Equals(Unsafe.As<string>(_ref), Unsafe.As<string>(other._ref), StringComparison.Ordinal);
            case ValueKind.Binary:
                return Unsafe.As<byte[]>(_ref!).AsSpan().SequenceEqual(Unsafe.As<byte[]>(other._ref!));
            case ValueKind.Array:
                var a = Unsafe.As<Value[]>(_ref!);
                var b = Unsafe.As<Value[]>(other._ref!);
                if (ReferenceEquals(a, b))
                {
                    return true;
                }
                if (a.Length != b.Length)
                {
                    return false;
                }
                for (var i = 0; i < a.Length; i++)
                {
                    if (!a[i].Equals(b[i]))
                    {
                        return false;
                    }
                }
                return true;
            default:
                return Unsafe.As<ObjectEntries>(_ref!).EntriesEqual(Unsafe.As<ObjectEntries>(other._ref!));
        }
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is Value other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        if (IsTyped)
        {
            return TypedValues.Materialize(this).GetHashCode();
        }
        switch (_kind)
        {
            case ValueKind.Null:
                return 0;
            case ValueKind.Bool:
            case ValueKind.Integer:
            case ValueKind.Float:
                return HashCode.Combine(_kind, _bits);
            case ValueKind.String:
                return HashCode.Combine(_kind, Unsafe.As<string>(_ref!).GetHashCode(StringComparison.Ordinal));
            case ValueKind.Binary:
                var hash = new HashCode();
                hash.AddBytes(Unsafe.As<byte[]>(_ref!));
                return hash.ToHashCode();
            case ValueKind.Array:
                var arrayHash = new HashCode();
                foreach (var item in Unsafe.As<Value[]>(_ref!))
                {
                    arrayHash.Add(item);
                }
                return arrayHash.ToHashCode();
            default:
                // Entry order does not take part in equality, so the combination must not depend on it: a sum.
                var sum = (int)ValueKind.Object;
                foreach (var entry in Unsafe.As<ObjectEntries>(_ref!).Items)
                {
                    sum += HashCode.Combine(entry.Key.GetHashCode(StringComparison.Ordinal), entry.Value);
                }
                return sum;
        }
    }

    /// <summary>The value as compact JSON text (protocol.md §2.2).</summary>
    public override string ToString() => ValueJson.ToJsonString(IsTyped ? TypedValues.Materialize(this) : this);

    /// <summary>Structural equality.</summary>
    public static bool operator ==(Value left, Value right) => left.Equals(right);

    /// <summary>Structural inequality.</summary>
    public static bool operator !=(Value left, Value right) => !left.Equals(right);

    /// <summary>A boolean value.</summary>
    public static implicit operator Value(bool value) => FromBoolean(value);

    /// <summary>An integer value.</summary>
    public static implicit operator Value(int value) => new(ValueKind.Integer, value, null);

    /// <summary>An integer value.</summary>
    public static implicit operator Value(long value) => new(ValueKind.Integer, value, null);

    /// <summary>A float value; NaN and the infinities throw <see cref="ValueCodecException"/>.</summary>
    public static implicit operator Value(double value) => FromDouble(value);

    /// <summary>A string value, or null for a null string.</summary>
    public static implicit operator Value(string? value) => FromString(value);

    /// <summary>The boolean; throws when the value is not one.</summary>
    public static explicit operator bool(Value value) => value.AsBoolean();

    /// <summary>The integer; throws when the value is not one.</summary>
    public static explicit operator long(Value value) => value.AsInt64();

    /// <summary>The integer; throws when the value is not one or does not fit.</summary>
    public static explicit operator int(Value value) => value.AsInt32();

    /// <summary>The number; throws when the value is not one.</summary>
    public static explicit operator double(Value value) => value.AsDouble();

    /// <summary>The string, or null for the null value; throws for any other kind.</summary>
    public static explicit operator string?(Value value) => value.IsNull ? null : value.AsString();

    /// <summary>Makes a string without copying (for decoders that already hold a fresh string).</summary>
    /// <summary>The kind of a typed message carried by reference (<see cref="FromTyped"/>). It is not a public kind: a typed
    /// value never reaches code that reads values, which gets <see cref="TypedValues.Materialize"/>'s plain value instead.</summary>
    internal const ValueKind TypedKind = (ValueKind)0x40;

    /// <summary>A user's message object that <paramref name="contract"/> maps, carried by reference: a local call hands it
    /// over without encoding, and the codec writes it through its contract when it crosses the wire.</summary>
    internal static Value FromTyped(object message, ValueContract contract) => new(TypedKind, contract.Id, message);

    /// <summary>Whether this is a typed message (<see cref="FromTyped"/>).</summary>
    internal bool IsTyped => _kind == TypedKind;

    /// <summary>The message object of a typed value.</summary>
    internal object TypedMessage => _ref!;

    /// <summary>The contract of a typed value.</summary>
    internal ValueContract TypedContract => ValueContracts.ById((int)_bits);

    internal static Value FromStringUnchecked(string value) => new(ValueKind.String, 0, value);

    /// <summary>Makes a float from bits already known to be finite.</summary>
    internal static Value FromFiniteDoubleBits(long bits) => new(ValueKind.Float, bits, null);

    /// <summary>Takes ownership of <paramref name="items"/> as an array value; the caller must not keep or change it.</summary>
    internal static Value FromOwnedArray(Value[] items) => items.Length == 0 ? EmptyArray : new(ValueKind.Array, 0, items);

    /// <summary>Takes ownership of <paramref name="bytes"/> as a blob; the caller must not keep or change it.</summary>
    internal static Value FromOwnedBinary(byte[] bytes) => new(ValueKind.Binary, 0, bytes);

    /// <summary>
    /// A copy of <paramref name="bytes"/> in an array that is not zeroed first (every byte is overwritten at once): a blob
    /// of megabytes otherwise costs one more pass over memory that the copy then writes again (a large call's request is
    /// decoded on the connection's read thread).
    /// </summary>
    internal static byte[] CopyBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return [];
        }
        var copy = GC.AllocateUninitializedArray<byte>(bytes.Length);
        bytes.CopyTo(copy);
        return copy;
    }

    /// <summary>
    /// Takes ownership of <paramref name="items"/> as an object value; the caller must not keep or change it.
    /// With <paramref name="checkDuplicates"/> a repeated key throws <see cref="ArgumentException"/>; decoders check
    /// themselves (to report the offset) and pass false.
    /// </summary>
    internal static Value FromOwnedEntries(KeyValuePair<string, Value>[] items, bool checkDuplicates)
    {
        if (items.Length == 0)
        {
            return EmptyObject;
        }
        var entries = new ObjectEntries(items);
        if (checkDuplicates && entries.FindDuplicateKey() is { } duplicate)
        {
            throw new ArgumentException($"The key '{duplicate}' appears twice; object keys are unique.", nameof(items));
        }
        return new(ValueKind.Object, 0, entries);
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private T ThrowKind<T>(string expected) =>
        throw new InvalidOperationException($"The value is {DescribeKind(_kind)}, not {expected}.");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowMissingKey(string key)
    {
        if (_kind != ValueKind.Object)
        {
            ThrowKind<int>("an object");
        }
        throw new KeyNotFoundException($"The object has no key '{key}'.");
    }

    private static string DescribeKind(ValueKind kind) => kind switch
    {
        ValueKind.Null => "null",
        ValueKind.Integer => "an integer",
        ValueKind.Array => "an array",
        ValueKind.Object => "an object",
        _ => "a " + kind.ToString().ToLowerInvariant(),
    };

    /// <summary>Builds an object entry by entry: <c>new Value.ObjectBuilder { { "type", "get" }, { "key", "k1" } }.Build()</c>.</summary>
    /// <remarks>Not thread-safe. <see cref="Build"/> copies the entries, so the builder can go on being used.</remarks>
    public sealed class ObjectBuilder : IEnumerable<KeyValuePair<string, Value>>
    {
        private readonly List<KeyValuePair<string, Value>> _items = new();

        /// <summary>The number of entries added so far.</summary>
        public int Count => _items.Count;

        /// <summary>Adds an entry at the end.</summary>
        /// <param name="key">A key not added before.</param>
        /// <param name="value">Its value.</param>
        /// <returns>This builder.</returns>
        /// <exception cref="ArgumentException">The key was already added.</exception>
        public ObjectBuilder Add(string key, Value value)
        {
            ArgumentNullException.ThrowIfNull(key);
            foreach (var item in _items)
            {
                if (item.Key == key)
                {
                    throw new ArgumentException($"The key '{key}' was already added; object keys are unique.", nameof(key));
                }
            }
            _items.Add(new(key, value));
            return this;
        }

        /// <summary>Makes the object.</summary>
        /// <returns>An object value with the entries in the order they were added.</returns>
        public Value Build() => _items.Count == 0 ? EmptyObject : FromOwnedEntries(_items.ToArray(), checkDuplicates: false);

        /// <inheritdoc/>
        public IEnumerator<KeyValuePair<string, Value>> GetEnumerator() => _items.GetEnumerator();

        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

    /// <summary>An object's entries in insertion order, with a key index built the first time a large object is searched.</summary>
    private sealed class ObjectEntries
    {
        // Up to this many entries a linear ordinal scan beats hashing (most messages have 2–6 keys).
        private const int LinearScanLimit = 8;

        public static readonly ObjectEntries Empty = new([]);

        private Dictionary<string, int>? _index;

        public ObjectEntries(KeyValuePair<string, Value>[] items) => Items = items;

        public KeyValuePair<string, Value>[] Items { get; }

        public bool TryGet(string key, out Value value)
        {
            var items = Items;
            if (items.Length <= LinearScanLimit)
            {
                foreach (var item in items)
                {
                    if (string.Equals(item.Key, key, StringComparison.Ordinal))
                    {
                        value = item.Value;
                        return true;
                    }
                }
                value = default;
                return false;
            }
            // Racing readers may each build an index; they are identical and the last write wins harmlessly.
            var index = _index ??= BuildIndex(items);
            if (index.TryGetValue(key, out var position))
            {
                value = items[position].Value;
                return true;
            }
            value = default;
            return false;
        }

        public string? FindDuplicateKey()
        {
            var items = Items;
            if (items.Length <= LinearScanLimit)
            {
                for (var i = 1; i < items.Length; i++)
                {
                    for (var j = 0; j < i; j++)
                    {
                        if (string.Equals(items[i].Key, items[j].Key, StringComparison.Ordinal))
                        {
                            return items[i].Key;
                        }
                    }
                }
                return null;
            }
            var seen = new HashSet<string>(items.Length, StringComparer.Ordinal);
            foreach (var item in items)
            {
                if (!seen.Add(item.Key))
                {
                    return item.Key;
                }
            }
            return null;
        }

        public bool EntriesEqual(ObjectEntries other)
        {
            if (ReferenceEquals(this, other))
            {
                return true;
            }
            if (Items.Length != other.Items.Length)
            {
                return false;
            }
            // Keys are unique on both sides, so equal counts plus "every entry here is found there" is set equality.
            foreach (var item in Items)
            {
                if (!other.TryGet(item.Key, out var theirs) || !item.Value.Equals(theirs))
                {
                    return false;
                }
            }
            return true;
        }

        private static Dictionary<string, int> BuildIndex(KeyValuePair<string, Value>[] items)
        {
            var index = new Dictionary<string, int>(items.Length, StringComparer.Ordinal);
            for (var i = 0; i < items.Length; i++)
            {
                index[items[i].Key] = i;
            }
            return index;
        }
    }
}
