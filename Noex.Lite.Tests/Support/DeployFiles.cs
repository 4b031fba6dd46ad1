using System.Text.Json;
using System.Text.RegularExpressions;

namespace Noex.Lite.Tests;

/// <summary>
/// What deploy/ says, read the way Docker, Compose and Kubernetes read it: the image's environment and entry point from
/// the Dockerfile, each compose service's environment (anchors merged, <c>${VAR:?...}</c> interpolated), and the
/// StatefulSet's container environment (<c>$(VAR)</c> references, downward API fields and secrets resolved).
/// </summary>
internal static partial class DeployFiles
{
    public static string Folder { get; } = Path.Combine(ProtocolVectors.RepoRoot, "deploy");

    public static string Dockerfile => Path.Combine(Folder, "Dockerfile");

    public static string Compose => Path.Combine(Folder, "docker-compose.yml");

    public static string Kubernetes => Path.Combine(Folder, "k8s", "noex.yaml");

    /// <summary>The Dockerfile's instructions, continuation lines joined, comments dropped.</summary>
    public static IReadOnlyList<(string Instruction, string Arguments)> Instructions() =>
        [.. Regex.Replace(File.ReadAllText(Dockerfile), @"\\\r?\n", " ")
            .Split('\n')
            .Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split(' ', 2) is [var instruction, var rest] ? (instruction.ToUpperInvariant(), rest.Trim()) : (l.ToUpperInvariant(), ""))];

    /// <summary>The ENV of the image's last stage (the one that runs).</summary>
    public static Dictionary<string, string> ImageEnvironment()
    {
        var instructions = Instructions();
        var lastStage = instructions.Select((x, i) => (x, i)).Last(p => p.x.Instruction == "FROM").i;
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (_, arguments) in instructions.Skip(lastStage).Where(x => x.Instruction == "ENV"))
        {
            foreach (Match pair in EnvPair().Matches(arguments))
            {
                environment[pair.Groups[1].Value] = pair.Groups[2].Value;
            }
        }
        return environment;
    }

    /// <summary>The entry point, from its exec (JSON array) form.</summary>
    public static string[] EntryPoint() =>
        JsonSerializer.Deserialize<string[]>(Instructions().Last(x => x.Instruction == "ENTRYPOINT").Arguments)!;

    /// <summary>Each compose service and the environment its container gets: the image's, then the service's.</summary>
    public static Dictionary<string, Dictionary<string, string>> ComposeEnvironments(JsonElement compose, IReadOnlyDictionary<string, string> variables)
    {
        var result = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        foreach (var service in compose.GetProperty("services").EnumerateObject())
        {
            var environment = ImageEnvironment();
            foreach (var variable in service.Value.GetProperty("environment").EnumerateObject())
            {
                environment[variable.Name] = Interpolate(variable.Value.ToString(), variables);
            }
            result[service.Name] = environment;
        }
        return result;
    }

    /// <summary>Compose's <c>${NAME}</c>, <c>${NAME:-default}</c> and <c>${NAME:?error}</c>.</summary>
    public static string Interpolate(string value, IReadOnlyDictionary<string, string> variables) =>
        ComposeVariable().Replace(value, m => variables.TryGetValue(m.Groups[1].Value, out var set) && set.Length > 0 ? set
            : m.Groups[2].Value == ":-" ? m.Groups[3].Value
            : throw new InvalidOperationException($"compose would refuse to start: {m.Groups[1].Value} is not set ({m.Groups[3].Value})"));

    /// <summary>
    /// The environment of the StatefulSet's container as a pod at <paramref name="podIp"/> gets it, the secret's value
    /// being <paramref name="secret"/>: the image's, then the container's in order, each <c>$(VAR)</c> expanded from the
    /// ones before it, as Kubernetes does.
    /// </summary>
    public static Dictionary<string, string> PodEnvironment(JsonElement container, string podIp, string secret)
    {
        var environment = ImageEnvironment();
        foreach (var variable in container.GetProperty("env").EnumerateArray())
        {
            var name = variable.GetProperty("name").GetString()!;
            string value;
            if (variable.TryGetProperty("value", out var literal))
            {
                value = Regex.Replace(literal.GetString()!, @"\$\((\w+)\)", m => environment.GetValueOrDefault(m.Groups[1].Value, m.Value));
            }
            else if (variable.GetProperty("valueFrom").TryGetProperty("fieldRef", out var field))
            {
                value = field.GetProperty("fieldPath").GetString() == "status.podIP"
                    ? podIp
                    : throw new InvalidOperationException($"{name}: a field this test does not know");
            }
            else
            {
                variable.GetProperty("valueFrom").GetProperty("secretKeyRef");
                value = secret;
            }
            environment[name] = value;
        }
        return environment;
    }

    /// <summary>The configuration keys an environment gives the host (<c>Noex__Seeds__0</c> is <c>Noex:Seeds:0</c>).</summary>
    public static Dictionary<string, string?> ConfigurationOf(IReadOnlyDictionary<string, string> environment) =>
        environment.Where(e => e.Key.StartsWith("Noex__", StringComparison.OrdinalIgnoreCase))
            .ToDictionary(e => e.Key.Replace("__", ":", StringComparison.Ordinal), e => (string?)e.Value);

    [GeneratedRegex(@"(\w+)=(\S+)")]
    private static partial Regex EnvPair();

    [GeneratedRegex(@"\$\{(\w+)(?:(:[-?])([^}]*))?\}")]
    private static partial Regex ComposeVariable();
}
