using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Noex.Lite.Dashboard;

/// <summary>
/// The dashboard for programs that are not web applications: a small Kestrel server of its own that serves it at
/// <c>/noex</c>. A web application maps it into its own routes instead
/// (<see cref="NoexDashboardEndpointRouteBuilderExtensions.MapNoexDashboard(Microsoft.AspNetCore.Routing.IEndpointRouteBuilder, string, Node, NoexDashboardOptions?)"/>).
/// </summary>
public static class NoexDashboard
{
    /// <summary>Where <see cref="StartAsync"/> serves the page.</summary>
    public const string Path = "/noex";

    /// <summary>How long stopping the server waits for requests in flight; the event streams end at once.</summary>
    private static readonly TimeSpan s_shutdownTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Starts a web server for the dashboard of <paramref name="node"/> at <paramref name="url"/> (the page at
    /// <see cref="Path"/>, and <c>/</c> redirecting there). It has no other endpoint, no logging and no configuration
    /// sources: it does not read appsettings.json or <c>ASPNETCORE_*</c> variables.
    /// </summary>
    /// <param name="node">The node whose view of the cluster it shows; it starts recording node-downs now.</param>
    /// <param name="url">Where to listen, e.g. <c>http://127.0.0.1:0</c> (the default: loopback, a port the OS picks) or
    /// <c>http://0.0.0.0:8080</c>. Anyone who can reach it sees the cluster: it has no authentication; map the dashboard
    /// into an application with authorization for that.</param>
    /// <param name="options">Refresh interval, timeout, chart length, title; null for <see cref="NoexDashboardOptions.Default"/>.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    /// <returns>The running server, with the page's <see cref="NoexDashboardServer.Url"/>; dispose it to stop it.</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the exception names it.</exception>
    /// <exception cref="IOException">The address is in use or cannot be bound.</exception>
    public static async Task<NoexDashboardServer> StartAsync(Node node, string url = "http://127.0.0.1:0", NoexDashboardOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = typeof(NoexDashboard).Assembly.GetName().Name });
        builder.WebHost.UseKestrelCore().UseUrls(url);
        builder.Services.AddRoutingCore();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = s_shutdownTimeout);
        var app = builder.Build();
        try
        {
            app.MapGet("/", new RequestDelegate(static context =>
            {
                context.Response.Redirect(context.Request.PathBase + Path);
                return Task.CompletedTask;
            }));
            app.MapNoexDashboard(Path, node, options);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var addresses = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses;
            var bound = addresses.FirstOrDefault() ?? throw new InvalidOperationException($"The dashboard server bound no address for {url}.");
            return new NoexDashboardServer(app, new Uri(bound.TrimEnd('/') + Path));
        }
        catch
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
