namespace Noex.Lite.Tests;

/// <summary>
/// A test on a <see cref="VirtualNetwork"/> (network namespaces, a bridge, nft): skipped, with the precise reason, where
/// the harness cannot run (not Linux, not root, <c>ip</c> or <c>nft</c> missing, namespaces refused), so that it never
/// passes without having run.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class NetnsFactAttribute : FactAttribute
{
    public NetnsFactAttribute()
    {
        if (NetnsAvailability.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
