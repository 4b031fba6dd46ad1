using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Text;

namespace Noex.Lite.Generators;

/// <summary>The generator's diagnostics. Each says what it cannot generate and why; none is a silent skip. Ids are listed
/// in AnalyzerReleases.Unshipped.md and README.md.</summary>
internal static class Diagnostics
{
    private const string Category = "Noex.Lite.Messages";

    public static readonly DiagnosticDescriptor UnsupportedType = new(
        "NOEX001",
        "Property type not supported in a message",
        "Property '{1}' of message '{0}' has type '{2}', which a message cannot carry: {3}. Change its type, or leave it out with [JsonIgnore].",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NotPartial = new(
        "NOEX002",
        "Message type must be partial",
        "'{0}' must be declared partial: the generator adds the contract of message '{1}' inside it",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnsupportedShape = new(
        "NOEX003",
        "Message type not supported",
        "Message '{0}' is {1}, which the generator does not support",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor NoConstructor = new(
        "NOEX004",
        "No constructor to read a message with",
        "Message '{0}' has no constructor the generator can call: it needs a public one (or one marked [JsonConstructor]) whose parameters each match a property by name and type, or have a default value",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor Inaccessible = new(
        "NOEX005",
        "Message type not accessible",
        "Message '{0}' is not accessible to its assembly ({1}): it must be internal or public, and so must the types containing it, so that its contract can be registered",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor FamilyError = new(
        "NOEX006",
        "Invalid message family",
        "Message family '{0}': {1}",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor DuplicateKey = new(
        "NOEX007",
        "Two entries with one key",
        "Message '{0}' would write the key '{1}' twice ({2}); rename one with [JsonPropertyName]",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnsupportedIgnoreCondition = new(
        "NOEX008",
        "JsonIgnore condition not supported",
        "Property '{1}' of message '{0}' has [JsonIgnore(Condition = {2})]; a message leaves a property out always (Always, the default) or never (Never), not depending on its value",
        Category,
        DiagnosticSeverity.Error,
        isEnabledByDefault: true);

    public static readonly DiagnosticDescriptor UnlistedDerivedType = new(
        "NOEX009",
        "Message derives from a family without being a member",
        "Message '{0}' derives from the message family '{1}' but is not one of its [NoexDerivedType]s, so a '{1}' holding it cannot be written; list it there",
        Category,
        DiagnosticSeverity.Warning,
        isEnabledByDefault: true);
}

/// <summary>Where a diagnostic points, without holding the syntax tree (a <see cref="Location"/> would keep the whole
/// compilation alive in the generator's cache and never compare equal across edits).</summary>
internal sealed record LocationInfo(string FilePath, TextSpan Span, LinePositionSpan LineSpan)
{
    public static LocationInfo? From(Location? location) =>
        location is { SourceTree: not null } ? new(location.SourceTree.FilePath, location.SourceSpan, location.GetLineSpan().Span) : null;

    /// <summary>The location in <paramref name="compilation"/>'s tree of that file: a location in a syntax tree is what
    /// #pragma warning disable and .editorconfig severities apply to.</summary>
    public Location ToLocation(Compilation compilation)
    {
        foreach (var tree in compilation.SyntaxTrees)
        {
            if (tree.FilePath == FilePath)
            {
                return Location.Create(tree, Span);
            }
        }
        return Location.Create(FilePath, Span, LineSpan);
    }
}

/// <summary>A diagnostic as plain, comparable data: created in the transform, reported in the output step.</summary>
internal sealed record DiagnosticInfo(DiagnosticDescriptor Descriptor, LocationInfo? Location, EquatableArray<string> Arguments)
{
    public static DiagnosticInfo Create(DiagnosticDescriptor descriptor, ISymbol? at, params string[] arguments) =>
        new(descriptor, LocationInfo.From(at?.Locations.FirstOrDefault()), new EquatableArray<string>(arguments.ToImmutableArray()));

    public Diagnostic ToDiagnostic(Compilation compilation) =>
        Diagnostic.Create(Descriptor, Location?.ToLocation(compilation), Arguments.Cast<object?>().ToArray());
}
