namespace Noex.Lite;

/// <summary>
/// The message type table of protocol.md §5: the first byte of every message in a data frame, and the range of types
/// each layer owns, in one place so that a new message cannot take a byte another layer already uses.
/// </summary>
/// <remarks>
/// A type outside every range is dropped and counted (a newer peer may send it); a type inside a layer's range that the
/// layer does not define is that layer's protocol error (§5). The services register their ranges with the mesh through
/// their own <c>FirstType</c>/<c>LastType</c>, which are these constants.
/// </remarks>
internal static class MessageTypes
{
    // ---- §5.1 cluster messages: read by the mesh and the frame layer themselves, not by a service -------------------

    /// <summary>gossip: <c>uptime_ms u64, process_count u32, count u16, count × str8 node id</c>.</summary>
    public const byte Gossip = 0x01;

    /// <summary>goodbye: no body; the sender is stopping.</summary>
    public const byte Goodbye = 0x02;

    /// <summary>fragment: <c>total u32, offset u32, chunk</c>.</summary>
    public const byte Fragment = 0x03;

    /// <summary>The first of the types reserved for cluster control messages, which may pass queued data (§5.1).</summary>
    public const byte FirstControl = 0x04;

    /// <summary>The last of them.</summary>
    public const byte LastControl = 0x0F;

    // ---- §5.2 remote calls and casts: RemoteCall ----------------------------------------------------------------------

    /// <summary>The first type RemoteCall owns.</summary>
    public const byte FirstCall = 0x10;

    /// <summary>call: <c>call_id i64, target i64, timeout_ms u32, request value</c>.</summary>
    public const byte Call = 0x10;

    /// <summary>cast: <c>target i64, message value</c>.</summary>
    public const byte Cast = 0x12;

    /// <summary>A call with the caller's trace context (capability <c>trace_context</c>).</summary>
    public const byte TracedCall = 0x11;

    /// <summary>A cast with the caller's trace context (capability <c>trace_context</c>).</summary>
    public const byte TracedCast = 0x15;

    /// <summary>reply: <c>call_id i64, reply value</c>.</summary>
    public const byte Reply = 0x13;

    /// <summary>call_error: <c>call_id i64, kind u8, detail value</c>.</summary>
    public const byte CallError = 0x14;

    /// <summary>The last type RemoteCall owns.</summary>
    public const byte LastCall = 0x17;

    // ---- §5.3 spawns and remote stops: SpawnService (0x1F reserved) ---------------------------------------------------

    /// <summary>The first type SpawnService owns.</summary>
    public const byte FirstSpawn = 0x18;

    /// <summary>spawn_request: <c>spawn_id i64, spawn_timeout_ms u32, init_timeout_ms u32, registration u8, behavior str8, name str8, args value</c>.</summary>
    public const byte SpawnRequest = 0x18;

    /// <summary>A spawn request with the caller's trace context (capability <c>trace_context</c>).</summary>
    public const byte TracedSpawnRequest = 0x1F;

    /// <summary>spawn_reply: <c>spawn_id i64, process_id i64</c>.</summary>
    public const byte SpawnReply = 0x19;

    /// <summary>spawn_error: <c>spawn_id i64, kind u8, detail value</c>.</summary>
    public const byte SpawnError = 0x1A;

    /// <summary>spawn_ack: <c>spawn_id i64</c>.</summary>
    public const byte SpawnAck = 0x1B;

    /// <summary>spawn_cancel: <c>spawn_id i64</c>.</summary>
    public const byte SpawnCancel = 0x1C;

    /// <summary>stop_request: <c>request_id i64, target i64, timeout_ms u32, reason value</c>.</summary>
    public const byte StopRequest = 0x1D;

    /// <summary>stop_reply: <c>request_id i64, result u8</c>.</summary>
    public const byte StopReply = 0x1E;

    /// <summary>The last type SpawnService owns.</summary>
    public const byte LastSpawn = 0x1F;

