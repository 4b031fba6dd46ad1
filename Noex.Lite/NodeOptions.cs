using System.Net.Security;

namespace Noex.Lite;

/// <summary>
/// What a remote call or <see cref="ProcessRuntime.CastAsync"/> meets when the outbound queue to the target's node is
/// full (<see cref="NodeOptions.MaxOutboundQueueBytes"/>, <see cref="NodeOptions.MaxOutboundQueueMessages"/>).
/// </summary>
/// <remarks>
/// <see cref="ProcessRuntime.Cast(ProcessRef, Value)"/> never waits, under either policy: it returns false, and the
/// message is counted and raised as a dead letter (<see cref="Node.DeadLetter"/>). Spawns and remote stops never wait
/// either: they fail with <see cref="NodeOverloadedException"/>. Replies to other nodes' calls are queued past the
/// bound: the calls those nodes have in flight bound them already.
/// </remarks>
public enum OverloadPolicy
{
    /// <summary>A call waits (asynchronously) until the queue has room, within its timeout and cancellation;
    /// <c>CastAsync</c> waits too, within its cancellation.</summary>
    Wait,
    /// <summary>A call fails at once with <see cref="NodeOverloadedException"/>; so does <c>CastAsync</c>, whose
    /// message is also counted and raised as a dead letter.</summary>
    Reject,
}

/// <summary>
/// The configuration of a node: who it is and whom it joins (name, host, port, seeds, secret), how it detects failures
/// (heartbeats), and what a production service needs (advertised host, timeouts, reconnect backoff, limits, TLS).
/// Validated once, when the node starts; an invalid option throws <see cref="InvalidClusterConfigException"/> naming
/// it.
/// </summary>
public sealed record NodeOptions
{
    /// <summary>The defaults, with <see cref="Name"/> still to be set.</summary>
    public static NodeOptions Default { get; } = new();

    /// <summary>The node's name: a letter, then letters, digits, <c>_</c> or <c>-</c>; at most 64 characters. Required.</summary>
    public string Name { get; init; } = "";

    /// <summary>
    /// The address the listener binds to: an IP address, or a host name (<c>localhost</c>, a DNS name) resolved once at
    /// start, its IPv4 address preferred. Default <c>0.0.0.0</c> (every IPv4 interface); <c>::</c> listens on every
    /// interface over both IPv6 and IPv4.
    /// </summary>
    public string Host { get; init; } = "0.0.0.0";

    /// <summary>
    /// The host other nodes dial, which becomes part of the node id. Default: <see cref="Host"/>, or <c>127.0.0.1</c>
    /// when that is a wildcard address, which no peer could dial.
    /// </summary>
    public string? AdvertisedHost { get; init; }

    /// <summary>The TCP port to listen on. Default 4369; 0 picks a free port (the node id then carries the real one).</summary>
    public int Port { get; init; } = 4369;

    /// <summary>
    /// The port other nodes dial, which becomes part of the node id, when it differs from <see cref="Port"/> (behind a
    /// port forward or a proxy). Default: the port the listener got.
    /// </summary>
    public int? AdvertisedPort { get; init; }

    /// <summary>
    /// Nodes to dial at start, as <c>name@host:port</c> (the host may be a DNS name). They are retried with backoff until
    /// they answer, or until <see cref="RemoveUnreachableAfter"/> passes; they are named again at every
    /// <see cref="SeedPollInterval"/>.
    /// </summary>
    public IReadOnlyList<string> Seeds { get; init; } = [];

    /// <summary>
    /// Where the node finds more seeds, asked at start and every <see cref="SeedPollInterval"/>, for example a
    /// <see cref="DnsSeedProvider"/> over a Kubernetes headless service. Default none: only <see cref="Seeds"/>.
    /// </summary>
    public ISeedProvider? SeedProvider { get; init; }

