using System.Globalization;
using Noex.Lite.Hosting;

namespace Noex.Lite.Examples.HostedNode;

/// <summary>The greeting's text, from configuration (<c>Greeting</c>): a service that the greeters take from DI.</summary>
internal sealed class Greetings(IConfiguration configuration)
{
    private readonly string _template = configuration["Greeting"] ?? "Hello, {0}! (greeting {1} from {2})";

    public string For(string name, long count, string node) => string.Format(CultureInfo.InvariantCulture, _template, name, count, node);
}

/// <summary>
/// A behaviour made by the container: each spawn, here or from another node, gets a new greeter whose
/// <see cref="Greetings"/> comes from DI. It answers <c>{"type":"greet","name":...}</c> and counts its greetings.
/// </summary>
internal sealed class Greeter(Greetings greetings) : GenServer<long>
{
    public const string Behavior = "hosted:greeter";

    protected override ValueTask<long> InitAsync(Value args, CancellationToken cancellationToken) => new(0L);

    protected override ValueTask<CallResult<long>> HandleCallAsync(Value request, CallFrom from, long count)
    {
        if (request["type"].TryGetString(out var type) && type == "greet" && request["name"].TryGetString(out var name))
        {
            return new(CallResult<long>.WithReply(greetings.For(name, count + 1, Self.Node), count + 1));
        }
        return new(CallResult<long>.WithReply(Value.Object(("error", "unknown request")), count));
    }
}

/// <summary>
/// Starts one greeter on this node as the host starts, registered cluster-wide as <c>greeter:&lt;node id&gt;</c>, so
/// that any node of the cluster can call it. The id, not the name: nodes found by DNS all share one name (the
/// StatefulSet's pods are all <c>noex@&lt;pod ip&gt;</c>), and a global name must be one node's alone. It takes the node from <see cref="NoexNodeAccessor"/>: hosted services are
/// made before the node starts, and use it from their StartAsync on.
/// </summary>
internal sealed partial class GreeterStarter(NoexNodeAccessor accessor, ILogger<GreeterStarter> logger) : IHostedService
{
    public static string GlobalName(Node node) => $"greeter:{node.Id}";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var node = accessor.Node;
        var greeter = await node.SpawnAsync(Greeter.Behavior, node.Id,
            new SpawnOptions { Name = GlobalName(node), Registration = SpawnRegistration.Global }, cancellationToken);
        Started(logger, GlobalName(node), greeter.ToString());
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Greeter {Name} is running as {Process}")]
    private static partial void Started(ILogger logger, string name, string process);
}
