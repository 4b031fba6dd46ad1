namespace Noex.Lite;

/// <summary>The node's <see cref="IRemoteSignals"/>: monitors go to <see cref="RemoteMonitor"/>, links and exits to <see cref="RemoteLink"/>.</summary>
internal sealed class RemoteSignals(RemoteMonitor monitors, RemoteLink links) : IRemoteSignals
{
    public void Monitor(ProcessCell watcher, MonitorRef monitor) => monitors.Watch(watcher, monitor);

    public void Demonitor(MonitorRef monitor) => monitors.Unwatch(monitor);

    public void Link(ProcessCell local, ProcessRef remote) => links.Link(local, remote);

    public Task LinkAsync(ProcessCell local, ProcessRef remote, TimeSpan? timeout, CancellationToken cancellationToken) =>
        links.LinkAsync(local, remote, timeout, cancellationToken);

    public void Unlink(ProcessRef local, ProcessRef remote) => links.Unlink(local, remote);

    public bool Exit(ProcessRef target, ExitReason reason, ProcessRef from) => links.Exit(target, reason, from);

    public void OnExit(ProcessCell cell, ExitReason reason)
    {
        monitors.OnExit(cell, reason);
        links.OnExit(cell, reason);
    }
}
