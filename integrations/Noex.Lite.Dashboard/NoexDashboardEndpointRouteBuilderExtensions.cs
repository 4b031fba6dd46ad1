using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Noex.Lite.Dashboard;

/// <summary>
/// Maps the Noex.Lite dashboard into an ASP.NET Core application: <c>{pattern}</c> is the page,
/// <c>{pattern}/api/snapshot</c> the cluster as one JSON document, <c>{pattern}/api/stream</c> the same as Server-Sent
/// Events, one per <see cref="NoexDashboardOptions.RefreshInterval"/>.
/// </summary>
/// <remarks>
/// Each overload returns the convention builder of all three endpoints, so that the application decides who may see
/// its cluster: <c>app.MapNoexDashboard("/noex").RequireAuthorization("ops")</c>. The dashboard is read-only; it has no
/// endpoint that changes anything.
/// </remarks>
public static class NoexDashboardEndpointRouteBuilderExtensions
{
    /// <summary>Maps the dashboard of the <see cref="Node"/> registered in the application's services.</summary>
    /// <param name="endpoints">The application's routes.</param>
    /// <param name="pattern">Where the page is, e.g. <c>/noex</c>.</param>
    /// <param name="options">Refresh interval, timeout, chart length, title; null for <see cref="NoexDashboardOptions.Default"/>.</param>
    /// <returns>The convention builder of the dashboard's endpoints (for authorization, host filters, ...).</returns>
    /// <remarks>
    /// The node is resolved from the request's services at each request (register the started node as a singleton:
    /// <c>services.AddSingleton(node)</c>); a request fails with an <see cref="InvalidOperationException"/> while none is
    /// registered. The node-down history starts with the first request, or with <see cref="DashboardFeed.For"/>.
    /// </remarks>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the exception names it.</exception>
    public static IEndpointConventionBuilder MapNoexDashboard(this IEndpointRouteBuilder endpoints, string pattern = "/noex", NoexDashboardOptions? options = null) =>
        Map(endpoints, pattern, static context => context.RequestServices.GetService<Node>()
            ?? throw new InvalidOperationException("The Noex.Lite dashboard found no Node in the application's services: register the started node (services.AddSingleton(node)) or pass it to MapNoexDashboard."),
            options);

    /// <summary>Maps the dashboard of <paramref name="node"/>, which starts recording its node-downs now.</summary>
    /// <param name="endpoints">The application's routes.</param>
    /// <param name="pattern">Where the page is, e.g. <c>/noex</c>.</param>
    /// <param name="node">The node whose view of the cluster the dashboard shows.</param>
    /// <param name="options">Refresh interval, timeout, chart length, title; null for <see cref="NoexDashboardOptions.Default"/>.</param>
    /// <returns>The convention builder of the dashboard's endpoints (for authorization, host filters, ...).</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the exception names it.</exception>
    public static IEndpointConventionBuilder MapNoexDashboard(this IEndpointRouteBuilder endpoints, string pattern, Node node, NoexDashboardOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        DashboardFeed.For(node);
        return Map(endpoints, pattern, _ => node, options);
    }

    /// <summary>Maps the dashboard of the node <paramref name="node"/> returns, asked at each request.</summary>
    /// <param name="endpoints">The application's routes.</param>
    /// <param name="pattern">Where the page is, e.g. <c>/noex</c>.</param>
    /// <param name="node">Returns the node (for a node started after the routes are mapped).</param>
    /// <param name="options">Refresh interval, timeout, chart length, title; null for <see cref="NoexDashboardOptions.Default"/>.</param>
    /// <returns>The convention builder of the dashboard's endpoints (for authorization, host filters, ...).</returns>
    /// <exception cref="ArgumentOutOfRangeException">An option is out of range; the exception names it.</exception>
    public static IEndpointConventionBuilder MapNoexDashboard(this IEndpointRouteBuilder endpoints, string pattern, Func<Node> node, NoexDashboardOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Map(endpoints, pattern, _ => node(), options);
    }

    private static RouteGroupBuilder Map(IEndpointRouteBuilder endpoints, string pattern, Func<HttpContext, Node> node, NoexDashboardOptions? options)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentException.ThrowIfNullOrWhiteSpace(pattern);
        var handlers = new DashboardHandlers(node, (options ?? NoexDashboardOptions.Default).Validate());
        var group = endpoints.MapGroup(pattern);
        // RequestDelegates, not lambdas with parameters: no request delegate generation, nothing for the trimmer to lose.
        group.MapGet("/", new RequestDelegate(DashboardHandlers.PageAsync));
        group.MapGet("/api/snapshot", new RequestDelegate(handlers.SnapshotAsync));
        group.MapGet("/api/stream", new RequestDelegate(handlers.StreamAsync));
        return group;
    }
}