    /// <summary>How often the seeds (<see cref="Seeds"/> and <see cref="SeedProvider"/>) are asked again. Default 5 s.</summary>
    public TimeSpan SeedPollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a node lost without a goodbye (or learned of and never reached) stays a member: redialled, and gossiped if
    /// it was ever up. After it, it is removed (<see cref="Node.NodeRemoved"/>): not redialled, not gossiped, and its next
    /// connection is a fresh join. Default 5 minutes; at least 100 ms.
    /// </summary>
    public TimeSpan RemoveUnreachableAfter { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// The most members a node keeps. Ids learned beyond it (from seeds or gossip) are refused and counted; a node that
    /// connects is admitted past it. Default 1000.
    /// </summary>
    public int MaxMembers { get; init; } = 1000;

    /// <summary>
    /// The most dials (connect and handshake) in progress at once. Default 8. It bounds redials of members that have been
    /// up and dials of ids only learned of (seeds, gossip) separately, so that the second cannot delay the first.
    /// </summary>
    public int MaxDialsInFlight { get; init; } = 8;

    /// <summary>The most dials started per second, across all peers (each of the two kinds of <see cref="MaxDialsInFlight"/>). Default 50.</summary>
    public int MaxDialsPerSecond { get; init; } = 50;

    /// <summary>
    /// The number of nodes (itself included) a node must see connected to act as the majority side, for
    /// <see cref="PartitionPolicy.Majority"/>; Akka's static quorum. Default none: a strict majority of the nodes that
    /// have been up and not removed by a majority (DESIGN.md, "Quorum"). Set it, to at least half the cluster plus one,
    /// when the cluster has a known size.
    /// </summary>
    public int? QuorumSize { get; init; }

    /// <summary>
    /// The secret every node of the cluster shares; the handshake proves it without sending it. Default none: the
    /// node then joins only nodes that have none either. Use at least 16 random bytes' worth in production.
    /// </summary>
    public string? ClusterSecret { get; init; }

    /// <summary>How often an idle link gets a heartbeat. Default 5000 ms; at least 10 ms.</summary>
    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromMilliseconds(5000);

    /// <summary>How many heartbeat intervals without any frame make a peer down (heartbeat_timeout). Default 3.</summary>
    public int HeartbeatMissThreshold { get; init; } = 3;

    /// <summary>The longest a TCP connect may take. Default 10 s.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest the whole handshake may take, on either side. Default 5 s.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The first reconnect delay; each failed attempt doubles it. Default 1000 ms.</summary>
    public TimeSpan ReconnectBaseDelay { get; init; } = TimeSpan.FromMilliseconds(1000);

    /// <summary>The cap of the reconnect delay before jitter. Default 30 s.</summary>
    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// The spread of the random factor applied to each reconnect delay: the delay is multiplied by a value drawn from
    /// [1 − jitter, 1 + jitter], so that nodes that lost a peer together do not redial it in step. Default 0.5; 0 to 1.
    /// </summary>
    public double ReconnectJitter { get; init; } = 0.5;

    /// <summary>The largest frame accepted or sent, in bytes (protocol.md §6). Default 16 MiB; at least 64 KiB.</summary>
    public int MaxFrameLength { get; init; } = 16 * 1024 * 1024;

    /// <summary>The most bytes that may wait to be sent to one peer. Default 64 MiB.</summary>
    public long MaxOutboundQueueBytes { get; init; } = 64L * 1024 * 1024;

    /// <summary>The most messages that may wait to be sent to one peer. Default 1,000,000.</summary>
    public int MaxOutboundQueueMessages { get; init; } = 1_000_000;

    /// <summary>What a sender meets when a peer's outbound queue is full. Default <see cref="OverloadPolicy.Wait"/>.</summary>
    public OverloadPolicy OverloadPolicy { get; init; } = OverloadPolicy.Wait;

    /// <summary>
    /// The mailbox bound of every process on this node started without one of its own: the most user messages one
    /// mailbox holds; 0 for unbounded. Default 0. What a full mailbox does, to local and remote senders:
    /// <see cref="ProcessRuntimeOptions.MailboxCapacity"/>.
    /// </summary>
    public int MailboxCapacity { get; init; }

    /// <summary>What a full mailbox bounded by <see cref="MailboxCapacity"/> does with one more message. Default
    /// <see cref="MailboxOverflow.Reject"/>.</summary>
    public MailboxOverflow MailboxOverflow { get; init; }

    /// <summary>
    /// Runs what a connection's read sets off on its read thread with no way out: the continuations of the calls it
    /// answers during the read, one turn of each process it wakes after it, and the send of what they queue. Default off.
    /// </summary>
    /// <remarks>
    /// By default a read's work also runs on its read thread after the read, but work that takes long is shared with the
    /// thread pool, and a read thread held for 20 ms by one continuation or handler hands the connection's reading to a
    /// new thread, so blocking code is slow, never a deadlock. This option drops that way out for a little more speed
    /// (pipelined calls and casts 1.05–1.2x faster on a small machine; figures: Noex.Lite.Bench/README.md). The price
    /// is Kestrel's <c>UnsafePreferInlineScheduling</c> price: code after an <c>await</c> of a remote call, and every
    /// handler of a process woken by a remote message, may run on the read thread, so any of it that blocks (a
    /// synchronous wait, <c>.Result</c>, a long computation) holds up every message behind it on that connection, and one
    /// that waits synchronously for a reply on the same connection deadlocks it. Turn it on only when such code never blocks. It
    /// cannot be combined with TLS (<see cref="TlsServerOptions"/>): only a connection's write loop may write to its
    /// TLS stream, so the node refuses to start with both.
    /// </remarks>
    public bool UnsafePreferInlineScheduling { get; init; }

    /// <summary>
    /// The most user messages a connection leaves queued in one local process before it stops reading, until that process
    /// is down to half of them; 0 for no limit. Default 8,192.
    /// </summary>
    /// <remarks>
    /// Without a limit a peer that sends faster than a process handles grows the process's mailbox without bound (and a
    /// backlog of messages that outlive the collector's youngest generation costs far more to collect). With it the
    /// backlog stops at about the limit plus what one read brings (up to a 64 KiB frame of messages), and the peer's
    /// sends wait in its outbound queue and then in its senders (<see cref="MaxOutboundQueueBytes"/>,
    /// <see cref="OverloadPolicy"/>): backpressure through the socket. The price is head-of-line blocking: while the
    /// connection waits, the messages it carries for other processes wait too. A process that awaits (a handler waiting
    /// for a reply, perhaps one on this very connection) holds nothing back; one that takes nothing for 50 ms (a handler
    /// that blocks) holds back a read at most that long; and no pause lasts more than a second, so a slow process cannot
    /// make the connection look silent. <c>noex.transport.read_ahead_pauses</c> and
    /// <c>noex.transport.read_ahead_pause_time</c> count the pauses.
    /// </remarks>
    public int ReadAheadLimit { get; init; } = 8192;

    /// <summary>The most connections that may be in their handshake at once; more are refused. Default 64.</summary>
    public int MaxPendingHandshakes { get; init; } = 64;

    /// <summary>
    /// Turns on TLS: the listener authenticates with these options and the dialer with <see cref="TlsClientOptions"/>;
    /// both must be set together. The handshake still runs inside TLS, to bind node identity. Default off.
    /// </summary>
    public SslServerAuthenticationOptions? TlsServerOptions { get; init; }

    /// <summary>The client side of TLS; see <see cref="TlsServerOptions"/>.</summary>
    public SslClientAuthenticationOptions? TlsClientOptions { get; init; }

    /// <summary>
    /// Whether a process that loses a global name to a simultaneous registration elsewhere is stopped (with an error
    /// reason naming the winner) by the node that registered it. Default false: the loser's node raises
    /// <see cref="GlobalRegistry.ConflictResolved"/> and the process keeps running without the name.
    /// </summary>
    public bool StopGlobalNameLoser { get; init; }

    /// <summary>The clock for heartbeats, timeouts and backoff. Default <see cref="TimeProvider.System"/>; tests inject one.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>The protocol versions and capabilities the node offers in its handshakes (protocol.md §4.6). Tests set
    /// fewer to stand for an older build.</summary>
    internal ProtocolOffer Protocol { get; init; } = ProtocolOffer.Current;

    /// <summary>The host other nodes dial, after defaults.</summary>
    public string EffectiveAdvertisedHost =>
        AdvertisedHost ?? (Host is "0.0.0.0" or "::" or "[::]" ? "127.0.0.1" : Host);

    /// <summary>Checks every option; the node does it as it starts.</summary>
    /// <exception cref="InvalidClusterConfigException">An option is invalid; the exception names it.</exception>
    internal void Validate()
    {
        if (string.IsNullOrEmpty(Name))
        {
            throw new InvalidClusterConfigException(nameof(Name), "is required");
        }
        Check(nameof(Port), Port is >= 0 and <= 65535, $"{Port} is outside 0–65535 (0 picks a free port)");
        Check(nameof(AdvertisedPort), AdvertisedPort is null or (>= 1 and <= 65535), $"{AdvertisedPort} is outside 1–65535");
        try
        {
            // The listener's host: an IP address or a host name (resolved when the listener binds).
            NodeId.Create(Name, Host.Trim('[', ']'), 1);
        }
        catch (InvalidNodeIdException e) when (!e.Reason.StartsWith("name", StringComparison.Ordinal))
        {
            throw new InvalidClusterConfigException(nameof(Host), e.Reason);
        }
        catch (InvalidNodeIdException)
        {
            // The name's rule is reported below.
        }
        try
        {
            // The id other nodes will see; a placeholder port stands in for 0.
            NodeId.Create(Name, EffectiveAdvertisedHost, Port == 0 ? 1 : Port);
        }
        catch (InvalidNodeIdException e)
        {
            var option = e.Reason.StartsWith("name", StringComparison.Ordinal) ? nameof(Name) : AdvertisedHost is null ? nameof(Host) : nameof(AdvertisedHost);
            throw new InvalidClusterConfigException(option, e.Reason);
        }
        Check(nameof(HeartbeatInterval), HeartbeatInterval >= TimeSpan.FromMilliseconds(10), $"{HeartbeatInterval.TotalMilliseconds} ms is below 10 ms");
        Check(nameof(HeartbeatMissThreshold), HeartbeatMissThreshold >= 1, $"{HeartbeatMissThreshold} is below 1");
        Check(nameof(ConnectTimeout), ConnectTimeout > TimeSpan.Zero, "must be positive");
        Check(nameof(HandshakeTimeout), HandshakeTimeout > TimeSpan.Zero, "must be positive");
        Check(nameof(ReconnectBaseDelay), ReconnectBaseDelay > TimeSpan.Zero, "must be positive");
        Check(nameof(ReconnectMaxDelay), ReconnectMaxDelay >= ReconnectBaseDelay, $"must be at least {nameof(ReconnectBaseDelay)}");
        Check(nameof(ReconnectJitter), ReconnectJitter is >= 0 and <= 1, $"{ReconnectJitter} is outside 0–1");
        Check(nameof(MaxFrameLength), MaxFrameLength >= 64 * 1024, $"{MaxFrameLength} is below 64 KiB");
        Check(nameof(MaxOutboundQueueBytes), MaxOutboundQueueBytes >= MaxFrameLength, $"must be at least {nameof(MaxFrameLength)} ({MaxFrameLength})");
        Check(nameof(MaxOutboundQueueMessages), MaxOutboundQueueMessages >= 1, "must be at least 1");
        Check(nameof(MaxPendingHandshakes), MaxPendingHandshakes >= 1, "must be at least 1");
        Check(nameof(ReadAheadLimit), ReadAheadLimit >= 0, "must be 0 (no limit) or more");
        Check(nameof(MailboxCapacity), MailboxCapacity >= 0, $"{MailboxCapacity} is below 0 (0 is unbounded)");
        Check(nameof(TlsClientOptions), (TlsServerOptions is null) == (TlsClientOptions is null), $"TLS needs both {nameof(TlsServerOptions)} and {nameof(TlsClientOptions)}");
        Check(nameof(UnsafePreferInlineScheduling), !UnsafePreferInlineScheduling || TlsServerOptions is null,
            $"cannot be combined with TLS ({nameof(TlsServerOptions)}): the read thread cannot write to a TLS stream, so the option would do nothing");
        Check(nameof(TimeProvider), TimeProvider is not null, "is required");
        Check(nameof(Seeds), Seeds is not null, "must not be null");
        Check(nameof(SeedPollInterval), SeedPollInterval >= TimeSpan.FromMilliseconds(10), $"{SeedPollInterval.TotalMilliseconds} ms is below 10 ms");
        Check(nameof(RemoveUnreachableAfter), RemoveUnreachableAfter >= TimeSpan.FromMilliseconds(100), $"{RemoveUnreachableAfter.TotalMilliseconds} ms is below 100 ms");
        Check(nameof(MaxMembers), MaxMembers >= 1, "must be at least 1");
        Check(nameof(MaxDialsInFlight), MaxDialsInFlight >= 1, "must be at least 1");
        Check(nameof(MaxDialsPerSecond), MaxDialsPerSecond >= 1, "must be at least 1");
        Check(nameof(QuorumSize), QuorumSize is null or >= 1, $"{QuorumSize} is below 1");
        _ = ParseSeeds();
    }

    /// <summary>The seeds as ids.</summary>
    /// <exception cref="InvalidClusterConfigException">A seed is not <c>name@host:port</c>.</exception>
    internal IReadOnlyList<NodeId> ParseSeeds()
    {
        var seeds = new List<NodeId>(Seeds.Count);
        foreach (var seed in Seeds)
        {
            if (!NodeId.TryParse(seed, out var id))
            {
                throw new InvalidClusterConfigException(nameof(Seeds), $"'{seed}' is not name@host:port");
            }
            seeds.Add(id);
        }
        return seeds;
    }

    private static void Check(string option, bool valid, string reason)
    {
        if (!valid)
        {
            throw new InvalidClusterConfigException(option, reason);
        }
    }
}

/// <summary>A node's configuration is invalid.</summary>
public sealed class InvalidClusterConfigException : NoexException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="option">The name of the invalid option.</param>
    /// <param name="reason">What is wrong with it.</param>
    public InvalidClusterConfigException(string option, string reason)
        : base($"Invalid cluster configuration: {nameof(NodeOptions)}.{option} {reason}")
    {
        Option = option;
        Reason = reason;
    }

    /// <summary>The name of the invalid option, e.g. <c>HeartbeatInterval</c>.</summary>
    public string Option { get; }

    /// <summary>What is wrong with it.</summary>
    public string Reason { get; }
}
