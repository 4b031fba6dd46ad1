namespace Noex.Lite;

/// <summary>
/// A layer above the transport (remote calls, spawns, the global registry, monitors and links, the observer) that owns a
/// range of message types (protocol.md §5) and hears about connections coming and going.
/// </summary>
/// <remarks>
/// Every callback runs on a connection's read thread or the node's tick: it must be quick and must not block. Messages
/// of one connection arrive in order, one at a time.
/// </remarks>
internal interface IClusterService
{
    /// <summary>Handles a message of one of the service's types; false when it is malformed (the link is closed as a protocol error).</summary>
    bool OnMessage(Connection connection, ReadOnlySpan<byte> message);

    /// <summary>A connection finished its handshake (once per connection, before the node-up event).</summary>
    void OnConnectionUp(Connection connection);

    /// <summary>A connection closed; whatever waits on it must fail now (once per connection).</summary>
    void OnConnectionClosed(Connection connection, NodeDownReason reason);

    /// <summary>
    /// Every service has heard of the close and the node-down event (if the close was one) has been raised: work the close
    /// left that no failure notice should wait for may start now (once per connection, after
    /// <see cref="OnConnectionClosed"/>).
    /// </summary>
    void AfterConnectionClosed(Connection connection)
    {
    }

    /// <summary>The node's periodic tick (every quarter heartbeat interval): sweeps and retries.</summary>
    void OnTick();
}

/// <summary>What a cluster service may use of its node: its identity, settings and processes, the live connections, and
/// the dead-letter event.</summary>
internal interface INodeContext
{
    /// <summary>This node's id.</summary>
    NodeId Id { get; }

    /// <summary>This node's incarnation.</summary>
    ulong Incarnation { get; }

    /// <summary>The options the node was started with.</summary>
    NodeOptions Options { get; }

    /// <summary>The node's processes.</summary>
    ProcessRuntime Runtime { get; }

    /// <summary>How long the node has been running.</summary>
    TimeSpan Uptime { get; }

    /// <summary>The live connection to each peer.</summary>
    IConnectionTable Connections { get; }

    /// <summary>Raises the node's dead-letter event; callers count the dead letter themselves.</summary>
    void RaiseDeadLetter(ProcessRef target, Value message, DeadLetterReason reason);
}
