namespace Noex.Lite;

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

    /// <summary>Removes the link between a local process and a remote one.</summary>
    void Unlink(ProcessRef local, ProcessRef remote);

    /// <summary>Sends an exit signal (OTP <c>exit/2</c>) to a remote process; false when it could not be sent.</summary>
    bool Exit(ProcessRef target, ExitReason reason, ProcessRef from);

    /// <summary>A local process ended (called once, from its teardown, after it stopped being alive).</summary>
    void OnExit(ProcessCell cell, ExitReason reason);
}

/// <summary>The node's <see cref="IRemoteSignals"/>: monitors go to <see cref="RemoteMonitor"/>, links and exits to <see cref="RemoteLink"/>.</summary>
internal sealed class RemoteSignals(RemoteMonitor monitors, RemoteLink links) : IRemoteSignals
{
    public void Monitor(ProcessCell watcher, MonitorRef monitor) => monitors.Watch(watcher, monitor);

    public void Demonitor(MonitorRef monitor) => monitors.Unwatch(monitor);

    public void Link(ProcessCell local, ProcessRef remote) => links.Link(local, remote);

    public void Unlink(ProcessRef local, ProcessRef remote) => links.Unlink(local, remote);

    public bool Exit(ProcessRef target, ExitReason reason, ProcessRef from) => links.Exit(target, reason, from);

    public void OnExit(ProcessCell cell, ExitReason reason)
    {
        monitors.OnExit(cell, reason);
        links.OnExit(cell, reason);
    }
}