    // ---- §5.4 global registry: GlobalRegistry (0x26-0x27 reserved) ---------------------------------------------------

    /// <summary>The first type GlobalRegistry owns.</summary>
    public const byte FirstRegistry = 0x20;

    /// <summary>register: <c>entry</c>.</summary>
    public const byte Register = 0x20;

    /// <summary>unregister: <c>name str8</c>.</summary>
    public const byte Unregister = 0x21;

    /// <summary>process_ended: <c>process_id i64, incarnation u64</c>.</summary>
    public const byte ProcessEnded = 0x22;

    /// <summary>sync: <c>flags u8, count u16, count × entry</c>.</summary>
    public const byte Sync = 0x23;

    /// <summary>digest: <c>count u32, sum u64</c>.</summary>
    public const byte Digest = 0x24;

    /// <summary>sync_request: no body.</summary>
    public const byte SyncRequest = 0x25;

    /// <summary>The last type GlobalRegistry owns.</summary>
    public const byte LastRegistry = 0x27;

    // ---- §5.5 monitors and links: RemoteMonitor owns 0x28-0x2B, RemoteLink 0x2C-0x2F (0x2F with link_ack only) --------

    /// <summary>The first type RemoteMonitor owns.</summary>
    public const byte FirstMonitor = 0x28;

    /// <summary>monitor: <c>monitor_id i64, watcher i64, target i64</c>.</summary>
    public const byte Monitor = 0x28;

    /// <summary>monitor_ack: <c>monitor_id i64, status u8</c>.</summary>
    public const byte MonitorAck = 0x29;

    /// <summary>demonitor: <c>monitor_id i64</c>.</summary>
    public const byte Demonitor = 0x2A;

    /// <summary>down: <c>monitor_id i64, reason</c>.</summary>
    public const byte Down = 0x2B;

    /// <summary>The last type RemoteMonitor owns.</summary>
    public const byte LastMonitor = 0x2B;

    /// <summary>The first type RemoteLink owns.</summary>
    public const byte FirstLink = 0x2C;

    /// <summary>link: <c>from i64, to i64</c>.</summary>
    public const byte Link = 0x2C;

    /// <summary>unlink: <c>from i64, to i64</c>.</summary>
    public const byte Unlink = 0x2D;

    /// <summary>exit: <c>from i64, to i64, link u8, reason</c>.</summary>
    public const byte Exit = 0x2E;

    /// <summary>link_ack: <c>from i64, to i64, status u8</c>; only on a connection that uses the <c>link_ack</c> capability
    /// (protocol.md §4.6), malformed on any other.</summary>
    public const byte LinkAck = 0x2F;

    /// <summary>The last type RemoteLink owns.</summary>
    public const byte LastLink = 0x2F;

    // ---- §5.6 distributed supervision and the cluster observer: ClusterObserver, Reachability (0x34-0x37 reserved) ----

    /// <summary>The first type ClusterObserver owns.</summary>
    public const byte FirstObserver = 0x30;

    /// <summary>snapshot_request: <c>request_id u64</c>.</summary>
    public const byte SnapshotRequest = 0x30;

    /// <summary>snapshot_reply: <c>request_id u64, stats value</c>.</summary>
    public const byte SnapshotReply = 0x31;

    /// <summary>The last type ClusterObserver owns.</summary>
    public const byte LastObserver = 0x31;

    /// <summary>The first type Reachability owns.</summary>
    public const byte FirstReach = 0x32;

    /// <summary>reach_request: <c>request_id u64, node str8</c>; only on a connection that uses the <c>reach</c>
    /// capability (protocol.md §4.6).</summary>
    public const byte ReachRequest = 0x32;

    /// <summary>reach_reply: <c>request_id u64, status u8</c>; only on a connection that uses the <c>reach</c> capability.</summary>
    public const byte ReachReply = 0x33;

    /// <summary>The last type Reachability owns (0x34-0x37 are reserved).</summary>
    public const byte LastReach = 0x37;
}
