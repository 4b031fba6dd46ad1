namespace Noex.Lite;

/// <summary>
/// How a C# type crosses the wire: it writes an instance in the value codec (protocol.md §2.1) and reads one back, field
/// by field, with no <see cref="Value"/> tree in between.
/// </summary>
/// <remarks>
/// The source generator of <c>integrations/Noex.Lite.Generators</c> writes one for every <see cref="NoexMessageAttribute"/>
/// type; the library has its own for <see cref="long"/>, <see cref="int"/>, <see cref="double"/>, <see cref="bool"/>,
/// <see cref="string"/>, <see cref="byte"/> arrays and <see cref="Value"/>; anything else can be written by hand and
/// registered with <see cref="ValueContracts.Register{T}"/>.
/// </remarks>
public abstract class ValueContract
{
    private protected ValueContract(Type messageType)
    {
        MessageType = messageType;
        Id = ValueContracts.Assign(this);
    }

    /// <summary>The type this contract maps.</summary>
    public Type MessageType { get; }

    /// <summary>Its index in the registry: what a typed <see cref="Value"/> carries instead of a reference.</summary>
    internal int Id { get; }

    internal abstract void WriteBoxed(ref ValueWriter writer, object message);

    internal abstract object? ReadBoxed(ref ValueReader reader);

    /// <summary>Reads a message from exactly <paramref name="encoding"/> as a value ready for a mailbox.</summary>
    internal abstract Value ReadWrapped(ReadOnlySpan<byte> encoding, int maxDepth);
}

/// <summary>Writes and reads one type in the value codec.</summary>
/// <typeparam name="T">The type.</typeparam>
/// <remarks>
/// <para>
/// <see cref="Write"/> writes exactly one value; <see cref="Read"/> reads exactly one and throws
/// <see cref="MessageContractException"/> naming the type and the field when the value has the wrong shape (a missing
/// field, a wrong kind, an unknown discriminator), or <see cref="ValueCodecException"/> when the bytes themselves are
/// malformed. Both must be thread-safe; a contract is created once and shared.
/// </para>
/// <para>
/// A contract writing arrays or objects brackets each with <see cref="ValueWriter.EnterContainer"/> and
/// <see cref="ValueWriter.ExitContainer"/> (and <see cref="ValueReader.EnterContainer()"/> on the way in): that is what
/// keeps a recursive type within the nesting limit a peer accepts.
/// </para>
/// </remarks>
public abstract class ValueContract<T> : ValueContract
{
    /// <summary>Creates the contract and gives it its registry index.</summary>
#pragma warning disable RS0022 // by design: ValueContract<T> is the one public way to derive from ValueContract
    protected ValueContract()
        : base(typeof(T))
    {
    }
#pragma warning restore RS0022

    /// <summary>Writes <paramref name="value"/> as one value.</summary>
    /// <param name="writer">Where to write.</param>
    /// <param name="value">The message.</param>
    public abstract void Write(ref ValueWriter writer, T value);

    /// <summary>Reads one value as a <typeparamref name="T"/>.</summary>
    /// <param name="reader">Where to read; it is left after the value.</param>
    /// <returns>The message.</returns>
    /// <exception cref="MessageContractException">The value does not have the shape of a <typeparamref name="T"/>.</exception>
    /// <exception cref="ValueCodecException">The bytes are malformed.</exception>
    public abstract T Read(ref ValueReader reader);

    /// <summary>The message as a value that a mailbox carries: by reference, unless a plain value is as cheap
    /// (the contracts of scalars override this).</summary>
    internal virtual Value Wrap(T message) => message is null ? Value.Null : Value.FromTyped(message, this);

    /// <summary>The message a value holds, when it holds one without decoding: the same object a typed sender wrapped,
    /// or (for the contracts of scalars) a plain value of the right kind.</summary>
    internal virtual bool TryUnwrap(Value value, out T message)
    {
        if (value.IsTyped && value.TypedMessage is T typed)
        {
            message = typed;
            return true;
        }
        message = default!;
        return false;
    }

    internal sealed override void WriteBoxed(ref ValueWriter writer, object message) => Write(ref writer, (T)message);

    internal sealed override object? ReadBoxed(ref ValueReader reader) => Read(ref reader);

    internal sealed override Value ReadWrapped(ReadOnlySpan<byte> encoding, int maxDepth)
    {
        var reader = new ValueReader(encoding, maxDepth);
        var message = Read(ref reader);
        if (!reader.IsAtEnd)
        {
            ValueCodecException.Throw(ValueCodecError.TrailingBytes, reader.Consumed, $"{reader.Remaining} byte(s) follow the value");
        }
        return Wrap(message);
    }
}
