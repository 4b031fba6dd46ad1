using System.Collections.Immutable;
using System.Reflection;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Noex.Lite.Tests;

/// <summary>
/// Noex.Lite.Generators run on snippets: each declaration it cannot map is a NOEX diagnostic naming what and why (never a
/// silently skipped property), declarations at the edges of the language compile warning-free, and an unrelated edit
/// regenerates nothing.
/// </summary>
[Trait("Category", Category.Unit)]
public class TypedContractGeneratorTests
{
    private const string Usings = "global using System; global using System.Collections.Generic; global using Noex.Lite; "
        + "global using System.Text.Json.Serialization;";

    private static readonly CSharpParseOptions s_parseOptions = new(LanguageVersion.Latest);

    private static readonly Lazy<IIncrementalGenerator> s_generator = new(LoadGenerator);

    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(() =>
    {
        // The framework and Noex.Lite: what a project that uses typed messages compiles against.
        var framework = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        return [.. Directory.GetFiles(framework, "*.dll").Where(IsManagedAssembly).Select(p => MetadataReference.CreateFromFile(p)),
            MetadataReference.CreateFromFile(typeof(Value).Assembly.Location)];
    });

    public static TheoryData<string, string, string> BadDeclarations => new()
    {
        { "[NoexMessage] public record R(int X);", "NOEX002", "'R' must be declared partial" },
        { "public class Holder { [NoexMessage] public partial record R(int X); }", "NOEX002", "'Holder' must be declared partial" },
        { "[NoexMessage] public partial record R<T>(T Value);", "NOEX003", "'R' is generic" },
        { "public partial class Holder<T> { [NoexMessage] public partial record R(int X); }", "NOEX003", "nested in the generic type 'Holder'" },
        { "[NoexMessage] public ref partial struct R { public int X { get; set; } }", "NOEX003", "a ref struct" },
        { "[NoexMessage] public partial class R { public R(int unrelated) { } public int X { get; set; } }", "NOEX004", "Message 'R' has no constructor" },
        { "public partial class Holder { [NoexMessage] private partial record R(int X); }", "NOEX005", "(it is private)" },
        { "public partial class Holder { private partial class Inner { [NoexMessage] public partial record R(int X); } }", "NOEX005",
            "its containing type 'Inner' is private" },
        { "[NoexMessage] public partial record R([property: JsonPropertyName(\"x\")] int A, int X);", "NOEX007", "the key 'x' twice" },
        { "[NoexMessage] public partial class R { [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public string? A { get; set; } }",
            "NOEX008", "Condition = WhenWritingNull" },
    };

    [Theory]
    [MemberData(nameof(BadDeclarations))]
    public void BadDeclaration_ReportsItsDiagnostic_AndGeneratesNoContract(string source, string id, string text)
    {
        var run = Run(source);

        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal((id, DiagnosticSeverity.Error), (diagnostic.Id, diagnostic.Severity));
        Assert.Contains(text, diagnostic.GetMessage(), StringComparison.Ordinal);
        Assert.True(diagnostic.Location.IsInSource, "the diagnostic points into the source");
        Assert.Empty(run.Sources);
    }

    public static TheoryData<string, string> UnsupportedTypes => new()
    {
        { "decimal", "the codec has no decimal" },
        { "object", "use Noex.Lite.Value for schema-less data" },
        { "ulong", "use long" },
        { "char", "use string" },
        { "DateTime", "use DateTimeOffset" },
        { "int[,]", "multi-dimensional arrays" },
        { "Dictionary<int, string>", "whose keys are strings" },
        { "IEnumerable<int>", "use T[], List<T>, IList<T> or IReadOnlyList<T>" },
        { "HashSet<int>", "neither a supported type nor marked [NoexMessage]" },
        { "Uri", "neither a supported type nor marked [NoexMessage]" },
        { "Dictionary<string, List<object>>", "its values: its elements: object has no contract" },
    };

