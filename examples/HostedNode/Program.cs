using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Noex.Lite;
using Noex.Lite.Dashboard;
using Noex.Lite.Examples.HostedNode;

// A node as a .NET service: the Generic Host (here ASP.NET Core's, for the health endpoints) starts it from
// appsettings.json and Noex__* environment variables, logs through ILogger, answers /health/live and /health/ready, makes
// the "hosted:greeter" behaviour with its dependencies from DI, serves the dashboard at /noex, and leaves the cluster
// gracefully on SIGTERM or Ctrl+C.
// appsettings.json is read from beside the program, wherever it is started from.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
// The HTTP address: --urls, Urls or ASPNETCORE_URLS when given, else this one.
if (string.IsNullOrEmpty(builder.Configuration["urls"]))
{
    builder.WebHost.UseUrls("http://127.0.0.1:5080");
}

builder.Services.AddNoexNode();
builder.Services.AddSingleton<Greetings>();
builder.Services.AddNoexBehavior<Greeter>(Greeter.Behavior);
builder.Services.AddHostedService<GreeterStarter>();
builder.Services.AddHealthChecks().AddNoexHealthChecks();

var app = builder.Build();
app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = check => check.Tags.Contains(NoexHealthChecks.LiveTag) });
app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = check => check.Tags.Contains(NoexHealthChecks.ReadyTag) });
// The live cluster, as this node sees it (the Node from DI). Read-only; put .RequireAuthorization() on it where the port is
// reachable by more than its operators.
app.MapNoexDashboard("/noex");
// A call into the cluster from a request: the greeter this node started, found by its global name.
app.MapGet("/greet/{name}", async (string name, Node node) =>
{
    var greeter = node.GlobalRegistry.Lookup(GreeterStarter.GlobalName(node));
    var reply = await node.Runtime.CallAsync(greeter, Value.Object(("type", "greet"), ("name", name)));
    return reply.AsString();
});

try
{
    await app.RunAsync();
    return 0;
}
catch (Exception e) when (e is OptionsValidationException or NoexException)
{
    // Invalid settings (each error names its key, e.g. Noex:Port) or a node that cannot start (a port in use): the host
    // has logged it; a line without a stack trace says it again.
    Console.Error.WriteLine($"HostedNode cannot start: {e.Message}");
    return 1;
}
