namespace Noex.Lite.Tests;

/// <summary>
/// A test in a headless Chromium (<see cref="HeadlessBrowser"/>): skipped, with the reason, where no Chromium is
/// installed, so that it never passes without having run.
/// </summary>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false)]
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (ChromiumAvailability.SkipReason is { } reason)
        {
            Skip = reason;
        }
    }
}
