using Noex.Lite.Bench.Remote.Peers;
using Proto;
using Proto.Remote;
using Proto.Remote.GrpcNet;

namespace Noex.Lite.Bench.Remote;

/// <summary>
/// The Proto.Actor peer of `remote --peer protoactor`: Proto.Actor 1.8 with Proto.Remote over gRPC (GrpcNet: Kestrel
/// HTTP/2 on the server side, Grpc.Net.Client on the client side), a store actor on the server process and the
/// scenarios run from a second actor system in this process.
/// </summary>
/// <remarks>
/// Settings: the framework's defaults for a loopback pair, as its own remote benchmark and docs set them up:
/// <c>RemoteConfig.BindToLocalhost()</c> on both sides (both are full members, GrpcNetRemote, so a reply travels
/// on the caller's own endpoint as in any Proto.Remote deployment), messages registered with <c>WithProtoMessages</c>
/// so Proto.Remote's native Google.Protobuf serializer carries them. No gzip (the framework's remote benchmark enables
/// it for real networks; on loopback it only burns CPU), no TLS (the other contenders have none either), default
/// ActorSystemConfig. Calls use <c>RequestAsync</c> with the same 5 s timeout as Noex.Lite's default; casts use
/// <c>Send</c>.
/// </remarks>
public static class PeerProtoActor
{
    private const string StoreName = "store";
    private static readonly StoreRequest s_get = new() { Type = "get", Key = "k1" };
    private static readonly StoreRequest s_count = new() { Type = "count" };
    private static readonly StoreRequest s_inc = new() { Type = "inc", Key = "k1" };

    /// <summary>The server process: an actor system hosting the store; prints "LISTENING &lt;port&gt; &lt;actor name&gt;".</summary>
    public static async Task RunServerAsync()
    {
        var system = await StartSystemAsync();
        system.Root.SpawnNamed(Props.FromProducer(() => new Store()), StoreName);
        Console.WriteLine($"LISTENING {Port(system)} {StoreName}");
        Console.Out.Flush();
        await Task.Run(() => Console.In.ReadToEnd());
        await system.Remote().ShutdownAsync();
    }

    public static async Task<List<ScenarioResult>> RunClientAsync(int port, string serverDetail, int outstanding, TimeSpan duration)
    {
        var system = await StartSystemAsync();
        try
        {
            var root = system.Root;
            var store = PID.FromAddress($"127.0.0.1:{port}", serverDetail);
            // The first request also opens the endpoint; allow it the time a loaded machine may need.
            PeerScenarios.CheckAnswer("protoactor", (await root.RequestAsync<StoreReply>(store, s_get, TimeSpan.FromSeconds(30))).Value);
            Task Call() => root.RequestAsync<StoreReply>(store, s_get, PeerScenarios.CallTimeout);
            return
            [
                await PeerScenarios.CallsAsync("peer-protoactor-call-1", 1, duration, Call),
                await PeerScenarios.CallsAsync($"peer-protoactor-call-{outstanding}", outstanding, duration, Call),
                await PeerScenarios.CastsAsync(
                    "peer-protoactor-cast",
                    () => root.Send(store, s_inc),
                    async timeout => (await root.RequestAsync<StoreReply>(store, s_count, timeout)).Value),
            ];
        }
        finally
        {
            await system.Remote().ShutdownAsync();
        }
    }

    private static async Task<ActorSystem> StartSystemAsync()
    {
        var remoteConfig = RemoteConfig.BindToLocalhost().WithProtoMessages(PeerMessagesReflection.Descriptor);
        var system = new ActorSystem(new ActorSystemConfig()).WithRemote(remoteConfig);
        await system.Remote().StartAsync();
        return system;
    }

    // The remote sets the system's address ("host:port") once Kestrel has bound the port it asked for (0: any).
    private static int Port(ActorSystem system) =>
        int.Parse(system.Address[(system.Address.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Answers get with an integer and counts casts, as Noex.Lite's store does.</summary>
    private sealed class Store : IActor
    {
        private static readonly StoreReply s_answer = new() { Value = 42 };
        private long _count;

        public Task ReceiveAsync(IContext context)
        {
            if (context.Message is StoreRequest request)
            {
                switch (request.Type)
                {
                    case "inc":
                        _count++;
                        break;
                    case "count":
                        context.Respond(new StoreReply { Value = _count });
                        break;
                    default:
                        context.Respond(s_answer);
                        break;
                }
            }
            return Task.CompletedTask;
        }
    }
}
