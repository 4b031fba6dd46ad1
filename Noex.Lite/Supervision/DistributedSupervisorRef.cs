namespace Noex.Lite;

/// <summary>
/// A named distributed supervisor as seen from any node: every operation looks the name up in the global registry and
/// calls the active member, so it follows the supervisor across takeovers (protocol.md §5.6, "Named supervisors").
/// </summary>
/// <remarks>
/// While no member holds the name (between a node's loss and the takeover) or the call reaches a member that stood down,
/// an operation looks again every 100 ms until <see cref="Timeout"/>; an answer, a typed failure (no such child, a
/// duplicate id, no node) or the timeout ends it. A call whose connection is lost before it is answered is not repeated
/// (it may have been carried out): it fails with <see cref="NodeNotReachableException"/>.
/// </remarks>
/// <param name="node">The node to call from.</param>
/// <param name="name">The supervisor's name (<see cref="DistributedSupervisorOptions.Name"/>).</param>
public sealed class DistributedSupervisorRef(Node node, string name)
{
    private static readonly TimeSpan s_retry = TimeSpan.FromMilliseconds(100);

    /// <summary>The supervisor's name.</summary>
    public string Name { get; } = name ?? throw new ArgumentNullException(nameof(name));

    /// <summary>How long an operation looks for an active member and waits for its answer; default 10 s.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The active member's process as this node's registry shows it now; null while no member holds the name.</summary>
    public ProcessRef? Whereis() => node.GlobalRegistry.Whereis(Name);

    /// <summary>The active member's children, in start order.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public async Task<IReadOnlyList<DistributedChildInfo>> GetChildrenAsync(CancellationToken cancellationToken = default)
    {
        var reply = await CallAsync(Value.Object(("op", "children")), cancellationToken).ConfigureAwait(false);
        return [.. reply.AsArray().ToArray().Select(ChildFromValue)];
    }

    /// <summary>How many children the active member has.</summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public async Task<int> CountChildrenAsync(CancellationToken cancellationToken = default) =>
        (await GetChildrenAsync(cancellationToken).ConfigureAwait(false)).Count;

    /// <summary>Starts one more child (<see cref="DistributedSupervisor.StartChildAsync"/>).</summary>
    /// <param name="spec">The child; a custom node selector cannot cross the wire.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="ArgumentException">The spec has a custom node selector.</exception>
    public async Task<DistributedChildInfo> StartChildAsync(DistributedChildSpec spec, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        if (spec.NodeSelector is { Kind: NodeSelectorKind.Custom })
        {
            throw new ArgumentException("A custom node selector cannot be sent to another node; start the child on the active member, or use a built-in selector.", nameof(spec));
        }
        var reply = await CallAsync(Value.Object(("op", "start_child"), ("spec", SupervisorReplica.SpecValue(spec))), cancellationToken).ConfigureAwait(false);
        return ChildFromValue(reply);
    }

    /// <summary>Starts a simple_one_for_one child from the template (<see cref="DistributedSupervisor.StartChildFromTemplateAsync"/>).</summary>
    /// <param name="args">Its init arguments.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public async Task<DistributedChildInfo> StartChildFromTemplateAsync(Value args = default, CancellationToken cancellationToken = default) =>
        ChildFromValue(await CallAsync(Value.Object(("op", "start_template"), ("args", args)), cancellationToken).ConfigureAwait(false));

    /// <summary>Stops a child and forgets it (<see cref="DistributedSupervisor.TerminateChildAsync"/>).</summary>
    /// <param name="childId">The child.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public Task TerminateChildAsync(string childId, CancellationToken cancellationToken = default) =>
        CallAsync(Value.Object(("op", "terminate"), ("id", childId)), cancellationToken);

    /// <summary>Restarts a child (<see cref="DistributedSupervisor.RestartChildAsync"/>).</summary>
    /// <param name="childId">The child.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <returns>Its new instance.</returns>
    public async Task<ProcessRef> RestartChildAsync(string childId, CancellationToken cancellationToken = default) =>
        SupervisorReplica.RefFromValue(await CallAsync(Value.Object(("op", "restart"), ("id", childId)), cancellationToken).ConfigureAwait(false));

    /// <summary>
    /// Stops the whole supervisor: the active member stops the children and tells every standby to stop, so that nobody
    /// takes over. (A member's own <see cref="DistributedSupervisor.StopAsync"/> stops that member alone.)
    /// </summary>
    /// <param name="cancellationToken">Cancels the wait.</param>
    public Task StopAsync(CancellationToken cancellationToken = default) => CallAsync(Value.Object(("op", "stop")), cancellationToken);

    private async Task<Value> CallAsync(Value request, CancellationToken cancellationToken)
    {
        var time = node.Options.TimeProvider;
        var started = time.GetTimestamp();
        while (true)
        {
            var left = Timeout - time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                throw new DistributedSupervisorException(Name, $"no active member answered within {Timeout.TotalMilliseconds:0} ms");
            }
            if (node.GlobalRegistry.Whereis(Name) is { } active)
            {
                Value reply;
                try
                {
                    reply = await node.Runtime.CallAsync(active, request, left, cancellationToken).ConfigureAwait(false);
                }
                catch (ServerNotRunningException)
                {
                    // The member ended before it took the call (its supervisor stopped, or its node restarted): look again.
                    reply = Value.Object(("error", SupervisorErrors.NotActive));
                }
                if (reply.TryGetProperty("ok", out var ok))
                {
                    return ok;
                }
                var error = SupervisorErrors.FromValue(Name, reply) ?? new DistributedSupervisorException(Name, "unreadable answer");
                if (error is not SupervisorErrors.StandbyException)
                {
                    throw error;
                }
            }
            await Task.Delay(s_retry, time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A child as a member's answer carries it.</summary>
    internal static DistributedChildInfo ChildFromValue(Value value) => new(value["id"].AsString(), SupervisorReplica.RefFromValue(value),
        SupervisorReplica.SpecFromValue(value["spec"]), NodeId.Parse(value["node"].AsString()),
        value.TryGetProperty("restarts", out var r) && r.TryGetInt64(out var restarts) ? (int)restarts : 0,
        DateTimeOffset.FromUnixTimeMilliseconds(value.TryGetProperty("started_ms", out var s) && s.TryGetInt64(out var ms) ? ms : 0));

    /// <summary>A child as a member answers it.</summary>
    internal static Value ChildValue(DistributedChildInfo child) => Value.Object(
        ("id", child.Id), ("node", child.Ref.Node), ("process", child.Ref.Id), ("restarts", child.RestartCount),
        ("started_ms", child.StartedAt.ToUnixTimeMilliseconds()), ("spec", SupervisorReplica.SpecValue(child.Spec)));
}
