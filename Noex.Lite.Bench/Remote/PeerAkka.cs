using Akka.Actor;
using Akka.Configuration;
using Noex.Lite.Bench.Remote.Peers;

namespace Noex.Lite.Bench.Remote;

/// <summary>
/// The Akka.NET peer of `remote --peer akka`: Akka.Remote 1.5 with its default DotNetty TCP transport, a store actor
/// on the server process and the scenarios run from a second actor system in this process.
/// </summary>
/// <remarks>
/// Settings: Akka.Remote's reference configuration, which is what its docs recommend starting from: the classic
/// DotNetty TCP transport bound to 127.0.0.1 (port 0: any), TCP_NODELAY on, default dispatchers, and DotNetty write
/// batching left on: since 1.4.14 it self-tunes (flushes when the channel turns to reading) and Akka's performance
/// guide says it needs no tuning; its own note says to turn it off only for very low-traffic systems. Serialization:
/// the request is the Google.Protobuf <see cref="StoreRequest"/> (the same message as the Proto.Actor peer), which
/// Akka.Remote's reference config already binds to its built-in <c>proto</c> serializer
/// (Akka.Remote.Serialization.ProtobufSerializer). We chose it over the default Newtonsoft JSON serializer because a
/// schema-based binary format, not reflection-based JSON, is the usual advice for Akka messages that cross processes,
/// and over Hyperion (a separate package) so that both peers carry the same bytes. The answer is a plain <c>long</c>,
/// which Akka.Remote's built-in <c>primitive</c> serializer carries, as an Akka user answering with an integer would
/// write it. Logging is turned down to warnings so the server's first line is its port. Calls use <c>Ask</c> with the
/// same 5 s timeout as Noex.Lite's default; casts use <c>Tell</c>.
/// </remarks>
public static class PeerAkka
{
    private const string ServerSystem = "bench-server";
    private static readonly StoreRequest s_get = new() { Type = "get", Key = "k1" };
    private static readonly StoreRequest s_count = new() { Type = "count" };
    private static readonly StoreRequest s_inc = new() { Type = "inc", Key = "k1" };

    private static readonly Config s_config = ConfigurationFactory.ParseString("""
        akka {
          loglevel = WARNING
          stdout-loglevel = WARNING
          log-dead-letters = off
          log-dead-letters-during-shutdown = off
          actor.provider = remote
          remote.dot-netty.tcp {
            hostname = 127.0.0.1
            port = 0
          }
        }
        """);

    /// <summary>The server process: an actor system hosting the store; prints "LISTENING &lt;port&gt; &lt;system name&gt;".</summary>
    public static async Task RunServerAsync()
    {
        using var system = ActorSystem.Create(ServerSystem, s_config);
        system.ActorOf(Props.Create(() => new Store()), "store");
        Console.WriteLine($"LISTENING {Port(system)} {ServerSystem}");
        Console.Out.Flush();
        await Task.Run(() => Console.In.ReadToEnd());
        await system.Terminate();
    }

    public static async Task<List<ScenarioResult>> RunClientAsync(int port, string serverDetail, int outstanding, TimeSpan duration)
    {
        using var system = ActorSystem.Create("bench-client", s_config);
        try
        {
            // Resolving the store also opens the association; allow it the time a loaded machine may need.
            var store = await system.ActorSelection($"akka.tcp://{serverDetail}@127.0.0.1:{port}/user/store").ResolveOne(TimeSpan.FromSeconds(30));
            PeerScenarios.CheckAnswer("akka", await store.Ask<long>(s_get, PeerScenarios.CallTimeout));
            Task Call() => store.Ask<long>(s_get, PeerScenarios.CallTimeout);
            return
            [
                await PeerScenarios.CallsAsync("peer-akka-call-1", 1, duration, Call),
                await PeerScenarios.CallsAsync($"peer-akka-call-{outstanding}", outstanding, duration, Call),
                await PeerScenarios.CastsAsync(
                    "peer-akka-cast",
                    () => store.Tell(s_inc, ActorRefs.NoSender),
                    timeout => store.Ask<long>(s_count, timeout)),
            ];
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static int Port(ActorSystem system) => ((ExtendedActorSystem)system).Provider.DefaultAddress.Port
        ?? throw new InvalidOperationException("Akka.Remote did not report the port it bound");

    /// <summary>Answers get with an integer and counts casts, as Noex.Lite's store does.</summary>
    private sealed class Store : UntypedActor
    {
        private static readonly object s_answer = 42L;
        private long _count;

        protected override void OnReceive(object message)
        {
            if (message is StoreRequest request)
            {
                switch (request.Type)
                {
                    case "inc":
                        _count++;
                        break;
                    case "count":
                        Sender.Tell(_count);
                        break;
                    default:
                        Sender.Tell(s_answer);
                        break;
                }
            }
        }
    }
}
