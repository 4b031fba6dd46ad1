using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Noex.Lite.Dashboard;

/// <summary>
/// The dashboard's three endpoints: the page, <c>api/snapshot</c> (one JSON snapshot) and <c>api/stream</c> (a
/// Server-Sent Events stream of them, one per refresh interval, until the client goes or the application stops).
/// </summary>
/// <param name="resolveNode">Finds the node for a request: a fixed node, a delegate, or the application's services.</param>
/// <param name="options">Validated options.</param>
internal sealed class DashboardHandlers(Func<HttpContext, Node> resolveNode, NoexDashboardOptions options)
{
    public static Task PageAsync(HttpContext context)
    {
        var response = context.Response;
        response.ContentType = "text/html; charset=utf-8";
        response.Headers.ContentSecurityPolicy = DashboardPage.ContentSecurityPolicy;
        response.Headers.XContentTypeOptions = "nosniff";
        response.Headers.CacheControl = "no-store";
        response.Headers["Referrer-Policy"] = "no-referrer";
        var html = DashboardPage.Html;
        response.ContentLength = html.Length;
        return response.Body.WriteAsync(html, context.RequestAborted).AsTask();
    }

    public async Task SnapshotAsync(HttpContext context)
    {
        var snapshot = await Feed(context).GetSnapshotAsync(options).WaitAsync(context.RequestAborted).ConfigureAwait(false);
        var response = context.Response;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
        await JsonSerializer.SerializeAsync(response.Body, snapshot, DashboardJsonContext.Default.DashboardSnapshot, context.RequestAborted).ConfigureAwait(false);
    }

    public async Task StreamAsync(HttpContext context)
    {
        var feed = Feed(context);
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache, no-store";
        response.Headers.XContentTypeOptions = "nosniff";
        // A reverse proxy (nginx) must pass events on as they come, not buffer them.
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        // The stream ends when the client goes, or when the application stops: a graceful stop does not wait for it.
        var stopping = context.RequestServices.GetService<IHostApplicationLifetime>()?.ApplicationStopping ?? CancellationToken.None;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        var token = stop.Token;
        try
        {
            // An EventSource that loses the stream retries after this long.
            await response.Body.WriteAsync("retry: 2000\n\n"u8.ToArray(), token).ConfigureAwait(false);
            await response.Body.FlushAsync(token).ConfigureAwait(false);
            using var timer = new PeriodicTimer(options.RefreshInterval, feed.Node.Options.TimeProvider);
            do
            {
                await WriteEventAsync(response.Body, feed, token).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The client left or the application is stopping: the stream simply ends.
        }
    }

    /// <summary>Writes one <c>snapshot</c> event, or a <c>failure</c> event saying why there is none this time.</summary>
    private async Task WriteEventAsync(Stream body, DashboardFeed feed, CancellationToken token)
    {
        byte[] payload;
        try
        {
            var snapshot = await feed.GetSnapshotAsync(options).WaitAsync(token).ConfigureAwait(false);
            // One line: the serializer writes no newline unless asked to indent, so the event is one data field.
            payload = [.. "event: snapshot\ndata: "u8, .. JsonSerializer.SerializeToUtf8Bytes(snapshot, DashboardJsonContext.Default.DashboardSnapshot), .. "\n\n"u8];
        }
        catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
        {
            var error = JsonEncodedText.Encode($"{e.GetType().Name}: {e.Message}");
            payload = Encoding.UTF8.GetBytes($"event: failure\ndata: {{\"error\":\"{error}\"}}\n\n");
        }
        await body.WriteAsync(payload, token).ConfigureAwait(false);
        await body.FlushAsync(token).ConfigureAwait(false);
    }

    private DashboardFeed Feed(HttpContext context) => DashboardFeed.For(resolveNode(context));
}
