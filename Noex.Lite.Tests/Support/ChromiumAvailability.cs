namespace Noex.Lite.Tests;

/// <summary>
/// Where Chromium is, for the browser tests (<see cref="HeadlessBrowser"/>): <c>NOEX_CHROMIUM</c> if set, else
/// <c>chromium</c> (Debian's package), <c>chromium-browser</c> or <c>google-chrome</c> on the path.
/// </summary>
internal static class ChromiumAvailability
{
    private static readonly Lazy<string?> s_path = new(Probe);

    /// <summary>The browser's executable, or null when there is none.</summary>
    public static string? Path => s_path.Value;

    /// <summary>Why the browser tests cannot run here, or null when they can.</summary>
    public static string? SkipReason => Path is not null ? null
        : Environment.GetEnvironmentVariable("NOEX_CHROMIUM") is { Length: > 0 } configured
            ? $"NOEX_CHROMIUM names {configured}, which does not exist"
            : "the browser tests need Chromium (apt-get install chromium, or NOEX_CHROMIUM=/path/to/chrome), which is not installed";

    private static string? Probe()
    {
        if (Environment.GetEnvironmentVariable("NOEX_CHROMIUM") is { Length: > 0 } configured)
        {
            return File.Exists(configured) ? configured : null;
        }
        return new[] { "chromium", "chromium-browser", "google-chrome" }.Select(SystemCommand.Find).FirstOrDefault(p => p is not null);
    }
}
