using Microsoft.AspNetCore.Builder;

namespace Noex.Lite.Dashboard;

/// <summary>A dashboard served by its own web server (<see cref="NoexDashboard.StartAsync"/>); dispose it to stop it.</summary>
public sealed class NoexDashboardServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _disposed;

    internal NoexDashboardServer(WebApplication app, Uri url)
    {
        _app = app;
        Url = url;
    }

    /// <summary>The page, with the port really bound: e.g. <c>http://127.0.0.1:40123/noex</c>.</summary>
    public Uri Url { get; }

    /// <summary>The snapshot as JSON, for scripts: <c>{Url}/api/snapshot</c>.</summary>
    public Uri SnapshotUrl => new(Url + "/api/snapshot");

    /// <summary>Stops the server: open pages lose their stream (and retry until it comes back). Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public override string ToString() => Url.ToString();
}
