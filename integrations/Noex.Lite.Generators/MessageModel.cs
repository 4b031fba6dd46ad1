using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using System.Threading;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Noex.Lite.Generators;

/// <summary>How a read hands a property's value to the new instance.</summary>
internal enum Binding
{
    /// <summary>As an argument of the constructor.</summary>
    Constructor,
    /// <summary>In the object initializer (a settable or init property, <c>required</c> ones included).</summary>
    Initializer,
    /// <summary>Not at all: a get-only property no constructor parameter sets. It is written; a read skips its key.</summary>
    WriteOnly,
}

/// <summary>One entry of a message: a property and its key.</summary>
internal sealed class PropertyModel(string name, string key, TypeShape writeShape)
{
    /// <summary>The C# name, escaped.</summary>
    public string Name { get; } = name;

    /// <summary>The key on the wire.</summary>
    public string Key { get; } = key;

    /// <summary>The property's type: what a write takes.</summary>
    public TypeShape WriteShape { get; } = writeShape;

    /// <summary>The type a read produces: the constructor parameter's when one sets the property (it may be more nullable).</summary>
    public TypeShape? ReadShape { get; set; }

    public Binding Binding { get; set; } = Binding.WriteOnly;

    /// <summary>The constructor parameter's default value as C#, when it has one: a missing key reads as it.</summary>
    public string? Default { get; set; }

    /// <summary>A missing key is an error: a non-nullable type with no constructor default.</summary>
    public bool Required => Binding != Binding.WriteOnly && Default is null && ReadShape is { IsNullable: false };
}

/// <summary>A member of a family, as its base's contract dispatches to it.</summary>
internal sealed record FamilyMember(string TypeName, string Tag, int Depth);

/// <summary>Everything the emitter needs to write one message's contract.</summary>
internal sealed class MessageModel
{
    public string TypeName { get; set; } = "";

    public string ShortName { get; set; } = "";

    public string? Namespace { get; set; }

    /// <summary>The partial declarations from the outermost containing type in, the message's own last.</summary>
    public List<string> Declarations { get; } = [];

    public bool IsValueType { get; set; }

    /// <summary>A base type has a NoexContract of its own (a family's base, or a message derived from): this one hides it.</summary>
    public bool HidesBaseContract { get; set; }

    /// <summary>For a family's base: its members, deepest in the hierarchy first (the order a type switch needs).</summary>
    public List<FamilyMember>? FamilyMembers { get; set; }

    /// <summary>The discriminator's key: for a base, the one it reads; for a member, the one it writes.</summary>
    public string? DiscriminatorKey { get; set; }

    /// <summary>For a member of a family: its discriminator value.</summary>
    public string? DiscriminatorTag { get; set; }

    public List<PropertyModel> Properties { get; } = [];

    /// <summary>The constructor's arguments in order: a property's index or, for a parameter no property sets, its
    /// default value as C#.</summary>
    public List<(int Property, string? Default)> ConstructorArguments { get; } = [];

    /// <summary>Message types of other assemblies that this one holds: their module initializers must have run.</summary>
    public List<string> ExternalMessages { get; } = [];
}

/// <summary>What the transform step hands on: the contract's source (null when a diagnostic forbids it), what to register,
/// and the diagnostics. Plain comparable data, so that an unchanged message regenerates nothing.</summary>
internal sealed record MessageOutput(
    string HintName,
    string? Source,
    string? TypeName,
    EquatableArray<string> ExternalMessages,
    EquatableArray<DiagnosticInfo> Diagnostics);

/// <summary>Builds a <see cref="MessageModel"/> from a [NoexMessage] type symbol, applying the mapping rules of
/// NoexMessageAttribute's documentation and reporting what it cannot map.</summary>
internal static class MessageModelBuilder
{
    private const string MessageAttribute = "Noex.Lite.NoexMessageAttribute";
    private const string DerivedTypeAttribute = "Noex.Lite.NoexDerivedTypeAttribute";
    private const string JsonPropertyName = "System.Text.Json.Serialization.JsonPropertyNameAttribute";
    private const string JsonIgnore = "System.Text.Json.Serialization.JsonIgnoreAttribute";
    private const string JsonConstructor = "System.Text.Json.Serialization.JsonConstructorAttribute";
    private const string DefaultDiscriminator = "type";

