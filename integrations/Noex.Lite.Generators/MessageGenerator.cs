using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Noex.Lite.Generators;

/// <summary>
/// Writes the value contract of every <c>[NoexMessage]</c> type (a nested <c>NoexContract</c> class in the partial type)
/// and one module initializer that registers them all with <c>ValueContracts</c> when the assembly loads.
/// </summary>
/// <remarks>
/// The transform step does all the semantic work and hands on only strings and comparable diagnostics, so an edit that
/// leaves a message's contract unchanged costs no new output. The mapping rules are NoexMessageAttribute's documentation;
/// README.md beside this file lists them and the diagnostics.
/// </remarks>
[Generator(LanguageNames.CSharp)]
public sealed class MessageGenerator : IIncrementalGenerator
{
    /// <summary>The name of the step that builds each message's output, for tests that check it is cached across edits.</summary>
    public const string MessagesStep = "NoexMessages";

    /// <inheritdoc/>
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var messages = context.SyntaxProvider.ForAttributeWithMetadataName(
            "Noex.Lite.NoexMessageAttribute",
            static (node, _) => node is TypeDeclarationSyntax,
            static (attributed, cancellationToken) =>
                MessageModelBuilder.Build((INamedTypeSymbol)attributed.TargetSymbol, attributed.SemanticModel.Compilation, cancellationToken))
            .WithTrackingName(MessagesStep);

        context.RegisterSourceOutput(messages, static (output, message) =>
        {
            if (message.Source is not null)
            {
                output.AddSource(message.HintName, message.Source);
            }
        });

        // Diagnostics are reported against the current compilation's syntax trees, so that #pragma and .editorconfig apply
        // to them; the step re-runs on every edit, but only walks the (usually empty) list of diagnostics.
        var diagnostics = messages.Select(static (message, _) => message.Diagnostics).Collect().Combine(context.CompilationProvider);
        context.RegisterSourceOutput(diagnostics, static (output, pair) =>
        {
            foreach (var list in pair.Left)
            {
                foreach (var diagnostic in list)
                {
                    output.ReportDiagnostic(diagnostic.ToDiagnostic(pair.Right));
                }
            }
        });

        context.RegisterSourceOutput(messages.Collect(), static (output, all) => EmitRegistration(output, all));
    }

    private static void EmitRegistration(SourceProductionContext output, ImmutableArray<MessageOutput> messages)
    {
        var registered = messages
            .Where(m => m.TypeName is not null)
            .Select(m => m.TypeName!)
            .Distinct()
            .OrderBy(n => n, System.StringComparer.Ordinal)
            .ToList();
        if (registered.Count == 0)
        {
            return;
        }
        var external = messages
            .SelectMany(m => m.ExternalMessages)
            .Distinct()
            .OrderBy(n => n, System.StringComparer.Ordinal)
            .ToList();
        output.AddSource("NoexMessageContracts.g.cs", ContractEmitter.EmitRegistration(registered, external));
    }
}
