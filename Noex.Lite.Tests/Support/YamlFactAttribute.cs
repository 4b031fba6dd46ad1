namespace Noex.Lite.Tests;

/// <summary>A test that reads YAML (<see cref="Yaml"/>): skipped, with the reason, where no YAML parser is installed.</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class YamlFactAttribute : FactAttribute
{
    public YamlFactAttribute()
    {
        if (Yaml.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
