namespace Noex.Lite;

/// <summary>What is wrong with a message that is a well-formed value but not the shape its type needs.</summary>
public enum MessageContractError
{
    /// <summary>A field the type requires is absent (or null where null is not allowed).</summary>
    MissingField = 1,
    /// <summary>A field holds another kind of value than its type takes, e.g. a string for an integer.</summary>
    WrongKind,
    /// <summary>A message family's discriminator names no member of the family.</summary>
    UnknownDiscriminator,
    /// <summary>A field holds the right kind but a value its type cannot take: an integer out of range, an unknown enum
    /// name, a malformed Guid or date.</summary>
    InvalidValue,
    /// <summary>An object names a field twice.</summary>
    DuplicateField,
}

/// <summary>
/// A message does not fit its C# type: the type and the field say where (e.g. <c>Order.lines[2].quantity</c>). A typed
/// call whose request does not fit fails with this at its caller, as a remote error when it came over the wire; the
/// server process and the connection go on.
/// </summary>
public sealed class MessageContractException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="error">What is wrong.</param>
    /// <param name="typeName">The type being read.</param>
    /// <param name="field">The field, as a path from that type (<c>lines[2].quantity</c>), or null for the whole value.</param>
    /// <param name="detail">What was expected and what was found.</param>
    public MessageContractException(MessageContractError error, string typeName, string? field, string detail)
        : base($"{(field is null ? typeName : $"{typeName}.{field}")}: {detail}")
    {
        Error = error;
        TypeName = typeName;
        Field = field;
        Detail = detail;
    }

    /// <summary>What is wrong.</summary>
    public MessageContractError Error { get; }

    /// <summary>The outermost type being read.</summary>
    public string TypeName { get; }

    /// <summary>The path of the field from <see cref="TypeName"/>, or null when the whole value is wrong.</summary>
    public string? Field { get; }

    /// <summary>What was expected and what was found.</summary>
    public string Detail { get; }

    /// <summary>The same failure seen from the type that holds this one in <paramref name="field"/>.</summary>
    /// <param name="typeName">The outer type.</param>
    /// <param name="field">Its field (or element, e.g. <c>lines[2]</c>) that holds the inner value.</param>
    /// <returns>A new exception whose path runs from the outer type.</returns>
    public MessageContractException Within(string typeName, string field) =>
        new(Error, typeName, Field is null ? field : Field.StartsWith('[') ? field + Field : $"{field}.{Field}", Detail);
}
