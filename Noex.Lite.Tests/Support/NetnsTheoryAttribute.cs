namespace Noex.Lite.Tests;

/// <summary>A theory on a <see cref="VirtualNetwork"/>: skipped with the precise reason where the harness cannot run (see <see cref="NetnsFactAttribute"/>).</summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class NetnsTheoryAttribute : TheoryAttribute
{
    public NetnsTheoryAttribute()
    {
        if (NetnsAvailability.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
