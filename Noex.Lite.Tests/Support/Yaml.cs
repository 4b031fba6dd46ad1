using System.Text.Json;

namespace Noex.Lite.Tests;

/// <summary>
/// YAML files read by a real YAML parser, PyYAML (.NET has none in the box and the suite adds no package for one): each
/// document as JSON. <see cref="SkipReason"/> says why a test that needs it cannot run here.
/// </summary>
internal static class Yaml
{
    private const string Loader = "import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1], encoding='utf-8')))))";

    private static readonly Lazy<(string? Python, string? Reason)> s_python = new(Probe);

    /// <summary>Null when YAML can be read here; otherwise what is missing.</summary>
    public static string? SkipReason => s_python.Value.Reason;

    /// <summary>Every document of the YAML file at <paramref name="path"/>, parsed (anchors and merge keys resolved).</summary>
    public static JsonElement[] LoadAll(string path)
    {
        var python = s_python.Value.Python ?? throw new InvalidOperationException(SkipReason);
        var result = SystemCommand.Run(python, ["-c", Loader, path]);
        if (!result.Succeeded)
        {
            throw new FormatException($"{Path.GetFileName(path)} is not valid YAML: {result.Error.Trim()}");
        }
        using var json = JsonDocument.Parse(result.Output);
        return [.. json.RootElement.EnumerateArray().Select(d => d.Clone())];
    }

    private static (string?, string?) Probe()
    {
        // The python3 on PATH first (it may be a pyenv one with its own packages), then the distribution's.
        string?[] candidates = [SystemCommand.Find("python3"), "/usr/bin/python3"];
        foreach (var python in candidates.Where(File.Exists).Distinct())
        {
            if (SystemCommand.Run(python!, ["-c", "import yaml"]).Succeeded)
            {
                return (python, null);
            }
        }
        return (null, "needs python3 with PyYAML to parse the deployment files (Debian: apt-get install python3-yaml; .ci/run installs it)");
    }
}
