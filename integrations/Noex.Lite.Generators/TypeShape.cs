using System.Collections.Generic;
using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Noex.Lite.Generators;

/// <summary>What a property's value is on the wire (protocol.md §2.1), and so which reads and writes carry it.</summary>
internal enum ShapeKind
{
    Boolean,
    Int64,
    Int32,
    /// <summary>byte, sbyte, short, ushort, uint: an integer checked against the type's range.</summary>
    NarrowInteger,
    Single,
    Double,
    String,
    /// <summary>byte[]: a binary blob.</summary>
    Binary,
    Guid,
    DateTimeOffset,
    /// <summary>An enum, as its member names.</summary>
    Enum,
    /// <summary>Noex.Lite.Value itself: any value.</summary>
    Value,
    /// <summary>Another [NoexMessage] type, through its registered contract.</summary>
    Message,
    /// <summary>T[], IReadOnlyList&lt;T&gt;: an array, read into a T[].</summary>
    Array,
    /// <summary>List&lt;T&gt;, IList&lt;T&gt;: an array, read into a List&lt;T&gt;.</summary>
    List,
    /// <summary>Dictionary&lt;string, T&gt; and its interfaces: an object, read into a Dictionary.</summary>
    Dictionary,
}

/// <summary>An enum member: its name on the wire and the C# expression for it.</summary>
internal sealed record EnumMember(string WireName, string Expression, bool WritesAs);

/// <summary>A property type as the generator sees it: its wire kind, its C# name (as declared, with nullable annotations,
/// fully qualified) and, for collections, the shape of the elements.</summary>
internal sealed class TypeShape
{
    private static readonly SymbolDisplayFormat s_qualified = SymbolDisplayFormat.FullyQualifiedFormat;

    private TypeShape(ShapeKind kind, string name)
    {
        Kind = kind;
        Name = name;
    }

    public ShapeKind Kind { get; }

    /// <summary>The C# type, fully qualified, with '?' when <see cref="IsNullable"/>.</summary>
    public string Name { get; private set; }

    /// <summary>The C# type without the '?' of <see cref="IsNullable"/>: what the value is once null has been ruled out.</summary>
    public string NonNullName { get; private set; } = "";

    /// <summary>Null is a value of the type: a nullable reference (or one in a context that does not say) or a Nullable&lt;T&gt;.
    /// Such a property is optional: absent and null both read as null.</summary>
    public bool IsNullable { get; private set; }

    /// <summary>A reference type: a null may turn up at run time whatever the annotation says, so writes check for it.</summary>
    public bool IsReference { get; private set; }

    /// <summary>The element of an array or list, or the value of a dictionary.</summary>
    public TypeShape? Element { get; private set; }

    /// <summary>For <see cref="ShapeKind.List"/> and <see cref="ShapeKind.Dictionary"/>: the concrete type a read creates.</summary>
    public string ConcreteName { get; private set; } = "";

    /// <summary>For a collection declared as an interface: writes test for the concrete type first, whose enumerator is a
    /// struct, so that the common case allocates nothing.</summary>
    public bool IsInterface { get; private set; }

    public long Min { get; private set; }

    public long Max { get; private set; }

    /// <summary>For <see cref="ShapeKind.Enum"/>.</summary>
    public ImmutableArray<EnumMember> Members { get; private set; } = ImmutableArray<EnumMember>.Empty;

    /// <summary>The short name, for messages about the type (an enum's name in "'x' is not a member of Status").</summary>
    public string ShortName { get; private set; } = "";

    /// <summary>For <see cref="ShapeKind.Message"/>: declared in another assembly, whose module initializer registers it.</summary>
    public bool IsExternal { get; private set; }

    /// <summary>Works out the shape of <paramref name="type"/>, or says why it has none.</summary>
    public static TypeShape? Analyze(ITypeSymbol type, Compilation compilation, out string? reason)
    {
        reason = null;
        if (type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable)
        {
            var inner = Analyze(nullable.TypeArguments[0], compilation, out reason);
            if (inner is null)
            {
                return null;
            }
            inner.IsNullable = true;
            inner.Name = inner.NonNullName + "?";
            return inner;
        }

        var shape = AnalyzeNonNull(type, compilation, out reason);
        if (shape is null)
        {
            return null;
        }
        if (shape.NonNullName.Length == 0)
        {
            shape.NonNullName = shape.Name;
        }
        shape.IsReference = type.IsReferenceType;
        // A reference type is optional unless it is declared non-nullable; one declared where nullability is not tracked
        // (#nullable disable) says nothing, and is taken as nullable.
        if (type.IsReferenceType && type.NullableAnnotation != NullableAnnotation.NotAnnotated)
        {
            shape.IsNullable = true;
            shape.Name = shape.NonNullName + "?";
        }
        return shape;
    }

