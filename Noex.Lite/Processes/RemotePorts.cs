namespace Noex.Lite;

/// <summary>Routes calls and casts addressed to processes of other nodes (the runtime asks it for every non-local ref).</summary>
internal interface IRemoteRouter
{
    /// <summary>Calls a remote process; <paramref name="replyContract"/> (a typed call's reply type) reads the reply.
    /// A typed call passes its own <paramref name="waiter"/>.</summary>
    ValueTask<Value> CallAsync(ProcessRef target, Value request, TimeSpan timeout, CancellationToken cancellationToken, ValueContract? replyContract = null,
        CallWaiter? waiter = null);

    bool Cast(ProcessRef target, Value message);

    /// <summary>A cast that meets a full outbound queue with the node's overload policy (see ProcessRuntime.CastAsync).</summary>
    ValueTask<bool> CastAsync(ProcessRef target, Value message, CancellationToken cancellationToken);
}

/// <summary>Stops processes of other nodes (the runtime hands it every non-local stop).</summary>
internal interface IRemoteStops
{
    /// <summary>Stops a process of another node and waits until it has ended (protocol.md §5.3).</summary>
    Task StopAsync(ProcessRef target, ExitReason reason, CancellationToken cancellationToken);
}

/// <summary>
/// Monitors, links and exit signals whose other end is on another node: the runtime hands every non-local case here
/// (set by the node that owns the runtime), and tells it about every process that ends.
/// </summary>
internal interface IRemoteSignals
{
    /// <summary>Watches a remote target; the watcher's own record of <paramref name="monitor"/> is already in place.</summary>
    void Monitor(ProcessCell watcher, MonitorRef monitor);

    /// <summary>Removes a remote monitor the watcher had (the watcher's own record is already gone).</summary>
    void Demonitor(MonitorRef monitor);

    /// <summary>Links a local process to a remote one.</summary>
    void Link(ProcessCell local, ProcessRef remote);

    /// <summary>Links a local process to a remote one and waits for the remote node's acknowledgement (ProcessRuntime.LinkAsync).</summary>
    Task LinkAsync(ProcessCell local, ProcessRef remote, TimeSpan? timeout, CancellationToken cancellationToken);

    /// <summary>Removes the link between a local process and a remote one.</summary>
    void Unlink(ProcessRef local, ProcessRef remote);

    /// <summary>Sends an exit signal (OTP <c>exit/2</c>) to a remote process; false when it could not be sent.</summary>
    bool Exit(ProcessRef target, ExitReason reason, ProcessRef from);

    /// <summary>A local process ended (called once, from its teardown, after it stopped being alive).</summary>
    void OnExit(ProcessCell cell, ExitReason reason);
}