    public static MessageOutput Build(INamedTypeSymbol type, Compilation compilation, CancellationToken cancellationToken)
    {
        var diagnostics = new List<DiagnosticInfo>();
        var hintName = HintName(type);
        var model = Analyze(type, compilation, diagnostics, cancellationToken);
        string? source = null;
        if (model is not null && !diagnostics.Any(d => d.Descriptor.DefaultSeverity == DiagnosticSeverity.Error))
        {
            source = ContractEmitter.Emit(model);
        }
        return new MessageOutput(
            hintName,
            source,
            source is null ? null : model!.TypeName,
            new EquatableArray<string>(source is null ? ImmutableArray<string>.Empty : model!.ExternalMessages.ToImmutableArray()),
            new EquatableArray<DiagnosticInfo>(diagnostics.ToImmutableArray()));
    }

    private static string HintName(INamedTypeSymbol type) =>
        TypeShape.FullMetadataName(type).Replace('+', '.').Replace('`', '_') + ".NoexContract.g.cs";

    private static MessageModel? Analyze(INamedTypeSymbol type, Compilation compilation, List<DiagnosticInfo> diagnostics, CancellationToken cancellationToken)
    {
        if (!CheckDeclaration(type, diagnostics))
        {
            return null;
        }

        var model = new MessageModel
        {
            TypeName = type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat),
            ShortName = type.Name,
            Namespace = type.ContainingNamespace is { IsGlobalNamespace: false } ns ? ns.ToDisplayString() : null,
            IsValueType = type.IsValueType,
            HidesBaseContract = HasBaseContract(type, compilation),
        };
        var chain = new List<INamedTypeSymbol>();
        for (var containing = type; containing is not null; containing = containing.ContainingType)
        {
            chain.Add(containing);
        }
        chain.Reverse();
        foreach (var declared in chain)
        {
            model.Declarations.Add("partial " + Keyword(declared) + " " + TypeShape.Identifier(declared.Name));
        }

        var attribute = TypeShape.FindAttribute(type, MessageAttribute)!;
        var derivedAttributes = type.GetAttributes().Where(a => a.AttributeClass is { } c && TypeShape.FullMetadataName(c) == DerivedTypeAttribute).ToList();
        if (derivedAttributes.Count > 0 || type.IsAbstract)
        {
            return AnalyzeFamilyBase(type, model, attribute, derivedAttributes, diagnostics) ? model : null;
        }