    [Theory]
    [MemberData(nameof(UnsupportedTypes))]
    public void UnsupportedPropertyType_IsNOEX001NamingThePropertyAndTheReason(string type, string reason)
    {
        var run = Run($"[NoexMessage] public partial record R(int Fine, {type} Field);");

        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("NOEX001", diagnostic.Id);
        Assert.Contains($"Property 'Field' of message 'R' has type '{type}'", diagnostic.GetMessage(), StringComparison.Ordinal);
        Assert.Contains(reason, diagnostic.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void BadFamily_EachProblemIsNOEX006OnTheBase()
    {
        var run = Run("""
            [NoexMessage]
            [NoexDerivedType(typeof(Member), "m")]
            [NoexDerivedType(typeof(Stranger), "s")]
            [NoexDerivedType(typeof(Plain), "p")]
            [NoexDerivedType(typeof(Twin), "m")]
            [NoexDerivedType(typeof(Empty), "")]
            public abstract partial record Family;
            [NoexMessage] public partial record Member(int X) : Family;
            [NoexMessage] public partial record Twin : Family;
            [NoexMessage] public partial record Empty : Family;
            [NoexMessage] public partial record Stranger;
            public partial record Plain : Family;
            [NoexMessage] [NoexDerivedType(typeof(Concrete), "c")] public partial class NotAbstract { }
            [NoexMessage] public partial class Concrete : NotAbstract { }
            [NoexMessage] public abstract partial record Alone;
            """);

        var messages = run.Diagnostics.Where(d => d.Id == "NOEX006").Select(d => d.GetMessage()).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[]
        {
            "Message family 'Alone': it is abstract, so it is read as one of its members: list them with [NoexDerivedType(typeof(Member), \"tag\")]",
            "Message family 'Family': 'Plain' must itself be marked [NoexMessage] (and be partial), which gives it its contract",
            "Message family 'Family': 'Stranger' does not derive from 'Family'",
            "Message family 'Family': the discriminator value 'm' names two members",
            "Message family 'Family': the discriminator value of 'Empty' must not be empty",
            "Message family 'NotAbstract': the base of a family must be an abstract class or record (a message of the base type itself would have no discriminator)",
        }, messages);
        Assert.Equal(new[] { "NOEX006" }, run.Diagnostics.Select(d => d.Id).Distinct());
        // The members are fine: their contracts are generated and compile (they hide no contract of the broken base).
        Assert.Empty(run.CompilationDiagnostics);
    }

    [Fact]
    public void FamilyMember_PropertyNamedLikeTheDiscriminator_IsNOEX007()
    {
        var run = Run("""
            [NoexMessage] [NoexDerivedType(typeof(Member), "m")] public abstract partial record Family;
            [NoexMessage] public partial record Member(string Type) : Family;
            """);

        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal("NOEX007", diagnostic.Id);
        Assert.Contains("the family's discriminator and property 'Type'", diagnostic.GetMessage(), StringComparison.Ordinal);
    }

    [Fact]
    public void UnlistedDerivedType_IsTheWarningNOEX009_AndStillGetsAContract()
    {
        var run = Run("""
            [NoexMessage] [NoexDerivedType(typeof(Member), "m")] public abstract partial record Family;
            [NoexMessage] public partial record Member : Family;
            [NoexMessage] public partial record Stray(int X) : Family;
            """);

        var diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal(("NOEX009", DiagnosticSeverity.Warning), (diagnostic.Id, diagnostic.Severity));
        Assert.Contains(run.Sources, s => s.HintName == "Stray.NoexContract.g.cs");
        Assert.Empty(run.CompilationDiagnostics);
    }

    [Fact]
    public void EdgeDeclarations_CompileWithoutAWarning()
    {
        // The global namespace, keywords as names, nested in a struct, internal, a record struct with defaults of every
        // literal kind, [JsonConstructor] on a private constructor, get-only and private-set properties it binds,
        // [SetsRequiredMembers], jagged and nullable arrays, collections of interfaces, a discriminator key that is not a
        // C# identifier, a member deriving from a member, and #nullable disable.
        var run = Run("""
            using System.Diagnostics.CodeAnalysis;

            [NoexMessage]
            public partial record GlobalMessage(int @class, string @event, List<int[]?> Arrays, string?[] Names, int[]?[] Nullables, byte[][] Blobs);

            public enum Mode { A = -1, B = 5, @default = 6 }

            namespace Deep.Space
            {
                public partial struct Holder
                {
                    [NoexMessage]
                    internal partial record struct InStruct(Mode M = Mode.B, float F = 1.5f, double D = -0.25, long L = -5,
                        string S = "q\"x\n", Mode? N = null, byte U = 200, double Nan = double.NaN, Mode K = Mode.@default);
                }

                [NoexMessage]
                public partial class WithCtor
                {
                    [JsonConstructor]
                    private WithCtor(string name, int count) { Name = name; Count = count; }
                    public WithCtor() : this("", 0) { }
                    public string Name { get; }
                    public int Count { get; private set; }
                    public required IReadOnlyList<IReadOnlyList<string>> Matrix { get; init; }
                    public IReadOnlyDictionary<string, IList<Mode>>? Map { get; set; }
                    public static int Ignored { get; set; }
                    public int this[int i] => i;
                    [JsonIgnore(Condition = JsonIgnoreCondition.Never)]
                    public string? Kept { get; set; }
                }

                [NoexMessage]
                public sealed partial class SetsRequired
                {
                    [SetsRequiredMembers]
                    public SetsRequired(string id) { Id = id; }
                    public required string Id { get; init; }
                    public string? Extra { get; init; }
                }

                [NoexMessage(Discriminator = "$type")]
                [NoexDerivedType(typeof(A), "a")]
                [NoexDerivedType(typeof(B), "b")]
                public abstract partial class Base { public int Shared { get; set; } }

                [NoexMessage] public partial class A : Base { public string? Text { get; set; } }
                [NoexMessage] public partial class B : A { public Base? Child { get; set; } }
            }

            #nullable disable
            [NoexMessage]
            public partial class Oblivious
            {
                public string Text { get; set; }
                public List<string> Items { get; set; }
            }
            """);

        Assert.Empty(run.Diagnostics);
        Assert.Empty(run.CompilationDiagnostics);
        Assert.Equal(9, run.Sources.Length); // 8 contracts and the registration
        Assert.Contains("global::Noex.Lite.ValueContracts.Register<global::Deep.Space.Holder.InStruct>",
            run.Sources.Single(s => s.HintName == "NoexMessageContracts.g.cs").SourceText.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownTypes_AreLeftToTheCompiler()
    {
        // Half-typed code in an editor: the compiler reports the unknown names; the generator adds no NOEX noise on top.
        var run = Run("""
            [NoexMessage] public partial record R(Missing A, List<AlsoMissing> B);
            [NoexMessage] [NoexDerivedType(typeof(NotYetWritten), "n")] public abstract partial record F;
            """);

        Assert.Empty(run.Diagnostics);
        Assert.DoesNotContain(run.Sources, s => s.HintName == "R.NoexContract.g.cs");
        Assert.Equal(new[] { "CS0246" }, run.CompilationDiagnostics.Select(d => d.Id).Distinct());
    }

    [Fact]
    public void MessageOfAnotherAssembly_HasThatAssemblysModuleInitializerRunFirst()
    {
        var library = Compile("namespace Lib { [NoexMessage] public partial record Shared(int X); }");
        var user = Compile("[NoexMessage] public partial record Holder(Lib.Shared Inner, List<Lib.Shared?> More);")
            .AddReferences(library.ToMetadataReference());

        var driver = CSharpGeneratorDriver.Create([s_generator.Value.AsSourceGenerator()], parseOptions: s_parseOptions)
            .RunGeneratorsAndUpdateCompilation(user, out var output, out var diagnostics);

        Assert.Empty(diagnostics);
        Assert.Empty(output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning));
        var registration = driver.GetRunResult().GeneratedTrees.Single(t => t.FilePath.EndsWith("NoexMessageContracts.g.cs", StringComparison.Ordinal));
        Assert.Contains("RunModuleConstructor(typeof(global::Lib.Shared).Module.ModuleHandle);", registration.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void NoMessages_GeneratesNothing()
    {
        var run = Run("public partial record NotAMessage(int X);");

        Assert.Empty(run.Sources);
        Assert.Empty(run.Diagnostics);
    }

    [Fact]
    public void UnrelatedEdit_RegeneratesNothing()
    {
        var compilation = Compile("[NoexMessage] public partial record R(int X, List<string> Names);");
        GeneratorDriver driver = CSharpGeneratorDriver.Create([s_generator.Value.AsSourceGenerator()], parseOptions: s_parseOptions,
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));
        driver = driver.RunGenerators(compilation);

        driver = driver.RunGenerators(compilation.AddSyntaxTrees(CSharpSyntaxTree.ParseText("class Unrelated { }", s_parseOptions)));

        var steps = driver.GetRunResult().Results.Single().TrackedSteps["NoexMessages"];
        Assert.All(steps.SelectMany(s => s.Outputs), output => Assert.Equal(IncrementalStepRunReason.Unchanged, output.Reason));
    }

    private static GeneratorRun Run(string source)
    {
        var compilation = Compile(source);
        var driver = CSharpGeneratorDriver.Create([s_generator.Value.AsSourceGenerator()], parseOptions: s_parseOptions)
            .RunGeneratorsAndUpdateCompilation(compilation, out var output, out var diagnostics);
        var result = driver.GetRunResult().Results.Single();
        Assert.Null(result.Exception);
        return new GeneratorRun(
            diagnostics,
            [.. output.GetDiagnostics().Where(d => d.Severity >= DiagnosticSeverity.Warning)],
            result.GeneratedSources);
    }

    private static CSharpCompilation Compile(string source) => CSharpCompilation.Create(
        "Snippet",
        [CSharpSyntaxTree.ParseText(source, s_parseOptions, path: "Snippet.cs"), CSharpSyntaxTree.ParseText(Usings, s_parseOptions)],
        s_references.Value,
        new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));

    /// <summary>The generator as the compiler loads it: from its own build output (the test project references it only as
    /// an analyzer, so its types are not otherwise visible here).</summary>
    private static IIncrementalGenerator LoadGenerator()
    {
        var path = typeof(TypedContractGeneratorTests).Assembly
            .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "GeneratorPath").Value!;
        var type = Assembly.LoadFrom(path).GetType("Noex.Lite.Generators.MessageGenerator", throwOnError: true)!;
        return (IIncrementalGenerator)Activator.CreateInstance(type)!;
    }

    private static bool IsManagedAssembly(string path)
    {
        try
        {
            _ = AssemblyName.GetAssemblyName(path);
            return true;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }

    private sealed record GeneratorRun(
        ImmutableArray<Diagnostic> Diagnostics,
        ImmutableArray<Diagnostic> CompilationDiagnostics,
        ImmutableArray<GeneratedSourceResult> Sources);
}
