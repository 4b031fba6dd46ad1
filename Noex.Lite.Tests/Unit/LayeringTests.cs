using System.Reflection;
using System.Reflection.Emit;
using System.Text.RegularExpressions;

namespace Noex.Lite.Tests;

/// <summary>
/// The library's folders are its layers, bottom up, and a type may use only types of its own layer and those below it
/// (README.md, "The library's layers"). This reads every type's compiled dependencies, its signatures and the types and
/// members its method bodies name, so that a dependency running up a layer fails here rather than in a review.
/// </summary>
[Trait("Category", Category.Unit)]
public partial class LayeringTests
{
    /// <summary>The layers bottom up: a folder, or a file at the library's root.</summary>
    private static readonly string[] s_layers =
    [
        "NoexException.cs", // the base of every error: every layer may throw one
        "NoexDiagnostics.cs", // the names telemetry is published under: every layer may publish
        "Values",
        "Wire",
        "Discovery", // where seeds come from: options name a provider
        "MailboxOverflow.cs", // a mailbox's overflow policy: the options name it, the processes apply it
        "NodeOptions.cs", // settings every layer above the wire reads
        "Processes",
        "Transport",
        "Cluster",
        "Services",
        "Node.cs", // the composition root and public entrance
        "Supervision", // built on the node's public API, as user code would be
        "Compat",
    ];

    private static readonly OpCode[] s_oneByte = new OpCode[0x100];
    private static readonly OpCode[] s_twoByte = new OpCode[0x100];

    static LayeringTests()
    {
        foreach (var field in typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var code = (OpCode)field.GetValue(null)!;
            var value = (ushort)code.Value;
            (value < 0x100 ? s_oneByte : s_twoByte)[value & 0xFF] = code;
        }
    }

    [Fact]
    public void Library_NoTypeUsesATypeOfALayerAboveIt()
    {
        var layers = TopLevelTypeLayers();
        var library = typeof(Value).Assembly;
        var violations = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var type in library.GetTypes())
        {
            if (LayerOf(type, layers) is not { } layer)
            {
                continue;
            }
            foreach (var used in Dependencies(type))
            {
                if (LayerOf(used, layers) is { } usedLayer && usedLayer > layer)
                {
                    violations.Add($"{Outermost(type).Name} ({s_layers[layer]}) uses {Outermost(used).Name} ({s_layers[usedLayer]})");
                }
            }
        }

        Assert.True(layers.Count > 100, $"only {layers.Count} top-level types found in Noex.Lite/");
        Assert.Empty(violations);
    }

    /// <summary>Every top-level type declared in Noex.Lite/ and the layer of the file that declares it.</summary>
    private static Dictionary<string, int> TopLevelTypeLayers()
    {
        var root = Path.Combine(ProtocolVectors.RepoRoot, "Noex.Lite");
        var layers = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(root, file);
            var first = relative.Split(Path.DirectorySeparatorChar)[0];
            if (first is "obj" or "bin")
            {
                continue;
            }
            var layer = Array.IndexOf(s_layers, first);
            Assert.True(layer >= 0, $"{relative} is in no layer: add its folder to the list, in its place");
            foreach (Match declaration in TopLevelDeclaration().Matches(File.ReadAllText(file)))
            {
                layers[declaration.Groups["name"].Value] = layer;
            }
        }
        return layers;
    }

    [GeneratedRegex(@"^(?:public|internal)\s+(?:(?:static|sealed|abstract|readonly|partial|ref)\s+)*(?:class|struct|record\s+struct|record|enum|interface)\s+(?<name>[A-Z]\w*)", RegexOptions.Multiline)]
    private static partial Regex TopLevelDeclaration();

    private static int? LayerOf(Type type, Dictionary<string, int> layers)
    {
        var outermost = Outermost(type);
        if (outermost.Assembly != typeof(Value).Assembly)
        {
            return null;
        }
        var name = outermost.Name;
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        return layers.TryGetValue(tick < 0 ? name : name[..tick], out var layer) ? layer : null;
    }

    /// <summary>A nested type (a closure, a state machine, a private helper) belongs to the type it is nested in.</summary>
    private static Type Outermost(Type type)
    {
        while (type.IsNested)
        {
            type = type.DeclaringType!;
        }
        return type;
    }

    /// <summary>The types <paramref name="type"/> names: base and interfaces, fields, signatures, and method bodies.</summary>
    private static IEnumerable<Type> Dependencies(Type type)
    {
        const BindingFlags All = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        var found = new List<Type>();
        if (type.BaseType is { } baseType)
        {
            found.Add(baseType);
        }
        found.AddRange(type.GetInterfaces());
        found.AddRange(type.GetFields(All).Select(f => f.FieldType));
        foreach (var method in type.GetMethods(All).Cast<MethodBase>().Concat(type.GetConstructors(All)))
        {
            found.AddRange(method.GetParameters().Select(p => p.ParameterType));
            if (method is MethodInfo info)
            {
                found.Add(info.ReturnType);
            }
            found.AddRange(BodyReferences(method));
        }
        return found.SelectMany(Expand);
    }

    /// <summary>A type and the types it is made of: element types and generic arguments.</summary>
    private static IEnumerable<Type> Expand(Type type)
    {
        if (type.HasElementType)
        {
            return Expand(type.GetElementType()!);
        }
        if (type.IsGenericType && !type.IsGenericTypeDefinition)
        {
            return type.GetGenericArguments().SelectMany(Expand).Append(type.GetGenericTypeDefinition());
        }
        return type.IsGenericParameter ? [] : [type];
    }

    /// <summary>The types a method's IL names, directly or through the fields and methods it uses.</summary>
    private static IEnumerable<Type> BodyReferences(MethodBase method)
    {
        var il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
        {
            yield break;
        }
        var module = method.Module;
        Type[]? typeArguments = method.DeclaringType is { IsGenericType: true } declaring ? declaring.GetGenericArguments() : null;
        Type[]? methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        for (var i = 0; i < il.Length;)
        {
            var code = il[i] == 0xFE ? s_twoByte[il[i + 1]] : s_oneByte[il[i]];
            i += code.Size;
            switch (code.OperandType)
            {
                case OperandType.InlineType or OperandType.InlineTok or OperandType.InlineMethod or OperandType.InlineField:
                    var member = module.ResolveMember(BitConverter.ToInt32(il, i), typeArguments, methodArguments);
                    if (member is Type referenced)
                    {
                        yield return referenced;
                    }
                    else if (member?.DeclaringType is { } owner)
                    {
                        yield return owner;
                    }
                    break;
            }
            i += OperandSize(code.OperandType, il, i);
        }
    }

    private static int OperandSize(OperandType operand, byte[] il, int at) => operand switch
    {
        OperandType.InlineNone => 0,
        OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
        OperandType.InlineVar => 2,
        OperandType.InlineI8 or OperandType.InlineR => 8,
        OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, at)),
        _ => 4,
    };
}
