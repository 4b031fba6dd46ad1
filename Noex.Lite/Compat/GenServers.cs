namespace Noex.Lite;

/// <summary>
/// Static entry points (start, call, cast, stop) over <see cref="ProcessRuntime.Default"/>, and a spawn from the
/// default node. Each is also an instance method, of <see cref="ProcessRuntime"/> or (the spawn) of <see cref="Node"/>.
/// </summary>
public static class GenServers
{
    /// <summary>Starts <paramref name="server"/> in the default runtime. See <see cref="ProcessRuntime.StartAsync"/>.</summary>
    /// <param name="server">A fresh behaviour instance.</param>
    /// <param name="args">Arguments for init.</param>
    /// <param name="options">Name, timeouts, mailbox bounds; null for the defaults.</param>
    /// <param name="cancellationToken">Cancels the wait for init (the process is then killed).</param>
    public static Task<ProcessRef> StartAsync(GenServer server, Value args = default, StartOptions? options = null, CancellationToken cancellationToken = default) =>
        ProcessRuntime.Default.StartAsync(server, args, options, cancellationToken);

    /// <summary>Calls a process in the default runtime. See <see cref="ProcessRuntime.CallAsync(ProcessRef, Value, TimeSpan?, CancellationToken)"/>.</summary>
    /// <param name="target">The process.</param>
    /// <param name="request">The request.</param>
    /// <param name="timeout">How long to wait; null for 5000 ms.</param>
    /// <param name="cancellationToken">Abandons the wait.</param>
    public static ValueTask<Value> CallAsync(ProcessRef target, Value request, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        ProcessRuntime.Default.CallAsync(target, request, timeout, cancellationToken);

    /// <summary>Casts to a process in the default runtime. See <see cref="ProcessRuntime.Cast(ProcessRef, Value)"/>.</summary>
    /// <param name="target">The process.</param>
    /// <param name="message">The message.</param>
    public static void Cast(ProcessRef target, Value message) => ProcessRuntime.Default.Cast(target, message);

    /// <summary>Casts with backpressure in the default runtime. See <see cref="ProcessRuntime.CastAsync"/>.</summary>
    /// <param name="target">The process.</param>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Abandons the wait for room in a full outbound queue.</param>
    /// <returns>True if queued; false if it cannot be delivered (a dead letter).</returns>
    public static ValueTask<bool> CastAsync(ProcessRef target, Value message, CancellationToken cancellationToken = default) =>
        ProcessRuntime.Default.CastAsync(target, message, cancellationToken);

    /// <summary>Stops a process in the default runtime. See <see cref="ProcessRuntime.StopAsync"/>.</summary>
    /// <param name="target">The process.</param>
    /// <param name="reason">The exit reason; null for <c>normal</c>.</param>
    /// <param name="cancellationToken">Abandons the wait (the stop still happens).</param>
    public static Task StopAsync(ProcessRef target, ExitReason? reason = null, CancellationToken cancellationToken = default) =>
        ProcessRuntime.Default.StopAsync(target, reason, cancellationToken);

    /// <summary>
    /// Spawns <paramref name="behaviorName"/> on <paramref name="targetNode"/>, given as text, from the default node.
    /// See <see cref="Node.SpawnAsync"/> for the errors.
    /// </summary>
    /// <param name="behaviorName">A behaviour registered on the target node.</param>
    /// <param name="targetNode">The node to spawn on, <c>name@host:port</c> (it may be the local node).</param>
    /// <param name="options">Name, registration, timeouts and init args; null for the defaults.</param>
    /// <param name="cancellationToken">Abandons the spawn (anything it started is stopped).</param>
    /// <returns>The new process.</returns>
    /// <exception cref="ClusterNotStartedException">No default node is running.</exception>
    /// <exception cref="InvalidNodeIdException">The target node is not <c>name@host:port</c>.</exception>
    public static Task<ProcessRef> StartRemoteAsync(string behaviorName, string targetNode, SpawnOptions? options = null, CancellationToken cancellationToken = default) =>
        Cluster.Default.SpawnAsync(behaviorName, NodeId.Parse(targetNode), options, cancellationToken);
}
