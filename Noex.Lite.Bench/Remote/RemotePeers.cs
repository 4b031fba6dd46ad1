namespace Noex.Lite.Bench.Remote;

/// <summary>
/// The other frameworks `remote --peer` measures next to Noex.Lite in the same run: each has a server kind for the
/// second process (<c>peer-&lt;name&gt;</c>) and a client that runs the scenarios under <c>peer-&lt;name&gt;-...</c>.
/// </summary>
public static class RemotePeers
{
    /// <summary>The peers that can be named after --peer.</summary>
    public static readonly IReadOnlyList<string> Names = ["protoactor", "akka"];

    private static string ServerKind(string peer) => "peer-" + peer;

    /// <summary>
    /// Runs each peer's scenarios against its own server process and adds them to <paramref name="results"/>; a peer that
    /// fails is reported on stderr and the rest still run, so one broken framework does not hide the others' figures.
    /// </summary>
    /// <returns>False when some peer failed.</returns>
    public static async Task<bool> RunAsync(IReadOnlyList<string> peers, int outstanding, TimeSpan duration, List<ScenarioResult> results)
    {
        var ok = true;
        foreach (var peer in peers)
        {
            try
            {
                await using var server = await ServerProcess.StartAsync(ServerKind(peer));
                results.AddRange(await RunClientAsync(peer, server, outstanding, duration));
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"remote: peer '{peer}' failed: {e}");
                ok = false;
            }
        }
        return ok;
    }

    private static Task<List<ScenarioResult>> RunClientAsync(string peer, ServerProcess server, int outstanding, TimeSpan duration) => peer switch
    {
        "protoactor" => PeerProtoActor.RunClientAsync(server.Port, server.Detail, outstanding, duration),
        "akka" => PeerAkka.RunClientAsync(server.Port, server.Detail, outstanding, duration),
        _ => throw new ArgumentException($"unknown peer '{peer}'", nameof(peer)),
    };

    /// <summary>Runs the server of a peer's server kind; false when <paramref name="kind"/> is no peer's.</summary>
    public static async Task<bool> TryRunServerAsync(string kind)
    {
        switch (kind)
        {
            case "peer-protoactor":
                await PeerProtoActor.RunServerAsync();
                return true;
            case "peer-akka":
                await PeerAkka.RunServerAsync();
                return true;
            default:
                return false;
        }
    }
}
