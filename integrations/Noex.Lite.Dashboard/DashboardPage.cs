using System.Security.Cryptography;
using System.Text;

namespace Noex.Lite.Dashboard;

/// <summary>
/// The page (Assets/dashboard.html, embedded), read once, and the Content-Security-Policy that lets exactly its inline
/// style and script run: each allowed by its SHA-256, everything else (other scripts, inline handlers, frames, forms,
/// requests to other origins) refused by the browser.
/// </summary>
internal static class DashboardPage
{
    private const string ResourceName = "Noex.Lite.Dashboard.dashboard.html";

    private static readonly Lazy<(byte[] Html, string Policy)> s_page = new(Load);

    /// <summary>The page, UTF-8.</summary>
    public static ReadOnlyMemory<byte> Html => s_page.Value.Html;

    /// <summary>The page's Content-Security-Policy header.</summary>
    public static string ContentSecurityPolicy => s_page.Value.Policy;

    private static (byte[], string) Load()
    {
        using var stream = typeof(DashboardPage).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The dashboard page ({ResourceName}) is not embedded in {typeof(DashboardPage).Assembly.GetName().Name}.");
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var html = reader.ReadToEnd();
        var policy = string.Join("; ",
            "default-src 'none'",
            $"script-src '{Hash(html, "script")}'",
            $"style-src '{Hash(html, "style")}'",
            "connect-src 'self'",
            "img-src data:",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'");
        return (Encoding.UTF8.GetBytes(html), policy);
    }

    /// <summary>The CSP source of the one inline <c>&lt;tag&gt;</c> element: <c>sha256-</c> and the base64 hash of its text.</summary>
    private static string Hash(string html, string tag)
    {
        var open = $"<{tag}>";
        var start = html.IndexOf(open, StringComparison.Ordinal);
        var end = html.IndexOf($"</{tag}>", StringComparison.Ordinal);
        if (start < 0 || end < start || html.IndexOf(open, start + open.Length, StringComparison.Ordinal) >= 0)
        {
            throw new InvalidOperationException($"The dashboard page must hold exactly one inline <{tag}> element.");
        }
        var text = html.AsSpan(start + open.Length, end - start - open.Length);
        return "sha256-" + Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToArray())));
    }
}
