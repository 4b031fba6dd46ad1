namespace Noex.Lite;

/// <summary>
/// A layer above the transport (remote calls, spawns, the global registry, monitors and links, supervision) that owns a
/// range of message types (protocol.md §5) and hears about connections coming and going.
/// </summary>
/// <remarks>
/// Every callback runs on a connection's read loop or the node's tick: it must be quick and must not block. Messages of
/// one connection arrive in order, one at a time.
/// </remarks>
internal interface IClusterService
{
    /// <summary>Handles a message of one of the service's types; false when it is malformed (the link is closed as a protocol error).</summary>
    bool OnMessage(Connection connection, ReadOnlySpan<byte> message);

    /// <summary>A connection finished its handshake (once per connection, before the node-up event).</summary>
    void OnConnectionUp(Connection connection);

    /// <summary>A connection closed; whatever waits on it must fail now (once per connection).</summary>
    void OnConnectionClosed(Connection connection, NodeDownReason reason);

    /// <summary>The node's periodic tick (every quarter heartbeat interval): sweeps and retries.</summary>
    void OnTick();
}
