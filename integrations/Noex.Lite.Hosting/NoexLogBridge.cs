using System.Diagnostics.Tracing;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Noex.Lite.Hosting;

/// <summary>
/// One node's events and event-source log, as <see cref="ILogger"/> messages (<see cref="NoexLogMessages"/>): the node's
/// events (up, down, removed, handshake failed, dead letters, state) through its .NET events, and what only the
/// <c>Noex.Lite</c> event source says (connections, protocol errors, discovery, restarts, failed handlers, the listener)
/// through an <see cref="EventListener"/>. Disposing it unsubscribes both.
/// </summary>
/// <remarks>
/// The event source is one per process and every event names the node that wrote it (its first field), so the listener
/// keeps only this node's events: a process may run several nodes, each host its own bridge. Events the node's .NET
/// events already report (source ids 1, 2, 3, 14, 16) and its start and stop (6–9, logged by the node service) are not
/// logged twice.
/// </remarks>
internal sealed class NoexLogBridge : IDisposable
{
    private readonly Node _node;
    private readonly ILogger _logger;
    private readonly Listener _listener;

    public NoexLogBridge(Node node, ILogger logger)
    {
        _node = node;
        _logger = logger;
        node.NodeUp += OnNodeUp;
        node.NodeDown += OnNodeDown;
        node.NodeRemoved += OnNodeRemoved;
        node.HandshakeFailed += OnHandshakeFailed;
        node.DeadLetter += OnDeadLetter;
        node.StateChanged += OnStateChanged;
        // Verbose only when someone reads debug messages: the event source formats nothing for a level nobody asked for.
        _listener = new Listener(this, logger.IsEnabled(LogLevel.Debug) ? EventLevel.Verbose : EventLevel.Warning);
    }

    public void Dispose()
    {
        _node.NodeUp -= OnNodeUp;
        _node.NodeDown -= OnNodeDown;
        _node.NodeRemoved -= OnNodeRemoved;
        _node.HandshakeFailed -= OnHandshakeFailed;
        _node.DeadLetter -= OnDeadLetter;
        _node.StateChanged -= OnStateChanged;
        _listener.Dispose();
    }

    private void OnNodeUp(NodeInfo info) => _logger.NodeUp(info.Id.ToString(), info.Incarnation);

    private void OnNodeDown(NodeDownEvent down)
    {
        // A goodbye is a node leaving as it should: information, not a warning.
        if (down.Reason == NodeDownReason.GracefulShutdown)
        {
            _logger.NodeLeft(down.Node.ToString(), down.Reason, down.Cause);
        }
        else
        {
            _logger.NodeDown(down.Node.ToString(), down.Reason, down.Cause, down.Detail);
        }
    }

    private void OnNodeRemoved(NodeRemovedEvent removed) => _logger.NodeRemoved(removed.Node.ToString(), removed.Reason);

    private void OnHandshakeFailed(HandshakeException e) =>
        _logger.HandshakeFailed(e.Peer?.ToString() ?? e.RemoteEndPoint?.ToString() ?? "?", e.Failure, e.ByPeer, e.Message);

    private void OnDeadLetter(DeadLetterEvent letter) => _logger.DeadLetter(letter.Target.ToString(), letter.Reason);

    private void OnStateChanged(NodeState state) => _logger.NodeStateChanged(_node.Id.ToString(), state);

    /// <summary>Logs one event-source event of this node's, by its id (NoexLog's numbering, which never changes).</summary>
    private void OnEvent(EventWrittenEventArgs e)
    {
        var p = e.Payload;
        if (p is null || p.Count == 0 || p[0] is not string writer || writer != _node.Id.ToString())
        {
            return;
        }
        switch (e.EventId)
        {
            case 4:
                _logger.MembersRefused(Int(p, 2), Text(p, 1), Text(p, 3));
                break;
            case 5:
                _logger.DiscoveryFailed(Text(p, 1), Text(p, 2));
                break;
            case 10:
                _logger.ConnectionUp(Text(p, 1), Convert.ToUInt64(p[2], CultureInfo.InvariantCulture), Int(p, 3), Text(p, 4));
                break;
            case 11:
                _logger.ConnectionClosed(Text(p, 1), Text(p, 3), Text(p, 4), Text(p, 5));
                break;
            case 12:
                _logger.ConnectionLost(Text(p, 1), Text(p, 3), Text(p, 4), Text(p, 5));
                break;
            case 13:
                _logger.ProtocolError(Text(p, 1), Text(p, 3), Text(p, 4));
                break;
            case 15:
                _logger.MessageDropped(Text(p, 2), Int(p, 3), Text(p, 1));
                break;
            case 17:
                _logger.ProcessRestarted(Text(p, 1), Text(p, 2), Int(p, 3));
                break;
            case 18:
                _logger.HandlerFailed(Text(p, 1), Text(p, 2), Text(p, 3));
                break;
            case 19:
                _logger.ListenerFailed(Text(p, 1), Text(p, 2));
                break;
            default:
                // 1, 2, 3, 14, 16: the node's own events above; 6–9: the node service logs start and stop.
                break;
        }

        static string Text(IReadOnlyList<object?> payload, int i) =>
            i < payload.Count ? Convert.ToString(payload[i], CultureInfo.InvariantCulture) ?? "" : "";

        static int Int(IReadOnlyList<object?> payload, int i) =>
            i < payload.Count ? Convert.ToInt32(payload[i], CultureInfo.InvariantCulture) : 0;
    }

    /// <summary>The listener on the <c>Noex.Lite</c> event source, handing its events to the bridge.</summary>
    private sealed class Listener : EventListener
    {
        // Set by the constructor's body, which runs after the base constructor has announced the sources that exist.
        private readonly NoexLogBridge? _bridge;
        private readonly EventLevel _level;
        private EventSource? _source;

        public Listener(NoexLogBridge bridge, EventLevel level)
        {
            _bridge = bridge;
            _level = level;
            // The base constructor announced the sources that existed before _level was set: enable the one we want now.
            if (Volatile.Read(ref _source) is { } source)
            {
                EnableEvents(source, _level);
            }
        }

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name != NoexDiagnostics.EventSourceName)
            {
                return;
            }
            Volatile.Write(ref _source, eventSource);
            // Null while the base constructor runs (our constructor enables it then); set for a source created later.
            if (_bridge is not null)
            {
                EnableEvents(eventSource, _level);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData) => _bridge?.OnEvent(eventData);
    }
}
