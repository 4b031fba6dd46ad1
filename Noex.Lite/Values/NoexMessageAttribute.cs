namespace Noex.Lite;

/// <summary>
/// Marks a <c>partial</c> record, class or struct as a message: the Noex.Lite.Generators source generator writes its
/// <see cref="ValueContract{T}"/> and registers it when the assembly loads. No reflection runs, so it is trim- and
/// AOT-safe.
/// </summary>
/// <remarks>
/// <para>
/// The message is an object with one entry per public property (inherited ones included), in declaration order. Keys are
/// the property names in camelCase, as a TypeScript or JSON peer writes them; <c>[JsonPropertyName]</c> renames one and
/// <c>[JsonIgnore]</c> leaves one out. A property of a non-nullable type is required, unless its constructor parameter has a
/// default value; a nullable one may be absent or null. Keys the type does not know are skipped, so a field added on one
/// side of a rolling deploy does not break the other. Enums travel as their member names.
/// </para>
/// <para>
/// A family (an abstract base with <see cref="NoexDerivedTypeAttribute"/>s) travels with a discriminator entry, <c>type</c>
/// unless <see cref="Discriminator"/> says otherwise, as in the seeds' <c>{ type: 'inc' }</c> messages.
/// </para>
/// </remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, Inherited = false)]
public sealed class NoexMessageAttribute : Attribute
{
    /// <summary>For a family's base type: the key of the discriminator entry. <c>type</c> by default.</summary>
    public string Discriminator { get; set; } = "type";
}

/// <summary>Names a member of a message family on its base type, and the discriminator value that marks it.</summary>
/// <param name="derivedType">The member type (itself <c>[NoexMessage]</c> and partial).</param>
/// <param name="discriminator">The value of the discriminator entry for it, e.g. <c>"inc"</c>.</param>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Struct, AllowMultiple = true, Inherited = false)]
public sealed class NoexDerivedTypeAttribute(Type derivedType, string discriminator) : Attribute
{
    /// <summary>The member type.</summary>
    public Type DerivedType { get; } = derivedType;

    /// <summary>Its discriminator value.</summary>
    public string Discriminator { get; } = discriminator;
}
