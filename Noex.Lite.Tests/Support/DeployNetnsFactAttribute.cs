namespace Noex.Lite.Tests;

/// <summary>
/// A deployment run on a <see cref="VirtualNetwork"/>: needs the namespaces (<see cref="NetnsFactAttribute"/>) and a YAML
/// parser (<see cref="YamlFactAttribute"/>); skipped with the first reason that applies.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class DeployNetnsFactAttribute : FactAttribute
{
    public DeployNetnsFactAttribute()
    {
        if ((NetnsAvailability.SkipReason ?? Yaml.SkipReason) is { } reason)
        {
            Skip = reason;
        }
    }
}
