using System.Buffers;

namespace Noex.Lite;

/// <summary>
/// The bridge between typed messages and values: where a message meets code of the other kind (a typed handler given a
/// plain value, a value-level handler given a typed message, a reply of another type than the caller's), it goes through
/// its encoding, exactly as if it had crossed the wire, so both sides see what a peer would.
/// </summary>
internal static class TypedValues
{
    // One scratch buffer per thread, as ValueCodec.Encode keeps; dropped after a message that made it grow past this.
    private const int ScratchKeepLimit = 64 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_scratch;

    /// <summary>A typed message as the plain value a peer would decode; any other value as it is.</summary>
    public static Value Materialize(Value value)
    {
        if (!value.IsTyped)
        {
            return value;
        }
        var scratch = Rent();
        try
        {
            ValueCodec.Encode(value, scratch);
            return ValueCodec.Decode(scratch.WrittenSpan);
        }
        finally
        {
            Return(scratch);
        }
    }

    /// <summary>The message <paramref name="value"/> holds, as a <typeparamref name="T"/>: the same object when a typed sender
    /// sent one, otherwise read through <paramref name="contract"/> from the value's encoding.</summary>
    /// <exception cref="MessageContractException">The value does not fit <typeparamref name="T"/>.</exception>
    public static T As<T>(Value value, ValueContract<T> contract)
    {
        if (contract.TryUnwrap(value, out var message))
        {
            return message;
        }
        var scratch = Rent();
        try
        {
            ValueCodec.Encode(value, scratch);
            var reader = new ValueReader(scratch.WrittenSpan);
            return contract.Read(ref reader);
        }
        finally
        {
            Return(scratch);
        }
    }

    /// <summary>The length of a typed message's encoding, counted without keeping it (for an error that says how much to cut).</summary>
    public static long EncodedLength(Value value)
    {
        var counter = new CountingWriter();
        ValueCodec.Encode(value, counter);
        return counter.Count;
    }

    private static ArrayBufferWriter<byte> Rent()
    {
        var scratch = t_scratch ?? new ArrayBufferWriter<byte>(256);
        t_scratch = null; // a nested use (a contract's own Read calling back here) takes its own buffer
        return scratch;
    }

    private static void Return(ArrayBufferWriter<byte> scratch)
    {
        scratch.ResetWrittenCount();
        if (scratch.Capacity <= ScratchKeepLimit)
        {
            t_scratch = scratch;
        }
    }

    /// <summary>Counts what is written into one reused scratch span.</summary>
    private sealed class CountingWriter : IBufferWriter<byte>
    {
        private byte[] _scratch = new byte[4096];

        public long Count { get; private set; }

        public void Advance(int count) => Count += count;

        public Memory<byte> GetMemory(int sizeHint = 0) => Scratch(sizeHint);

        public Span<byte> GetSpan(int sizeHint = 0) => Scratch(sizeHint);

        private byte[] Scratch(int sizeHint)
        {
            if (sizeHint > _scratch.Length)
            {
                _scratch = new byte[sizeHint];
            }
            return _scratch;
        }
    }
}