    private static TypeShape? AnalyzeNonNull(ITypeSymbol type, Compilation compilation, out string? reason)
    {
        reason = null;
        switch (type.SpecialType)
        {
            case SpecialType.System_Boolean:
                return new TypeShape(ShapeKind.Boolean, "bool");
            case SpecialType.System_Int64:
                return new TypeShape(ShapeKind.Int64, "long");
            case SpecialType.System_Int32:
                return new TypeShape(ShapeKind.Int32, "int");
            case SpecialType.System_SByte:
                return Narrow("sbyte", sbyte.MinValue, sbyte.MaxValue);
            case SpecialType.System_Byte:
                return Narrow("byte", byte.MinValue, byte.MaxValue);
            case SpecialType.System_Int16:
                return Narrow("short", short.MinValue, short.MaxValue);
            case SpecialType.System_UInt16:
                return Narrow("ushort", ushort.MinValue, ushort.MaxValue);
            case SpecialType.System_UInt32:
                return Narrow("uint", uint.MinValue, uint.MaxValue);
            case SpecialType.System_Single:
                return new TypeShape(ShapeKind.Single, "float");
            case SpecialType.System_Double:
                return new TypeShape(ShapeKind.Double, "double");
            case SpecialType.System_String:
                return new TypeShape(ShapeKind.String, "string");
            case SpecialType.System_UInt64:
                reason = "the codec's integers are signed 64-bit, so a ulong above long.MaxValue has no form; use long";
                return null;
            case SpecialType.System_Decimal:
                reason = "the codec has no decimal; use long (minor units) or string";
                return null;
            case SpecialType.System_Char:
                reason = "use string";
                return null;
            case SpecialType.System_DateTime:
                reason = "a DateTime does not say its offset; use DateTimeOffset";
                return null;
            case SpecialType.System_Object:
                reason = "object has no contract; use Noex.Lite.Value for schema-less data";
                return null;
        }

        if (type is IArrayTypeSymbol array)
        {
            if (array.Rank != 1)
            {
                reason = "multi-dimensional arrays have no form in the codec; use an array of arrays";
                return null;
            }
            if (array.ElementType.SpecialType == SpecialType.System_Byte)
            {
                return new TypeShape(ShapeKind.Binary, "byte[]");
            }
            var element = Analyze(array.ElementType, compilation, out var elementReason);
            if (element is null)
            {
                reason = $"its elements: {elementReason}";
                return null;
            }
            return new TypeShape(ShapeKind.Array, element.Name + "[]") { Element = element, ConcreteName = element.Name + "[]" };
        }

        if (type is not INamedTypeSymbol named)
        {
            reason = "a type parameter or pointer has no contract";
            return null;
        }

        if (named.TypeKind == TypeKind.Enum)
        {
            return Enum(named);
        }

        var metadataName = FullMetadataName(named.OriginalDefinition);
        switch (metadataName)
        {
            case "System.Guid":
                return new TypeShape(ShapeKind.Guid, "global::System.Guid");
            case "System.DateTimeOffset":
                return new TypeShape(ShapeKind.DateTimeOffset, "global::System.DateTimeOffset");
            case "Noex.Lite.Value":
                return new TypeShape(ShapeKind.Value, "global::Noex.Lite.Value");
            case "System.Collections.Generic.List`1":
                return Sequence(named, compilation, ShapeKind.List, "List", isInterface: false, out reason);
            case "System.Collections.Generic.IList`1":
                return Sequence(named, compilation, ShapeKind.List, "IList", isInterface: true, out reason);
            case "System.Collections.Generic.IReadOnlyList`1":
                return Sequence(named, compilation, ShapeKind.Array, "IReadOnlyList", isInterface: true, out reason);
            case "System.Collections.Generic.Dictionary`2":
                return Map(named, compilation, "Dictionary", isInterface: false, out reason);
            case "System.Collections.Generic.IDictionary`2":
                return Map(named, compilation, "IDictionary", isInterface: true, out reason);
            case "System.Collections.Generic.IReadOnlyDictionary`2":
                return Map(named, compilation, "IReadOnlyDictionary", isInterface: true, out reason);
            case "System.Collections.Generic.IEnumerable`1":
            case "System.Collections.Generic.ICollection`1":
            case "System.Collections.Generic.IReadOnlyCollection`1":
                reason = "its count and items cannot be read without allocating an enumerator; use T[], List<T>, IList<T> or IReadOnlyList<T>";
                return null;
        }

        if (HasAttribute(named, "Noex.Lite.NoexMessageAttribute"))
        {
            if (named.IsGenericType)
            {
                reason = "generic messages are not supported";
                return null;
            }
            return new TypeShape(ShapeKind.Message, named.ToDisplayString(s_qualified))
            {
                ShortName = named.Name,
                IsExternal = !SymbolEqualityComparer.Default.Equals(named.ContainingAssembly, compilation.Assembly),
            };
        }

        reason = "it is neither a supported type nor marked [NoexMessage]";
        return null;
    }

