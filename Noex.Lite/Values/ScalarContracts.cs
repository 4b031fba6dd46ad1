namespace Noex.Lite;

/// <summary>
/// The contracts of the types a value holds directly: integers, floats, booleans, strings, blobs and <see cref="Value"/>
/// itself. They carry their messages as plain values, which cost no allocation, rather than by reference.
/// </summary>
internal static class ScalarContracts
{
    public static ValueContract<T>? For<T>()
    {
        object? contract =
            typeof(T) == typeof(long) ? new Int64Contract()
            : typeof(T) == typeof(int) ? new Int32Contract()
            : typeof(T) == typeof(double) ? new DoubleContract()
            : typeof(T) == typeof(bool) ? new BooleanContract()
            : typeof(T) == typeof(string) ? new StringContract()
            : typeof(T) == typeof(byte[]) ? new BinaryContract()
            : typeof(T) == typeof(Value) ? new ValueItselfContract()
            : null;
        return (ValueContract<T>?)contract;
    }

    private sealed class Int64Contract : ValueContract<long>
    {
        public override void Write(ref ValueWriter writer, long value) => writer.WriteInt64(value);

        public override long Read(ref ValueReader reader) => MessageFields.ReadInt64(ref reader, "Int64", null);

        internal override Value Wrap(long message) => Value.FromInt64(message);

        internal override bool TryUnwrap(Value value, out long message) => value.TryGetInt64(out message);
    }

    private sealed class Int32Contract : ValueContract<int>
    {
        public override void Write(ref ValueWriter writer, int value) => writer.WriteInt64(value);

        public override int Read(ref ValueReader reader) => MessageFields.ReadInt32(ref reader, "Int32", null);

        internal override Value Wrap(int message) => Value.FromInt64(message);

        internal override bool TryUnwrap(Value value, out int message)
        {
            var fits = value.TryGetInt64(out var integer) && integer is >= int.MinValue and <= int.MaxValue;
            message = fits ? (int)integer : 0;
            return fits;
        }
    }

    private sealed class DoubleContract : ValueContract<double>
    {
        public override void Write(ref ValueWriter writer, double value) => writer.WriteDouble(value);

        public override double Read(ref ValueReader reader) => MessageFields.ReadDouble(ref reader, "Double", null);

        internal override Value Wrap(double message) => Value.FromDouble(message);

        internal override bool TryUnwrap(Value value, out double message) => value.TryGetDouble(out message);
    }

    private sealed class BooleanContract : ValueContract<bool>
    {
        public override void Write(ref ValueWriter writer, bool value) => writer.WriteBoolean(value);

        public override bool Read(ref ValueReader reader) => MessageFields.ReadBoolean(ref reader, "Boolean", null);

        internal override Value Wrap(bool message) => Value.FromBoolean(message);

        internal override bool TryUnwrap(Value value, out bool message) => value.TryGetBoolean(out message);
    }

    private sealed class StringContract : ValueContract<string>
    {
        public override void Write(ref ValueWriter writer, string value)
        {
            if (value is null)
            {
                writer.WriteNull();
            }
            else
            {
                writer.WriteString(value);
            }
        }

        public override string Read(ref ValueReader reader) => MessageFields.ReadNullableString(ref reader, "String", null)!;

        internal override Value Wrap(string message) => Value.FromString(message);

        internal override bool TryUnwrap(Value value, out string message)
        {
            var plain = value.Kind is ValueKind.String or ValueKind.Null;
            message = value.Kind == ValueKind.String ? value.AsString() : null!;
            return plain;
        }
    }

    private sealed class BinaryContract : ValueContract<byte[]>
    {
        public override void Write(ref ValueWriter writer, byte[] value)
        {
            if (value is null)
            {
                writer.WriteNull();
            }
            else
            {
                writer.WriteBinary(value);
            }
        }

        public override byte[] Read(ref ValueReader reader) => MessageFields.ReadBinary(ref reader, "Binary", null)!;
    }

    private sealed class ValueItselfContract : ValueContract<Value>
    {
        public override void Write(ref ValueWriter writer, Value value) => writer.WriteValue(value);

        public override Value Read(ref ValueReader reader) => reader.ReadValue();

        internal override Value Wrap(Value message) => TypedValues.Materialize(message);

        internal override bool TryUnwrap(Value value, out Value message)
        {
            message = TypedValues.Materialize(value);
            return true;
        }
    }
}
