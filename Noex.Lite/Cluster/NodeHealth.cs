namespace Noex.Lite;

/// <summary>Where a node is in its life (<see cref="Node.State"/>). It only moves forward.</summary>
public enum NodeState
{
    /// <summary>
    /// Being set up: the listener is bound, and the node is about to accept and dial. <see cref="Node.StartAsync"/> returns
    /// once the node is <see cref="Running"/>, so only the log's <c>NodeStarting</c> event shows this state.
    /// </summary>
    Starting,
    /// <summary>Accepting connections, dialling its seeds and members, and running its processes.</summary>
    Running,
    /// <summary><see cref="Node.StopAsync"/> has begun: peers are told goodbye and queued messages are sent.</summary>
    Stopping,
    /// <summary>Stopped: its connections, listener and processes are gone.</summary>
    Stopped,
}

/// <summary>
/// What a health check needs to know of a node, in one snapshot (<see cref="Node.GetHealth"/>): its state, and whether it
/// sees the cluster it was configured to join.
/// </summary>
/// <remarks>
/// A hosting project maps it to its own probes. A sensible mapping: <em>live</em> while <see cref="State"/> is
/// <see cref="NodeState.Running"/> (a stopped node is restarted, a lonely one is not); <em>ready</em> when it is running and
/// connected to a seed (<see cref="SeedsConnected"/> &gt; 0), or to any peer (<see cref="Connected"/> &gt; 0) when its
/// seeds come from an <see cref="ISeedProvider"/>, or at once when it has neither (the first node of a cluster); and, for
/// a node whose distributed supervisors fail over by the majority, also <see cref="HasQuorum"/>. A node that is not ready
/// keeps redialling with backoff by itself; nothing needs restarting.
/// </remarks>
/// <param name="State">Where the node is in its life.</param>
/// <param name="Seeds">The static seeds it was configured with (<see cref="NodeOptions.Seeds"/>), not counting its own id.</param>
/// <param name="SeedsConnected">How many of those it is connected to now.</param>
/// <param name="Members">The other nodes it knows of, connected or not (learned, up or unreachable).</param>
/// <param name="Connected">The other nodes it is connected to now (those <see cref="Node.GetConnectedNodes"/> lists).</param>
/// <param name="HasQuorum">Whether it sees a quorum now (<see cref="NodeOptions.QuorumSize"/>, or a strict majority of the
/// nodes it has seen: DESIGN.md, "Quorum"), which a distributed supervisor fails over by.</param>
/// <param name="Uptime">How long it has been running.</param>
public sealed record NodeHealth(NodeState State, int Seeds, int SeedsConnected, int Members, int Connected, bool HasQuorum, TimeSpan Uptime);