    private static TypeShape Narrow(string name, long min, long max) => new(ShapeKind.NarrowInteger, name) { Min = min, Max = max };

    private static TypeShape Enum(INamedTypeSymbol type)
    {
        var members = ImmutableArray.CreateBuilder<EnumMember>();
        var written = new HashSet<object>();
        var typeName = type.ToDisplayString(s_qualified);
        foreach (var field in type.GetMembers().OfType<IFieldSymbol>())
        {
            if (!field.HasConstantValue || field.ConstantValue is null)
            {
                continue;
            }
            var wireName = StringArgument(FindAttribute(field, "System.Text.Json.Serialization.JsonStringEnumMemberNameAttribute")) ?? field.Name;
            // Two names for one value: both are read, the first is written (a switch cannot have the value twice).
            members.Add(new EnumMember(wireName, typeName + "." + Identifier(field.Name), written.Add(field.ConstantValue)));
        }
        return new TypeShape(ShapeKind.Enum, typeName) { Members = members.ToImmutable(), ShortName = type.Name };
    }

    private static TypeShape? Sequence(INamedTypeSymbol type, Compilation compilation, ShapeKind kind, string generic, bool isInterface, out string? reason)
    {
        var element = Analyze(type.TypeArguments[0], compilation, out var elementReason);
        if (element is null)
        {
            reason = $"its elements: {elementReason}";
            return null;
        }
        reason = null;
        return new TypeShape(kind, $"global::System.Collections.Generic.{generic}<{element.Name}>")
        {
            Element = element,
            IsInterface = isInterface,
            ConcreteName = kind == ShapeKind.List ? $"global::System.Collections.Generic.List<{element.Name}>" : element.Name + "[]",
        };
    }

    private static TypeShape? Map(INamedTypeSymbol type, Compilation compilation, string generic, bool isInterface, out string? reason)
    {
        if (type.TypeArguments[0].SpecialType != SpecialType.System_String)
        {
            reason = "a dictionary travels as an object, whose keys are strings; use Dictionary<string, T>";
            return null;
        }
        var value = Analyze(type.TypeArguments[1], compilation, out var valueReason);
        if (value is null)
        {
            reason = $"its values: {valueReason}";
            return null;
        }
        reason = null;
        return new TypeShape(ShapeKind.Dictionary, $"global::System.Collections.Generic.{generic}<string, {value.Name}>")
        {
            Element = value,
            IsInterface = isInterface,
            ConcreteName = $"global::System.Collections.Generic.Dictionary<string, {value.Name}>",
        };
    }

    /// <summary>The single string argument of an attribute like [JsonPropertyName("x")], or null.</summary>
    public static string? StringArgument(AttributeData? attribute) =>
        attribute is not null && attribute.ConstructorArguments.Length == 1 ? attribute.ConstructorArguments[0].Value as string : null;

    public static bool HasAttribute(ISymbol symbol, string fullName) => FindAttribute(symbol, fullName) is not null;

    public static AttributeData? FindAttribute(ISymbol symbol, string fullName)
    {
        foreach (var attribute in symbol.GetAttributes())
        {
            if (attribute.AttributeClass is { } attributeClass && FullMetadataName(attributeClass) == fullName)
            {
                return attribute;
            }
        }
        return null;
    }

    /// <summary>Namespace.Outer+Inner`1 style, without the cost of a display format.</summary>
    public static string FullMetadataName(INamedTypeSymbol type)
    {
        var name = type.MetadataName;
        for (var containing = type.ContainingType; containing is not null; containing = containing.ContainingType)
        {
            name = containing.MetadataName + "+" + name;
        }
        return type.ContainingNamespace is { IsGlobalNamespace: false } ns ? ns.ToDisplayString() + "." + name : name;
    }

    /// <summary>A C# identifier for <paramref name="name"/>, escaped with '@' when it is a keyword.</summary>
    public static string Identifier(string name) => SyntaxFacts.GetKeywordKind(name) != SyntaxKind.None ? "@" + name : name;
}