        FindFamily(type, model, diagnostics);
        cancellationToken.ThrowIfCancellationRequested();
        if (!AnalyzeProperties(type, compilation, model, diagnostics))
        {
            return null;
        }
        return model;
    }

    /// <summary>The type can hold a generated nested class that the module initializer reaches: partial all the way out,
    /// not generic, not a ref struct, accessible to the assembly.</summary>
    private static bool CheckDeclaration(INamedTypeSymbol type, List<DiagnosticInfo> diagnostics)
    {
        var ok = true;
        for (var declared = type; declared is not null; declared = declared.ContainingType)
        {
            if (declared.Arity > 0)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnsupportedShape, type, type.Name,
                    ReferenceEquals(declared, type) ? "generic" : $"nested in the generic type '{declared.Name}'"));
                return false;
            }
            var notPartial = declared.DeclaringSyntaxReferences
                .Select(r => r.GetSyntax())
                .OfType<TypeDeclarationSyntax>()
                .Any(d => !d.Modifiers.Any(SyntaxKind.PartialKeyword));
            if (notPartial)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.NotPartial, declared, declared.Name, type.Name));
                ok = false;
            }
            if (declared.IsFileLocal || declared.DeclaredAccessibility is Accessibility.Private or Accessibility.Protected or Accessibility.ProtectedAndInternal)
            {
                var why = declared.IsFileLocal ? "file-local" : declared.DeclaredAccessibility switch
                {
                    Accessibility.Private => "private",
                    Accessibility.Protected => "protected",
                    _ => "private protected",
                };
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.Inaccessible, type, type.Name,
                    ReferenceEquals(declared, type) ? $"it is {why}" : $"its containing type '{declared.Name}' is {why}"));
                ok = false;
            }
        }
        if (type.IsRefLikeType)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnsupportedShape, type, type.Name, "a ref struct (it cannot be a type argument)"));
            ok = false;
        }
        else if (type.IsStatic)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnsupportedShape, type, type.Name, "static"));
            ok = false;
        }
        return ok;
    }

    private static bool HasBaseContract(INamedTypeSymbol type, Compilation compilation)
    {
        for (var current = type.BaseType; current is not null; current = current.BaseType)
        {
            // A base of this assembly marked [NoexMessage] gets a NoexContract from this generator, which the compilation
            // the generator sees does not hold yet; one written by hand is a member already.
            var generated = SymbolEqualityComparer.Default.Equals(current.ContainingAssembly, compilation.Assembly)
                && TypeShape.HasAttribute(current, MessageAttribute);
            if (generated || current.GetTypeMembers("NoexContract").Any(t => compilation.IsSymbolAccessibleWithin(t, type)))
            {
                return true;
            }
        }
        return false;
    }

    private static string Keyword(INamedTypeSymbol type) => type switch
    {
        { IsRecord: true, TypeKind: TypeKind.Struct } => "record struct",
        { IsRecord: true } => "record",
        { TypeKind: TypeKind.Struct } => "struct",
        { TypeKind: TypeKind.Interface } => "interface",
        _ => "class",
    };

    private static bool AnalyzeFamilyBase(INamedTypeSymbol type, MessageModel model, AttributeData attribute, List<AttributeData> derivedAttributes, List<DiagnosticInfo> diagnostics)
    {
        var ok = true;
        if (type.TypeKind != TypeKind.Class || !type.IsAbstract)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.FamilyError, type, type.Name,
                "the base of a family must be an abstract class or record (a message of the base type itself would have no discriminator)"));
            ok = false;
        }
        if (derivedAttributes.Count == 0)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.FamilyError, type, type.Name,
                "it is abstract, so it is read as one of its members: list them with [NoexDerivedType(typeof(Member), \"tag\")]"));
            return false;
        }
        var key = DiscriminatorOf(attribute);
        if (string.IsNullOrEmpty(key))
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.FamilyError, type, type.Name, "the discriminator key must not be empty"));
            ok = false;
        }
        var members = new List<FamilyMember>();
        var tags = new HashSet<string>(System.StringComparer.Ordinal);
        var seen = new HashSet<ISymbol>(SymbolEqualityComparer.Default);
        foreach (var derived in derivedAttributes)
        {
            if (derived.ConstructorArguments.Length != 2
                || derived.ConstructorArguments[0].Value is not INamedTypeSymbol member
                || member.TypeKind == TypeKind.Error)
            {
                continue; // the compiler reports a malformed attribute or an unknown type itself
            }
            var tag = derived.ConstructorArguments[1].Value as string;
            if (!InheritsFrom(member, type))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.FamilyError, type, type.Name, $"'{member.Name}' does not derive from '{type.Name}'"));
                ok = false;
                continue;
            }
            if (!TypeShape.HasAttribute(member, MessageAttribute))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.FamilyError, type, type.Name,
                    $"'{member.Name}' must itself be marked [NoexMessage] (and be partial), which gives it its contract"));
                ok = false;
                continue;
            }
            if (member.IsAbstract)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.FamilyError, type, type.Name,
                    $"'{member.Name}' is abstract; a family lists the types whose instances travel"));
                ok = false;
                continue;
            }
            if (string.IsNullOrEmpty(tag))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.FamilyError, type, type.Name, $"the discriminator value of '{member.Name}' must not be empty"));
                ok = false;
                continue;
            }
            if (!tags.Add(tag!))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.FamilyError, type, type.Name, $"the discriminator value '{tag}' names two members"));
                ok = false;
                continue;
            }
            if (!seen.Add(member))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.FamilyError, type, type.Name, $"'{member.Name}' is listed twice"));
                ok = false;
                continue;
            }
            members.Add(new FamilyMember(member.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat), tag!, Depth(member)));
        }
        // A type switch must test a subtype before its base, or the compiler finds the later case unreachable.
        model.FamilyMembers = members.OrderByDescending(m => m.Depth).ToList();
        model.DiscriminatorKey = key;
        return ok;
    }

    private static string? DiscriminatorOf(AttributeData attribute)
    {
        foreach (var argument in attribute.NamedArguments)
        {
            if (argument.Key == "Discriminator")
            {
                return argument.Value.Value as string;
            }
        }
        return DefaultDiscriminator;
    }

    private static bool InheritsFrom(INamedTypeSymbol type, INamedTypeSymbol ancestor)
    {
        for (var current = type.BaseType; current is not null; current = current.BaseType)
        {
            if (SymbolEqualityComparer.Default.Equals(current, ancestor))
            {
                return true;
            }
        }
        return false;
    }

    private static int Depth(INamedTypeSymbol type)
    {
        var depth = 0;
        for (var current = type.BaseType; current is not null; current = current.BaseType)
        {
            depth++;
        }
        return depth;
    }

    /// <summary>Finds the family <paramref name="type"/> belongs to: the nearest [NoexMessage] base that lists it.</summary>
    private static void FindFamily(INamedTypeSymbol type, MessageModel model, List<DiagnosticInfo> diagnostics)
    {
        for (var current = type.BaseType; current is not null; current = current.BaseType)
        {
            if (TypeShape.FindAttribute(current, MessageAttribute) is not { } attribute)
            {
                continue;
            }
            var listed = false;
            var isFamily = false;
            foreach (var derived in current.GetAttributes())
            {
                if (derived.AttributeClass is not { } c || TypeShape.FullMetadataName(c) != DerivedTypeAttribute)
                {
                    continue;
                }
                isFamily = true;
                if (derived.ConstructorArguments.Length == 2
                    && derived.ConstructorArguments[0].Value is INamedTypeSymbol member
                    && derived.ConstructorArguments[1].Value is string tag
                    && SymbolEqualityComparer.Default.Equals(member, type))
                {
                    model.DiscriminatorKey = DiscriminatorOf(attribute);
                    model.DiscriminatorTag = tag;
                    listed = true;
                }
            }
            if (listed)
            {
                return;
            }
            if (isFamily)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnlistedDerivedType, type, type.Name, current.Name));
                return;
            }
        }
    }

    private static bool AnalyzeProperties(INamedTypeSymbol type, Compilation compilation, MessageModel model, List<DiagnosticInfo> diagnostics)
    {
        var ok = true;
        var properties = CollectProperties(type, diagnostics, ref ok);
        var keys = new Dictionary<string, string>(System.StringComparer.Ordinal);
        if (model.DiscriminatorKey is { } discriminator)
        {
            keys.Add(discriminator, "the family's discriminator");
        }
        foreach (var (property, key) in properties)
        {
            if (ContainsErrorType(property.Type))
            {
                // The compiler reports the unknown type; a NOEX001 on top would only repeat it. No contract, though.
                ok = false;
                continue;
            }
            var shape = TypeShape.Analyze(property.Type, compilation, out var reason);
            if (shape is null)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnsupportedType, property, type.Name, property.Name,
                    property.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat), reason ?? "unsupported"));
                ok = false;
                continue;
            }
            if (keys.TryGetValue(key, out var owner))
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.DuplicateKey, property, type.Name, key, $"{owner} and property '{property.Name}'"));
                ok = false;
                continue;
            }
            keys.Add(key, $"property '{property.Name}'");
            model.Properties.Add(new PropertyModel(TypeShape.Identifier(property.Name), key, shape));
            CollectExternal(shape, model);
        }
        if (!ok)
        {
            return false;
        }

        var symbols = properties.Select(p => p.Property).ToList();
        var constructor = ChooseConstructor(type, symbols, out var parameterBindings);
        if (constructor is null)
        {
            diagnostics.Add(DiagnosticInfo.Create(Diagnostics.NoConstructor, type, type.Name));
            return false;
        }
        for (var i = 0; i < constructor.Parameters.Length; i++)
        {
            var parameter = constructor.Parameters[i];
            var index = parameterBindings[i];
            if (index < 0)
            {
                model.ConstructorArguments.Add((-1, FormatDefault(parameter)));
                continue;
            }
            var entry = model.Properties[index];
            entry.Binding = Binding.Constructor;
            entry.Default = parameter.HasExplicitDefaultValue ? FormatDefault(parameter) : null;
            // The parameter's own type (it may be declared more nullable than the property): what the read produces.
            entry.ReadShape = TypeShape.Analyze(parameter.Type, compilation, out var reason);
            if (entry.ReadShape is null)
            {
                diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnsupportedType, parameter, type.Name, parameter.Name,
                    parameter.Type.ToDisplayString(SymbolDisplayFormat.MinimallyQualifiedFormat), reason ?? "unsupported"));
                ok = false;
            }
            model.ConstructorArguments.Add((index, null));
        }
        for (var i = 0; i < symbols.Count; i++)
        {
            var entry = model.Properties[i];
            if (entry.Binding == Binding.Constructor)
            {
                continue;
            }
            var setter = symbols[i].SetMethod;
            if (setter is not null && compilation.IsSymbolAccessibleWithin(setter, type))
            {
                entry.Binding = Binding.Initializer;
                entry.ReadShape = entry.WriteShape;
            }
            else
            {
                entry.Binding = Binding.WriteOnly;
            }
        }
        return ok;
    }

    private static bool ContainsErrorType(ITypeSymbol type) => type switch
    {
        { TypeKind: TypeKind.Error } => true,
        IArrayTypeSymbol array => ContainsErrorType(array.ElementType),
        INamedTypeSymbol named => named.TypeArguments.Any(ContainsErrorType),
        _ => false,
    };

    private static void CollectExternal(TypeShape shape, MessageModel model)
    {
        for (var current = shape; current is not null; current = current.Element)
        {
            if (current is { Kind: ShapeKind.Message, IsExternal: true } && !model.ExternalMessages.Contains(current.NonNullName))
            {
                model.ExternalMessages.Add(current.NonNullName);
            }
        }
    }

    /// <summary>The public instance properties with a public getter, base types' first, each type's in declaration order;
    /// an override or a 'new' property takes its base's place. [JsonIgnore] ones are left out.</summary>
    private static List<(IPropertySymbol Property, string Key)> CollectProperties(INamedTypeSymbol type, List<DiagnosticInfo> diagnostics, ref bool ok)
    {
        var hierarchy = new List<INamedTypeSymbol>();
        for (var current = type; current is not null && current.SpecialType is not (SpecialType.System_Object or SpecialType.System_ValueType); current = current.BaseType)
        {
            hierarchy.Add(current);
        }
        hierarchy.Reverse();
        var ordered = new List<IPropertySymbol>();
        var byName = new Dictionary<string, int>(System.StringComparer.Ordinal);
        foreach (var declaring in hierarchy)
        {
            foreach (var member in declaring.GetMembers())
            {
                if (member is not IPropertySymbol { IsStatic: false, IsIndexer: false, DeclaredAccessibility: Accessibility.Public, GetMethod.DeclaredAccessibility: Accessibility.Public } property)
                {
                    continue;
                }
                if (byName.TryGetValue(property.Name, out var index))
                {
                    ordered[index] = property;
                }
                else
                {
                    byName.Add(property.Name, ordered.Count);
                    ordered.Add(property);
                }
            }
        }

        var result = new List<(IPropertySymbol, string)>();
        foreach (var property in ordered)
        {
            if (TypeShape.FindAttribute(property, JsonIgnore) is { } ignore)
            {
                var condition = ignore.NamedArguments.FirstOrDefault(a => a.Key == "Condition").Value.Value;
                // JsonIgnoreCondition: Never = 0, Always = 1, WhenWritingDefault = 2, WhenWritingNull = 3.
                if (condition is null or 1)
                {
                    continue;
                }
                if (condition is not 0)
                {
                    diagnostics.Add(DiagnosticInfo.Create(Diagnostics.UnsupportedIgnoreCondition, property, type.Name, property.Name,
                        condition is 2 ? "WhenWritingDefault" : condition is 3 ? "WhenWritingNull" : condition.ToString()));
                    ok = false;
                    continue;
                }
            }
            var renamed = TypeShape.StringArgument(TypeShape.FindAttribute(property, JsonPropertyName) ?? PrimaryParameterAttribute(property, JsonPropertyName));
            result.Add((property, renamed ?? CamelCase(property.Name)));
        }
        return result;
    }

    /// <summary>An attribute on the primary-constructor parameter a positional record property comes from: people write
    /// <c>record R([JsonPropertyName("x")] int X)</c> as often as <c>[property: JsonPropertyName("x")]</c>.</summary>
    private static AttributeData? PrimaryParameterAttribute(IPropertySymbol property, string attribute)
    {
        if (property.DeclaringSyntaxReferences.Length != 1 || property.DeclaringSyntaxReferences[0].GetSyntax() is not ParameterSyntax syntax)
        {
            return null;
        }
        foreach (var constructor in property.ContainingType.InstanceConstructors)
        {
            foreach (var parameter in constructor.Parameters)
            {
                if (parameter.DeclaringSyntaxReferences.Length == 1 && parameter.DeclaringSyntaxReferences[0].GetSyntax() == syntax)
                {
                    return TypeShape.FindAttribute(parameter, attribute);
                }
            }
        }
        return null;
    }

    /// <summary>System.Text.Json's camel case (JsonNamingPolicy.CamelCase), so that a JSON or TypeScript peer's keys match:
    /// the leading run of capitals is lowered, except the last one when a lowercase letter follows ("URLValue" → "urlValue").</summary>
    internal static string CamelCase(string name)
    {
        if (name.Length == 0 || !char.IsUpper(name[0]))
        {
            return name;
        }
        var chars = name.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (i == 1 && !char.IsUpper(chars[i]))
            {
                break;
            }
            var hasNext = i + 1 < chars.Length;
            if (i > 0 && hasNext && !char.IsUpper(chars[i + 1]))
            {
                if (chars[i + 1] == ' ')
                {
                    chars[i] = char.ToLowerInvariant(chars[i]);
                }
                break;
            }
            chars[i] = char.ToLowerInvariant(chars[i]);
        }
        return new string(chars);
    }

    /// <summary>The constructor a read calls: one marked [JsonConstructor] if there is one, else the public constructor whose
    /// parameters all match properties (name, ignoring case, and type) or have defaults, with the most parameters — a
    /// record's primary constructor, a class's parameterless one.</summary>
    private static IMethodSymbol? ChooseConstructor(INamedTypeSymbol type, List<IPropertySymbol> properties, out int[] bindings)
    {
        var candidates = type.InstanceConstructors.Where(c => TypeShape.HasAttribute(c, JsonConstructor)).ToList();
        if (candidates.Count == 0)
        {
            candidates = type.InstanceConstructors
                .Where(c => c.DeclaredAccessibility == Accessibility.Public && !IsCopyConstructor(type, c))
                .OrderByDescending(c => c.Parameters.Length)
                .ToList();
        }
        foreach (var candidate in candidates)
        {
            if (TryBind(candidate, properties, out bindings))
            {
                return candidate;
            }
        }
        bindings = [];
        return null;
    }

    private static bool IsCopyConstructor(INamedTypeSymbol type, IMethodSymbol constructor) =>
        type.IsRecord && constructor.Parameters.Length == 1 && SymbolEqualityComparer.Default.Equals(constructor.Parameters[0].Type, type);

    private static bool TryBind(IMethodSymbol constructor, List<IPropertySymbol> properties, out int[] bindings)
    {
        bindings = new int[constructor.Parameters.Length];
        var used = new HashSet<int>();
        for (var i = 0; i < constructor.Parameters.Length; i++)
        {
            var parameter = constructor.Parameters[i];
            if (parameter.RefKind is not (RefKind.None or RefKind.In))
            {
                return false;
            }
            var match = properties.FindIndex(p => p.Name == parameter.Name);
            if (match < 0)
            {
                match = properties.FindIndex(p => string.Equals(p.Name, parameter.Name, System.StringComparison.OrdinalIgnoreCase));
            }
            if (match >= 0 && SymbolEqualityComparer.Default.Equals(properties[match].Type, parameter.Type) && used.Add(match))
            {
                bindings[i] = match;
            }
            else if (parameter.HasExplicitDefaultValue)
            {
                bindings[i] = -1;
            }
            else
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>A parameter's default value as a C# expression of its type.</summary>
    private static string FormatDefault(IParameterSymbol parameter)
    {
        var value = parameter.ExplicitDefaultValue;
        var type = parameter.Type is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } nullable
            ? nullable.TypeArguments[0]
            : parameter.Type;
        if (value is null)
        {
            return "default!";
        }
        var typeName = type.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
        switch (value)
        {
            case string text:
                return SymbolDisplay.FormatLiteral(text, quote: true);
            case bool flag:
                return flag ? "true" : "false";
            case double d:
                return double.IsNaN(d) ? "double.NaN"
                    : double.IsPositiveInfinity(d) ? "double.PositiveInfinity"
                    : double.IsNegativeInfinity(d) ? "double.NegativeInfinity"
                    : "(" + typeName + ")(" + d.ToString("R", CultureInfo.InvariantCulture) + "D)";
            case float f:
                return float.IsNaN(f) ? "float.NaN"
                    : float.IsPositiveInfinity(f) ? "float.PositiveInfinity"
                    : float.IsNegativeInfinity(f) ? "float.NegativeInfinity"
                    : "(" + typeName + ")(" + f.ToString("R", CultureInfo.InvariantCulture) + "F)";
            default:
                // Integers and enums (whose default is their underlying integer).
                return "(" + typeName + ")(" + System.Convert.ToString(value, CultureInfo.InvariantCulture) + ")";
        }
    }
}
