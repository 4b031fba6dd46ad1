using System.Reflection;

namespace Noex.Lite.Tests;

/// <summary>Reads the test vectors out of protocol.md exactly as its §1.1 defines the notation, refusing what §1.1 does
/// not allow, so that the document cannot come to rely on a leniency of this reader that another one lacks.</summary>
public static class ProtocolVectors
{
    private static readonly Lazy<IReadOnlyList<ProtocolVector>> s_all = new(Load);

    // §1.1: joining a continuation line adds a space, which would change these fields' text.
    private static readonly HashSet<string> s_notContinued = ["name", "type", "json", "meaning"];

    /// <summary>The repository root, baked in at build time (see Noex.Lite.Tests.csproj).</summary>
    public static string RepoRoot { get; } = typeof(ProtocolVectors).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "RepoRoot").Value!;

    public static IReadOnlyList<ProtocolVector> All => s_all.Value;

    /// <summary>The vectors of one type, as xunit member data (one row per vector, named).</summary>
    public static TheoryData<string> NamesOfType(string type)
    {
        var data = new TheoryData<string>();
        foreach (var v in All.Where(v => v.Type == type))
        {
            data.Add(v.Name);
        }
        return data;
    }

    public static ProtocolVector Get(string name) => All.Single(v => v.Name == name);

    public static byte[] Hex(string hex) =>
        Convert.FromHexString(string.Concat(hex.Where(c => !char.IsWhiteSpace(c))));

    private static IReadOnlyList<ProtocolVector> Load()
    {
        var lines = File.ReadAllLines(Path.Combine(RepoRoot, "protocol.md"));
        var vectors = new List<ProtocolVector>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i] != "```vector")
            {
                continue;
            }
            var fields = new Dictionary<string, string>();
            var start = i + 1;
            string? key = null;
            for (i++; i < lines.Length && lines[i] != "```"; i++)
            {
                var line = lines[i];
                var colon = line.IndexOf(": ", StringComparison.Ordinal);
                if (!line.StartsWith(' ') && colon > 0)
                {
                    key = line[..colon];
                    if (!fields.TryAdd(key, line[(colon + 2)..]))
                    {
                        throw new InvalidDataException($"protocol.md line {i + 1}: field '{key}' repeated");
                    }
                }
                else if (key is not null && line.StartsWith(' ') && line.Trim().Length > 0)
                {
                    // A continuation line (indented) extends the previous field, for long hex.
                    if (s_notContinued.Contains(key))
                    {
                        throw new InvalidDataException($"protocol.md line {i + 1}: field '{key}' cannot be continued (§1.1)");
                    }
                    fields[key] += " " + line.Trim();
                }
                else if (line.Trim().Length > 0)
                {
                    throw new InvalidDataException($"protocol.md line {i + 1}: expected 'field: value', got '{line}'");
                }
            }
            if (!fields.TryGetValue("name", out var name) || !fields.TryGetValue("type", out var type))
            {
                throw new InvalidDataException($"protocol.md line {start}: a vector needs 'name' and 'type'");
            }
            vectors.Add(new ProtocolVector(name, type, fields, start));
        }
        var repeated = vectors.GroupBy(v => v.Name).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null)
        {
            throw new InvalidDataException($"protocol.md: vector name '{repeated.Key}' is used twice");
        }
        return vectors;
    }
}

public sealed record ProtocolVector(string Name, string Type, IReadOnlyDictionary<string, string> Fields, int Line)
{
    public string this[string field] => Fields.TryGetValue(field, out var v)
        ? v
        : throw new InvalidDataException($"protocol.md line {Line}: vector '{Name}' has no field '{field}'");

    public byte[] Bytes(string field) => ProtocolVectors.Hex(this[field]);

    public override string ToString() => Name;
}
