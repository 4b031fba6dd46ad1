using System.Security.Cryptography.X509Certificates;

namespace Noex.Lite.Hosting;

/// <summary>
/// A node's configuration as configuration keys: the section <c>Noex</c> of <c>appsettings.json</c>, or environment
/// variables such as <c>Noex__Port</c> (<c>NOEX__PORT</c>: keys ignore case, and <c>__</c> stands for <c>:</c>).
/// Every property mirrors one of <see cref="NodeOptions"/>; one left unset (null) keeps the default documented there.
/// </summary>
/// <remarks>
/// <para>
/// A plain settings type on purpose: <see cref="NodeOptions"/> holds objects (TLS options, a seed provider, a clock) that
/// no configuration source can express, so the AOT configuration binder cannot bind it. These settings are converted to
/// <see cref="NodeOptions"/> when the host starts, after a validation whose every error names the configuration key
/// (<c>Noex:Port must be between 0 and 65535 (was 70000)</c>). What configuration cannot say (a custom
/// <see cref="ISeedProvider"/>, a certificate validation callback) is set in code with
/// <c>ConfigureNoexNodeOptions</c>.
/// </para>
/// <para>Durations are <see cref="TimeSpan"/> text: <c>"00:00:01"</c> is a second, <c>"00:00:00.250"</c> 250 ms.</para>
/// </remarks>
public sealed class NoexNodeSettings
{
    /// <summary>The default configuration section, <c>Noex</c>.</summary>
    public const string SectionName = "Noex";

    /// <summary>The node's name (<see cref="NodeOptions.Name"/>). Required.</summary>
    public string? Name { get; set; }

    /// <summary>The address the listener binds to (<see cref="NodeOptions.Host"/>). Default <c>0.0.0.0</c>.</summary>
    public string? Host { get; set; }

    /// <summary>The TCP port to listen on, 0 for any free one (<see cref="NodeOptions.Port"/>). Default 4369.</summary>
    public int? Port { get; set; }

    /// <summary>The host other nodes dial (<see cref="NodeOptions.AdvertisedHost"/>), e.g. the pod IP.</summary>
    public string? AdvertisedHost { get; set; }

    /// <summary>The port other nodes dial, behind a port forward (<see cref="NodeOptions.AdvertisedPort"/>).</summary>
    public int? AdvertisedPort { get; set; }

    /// <summary>
    /// The secret every node of the cluster shares (<see cref="NodeOptions.ClusterSecret"/>). Keep it out of
    /// <c>appsettings.json</c> in production: an environment variable (<c>Noex__ClusterSecret</c>) from a secret store.
    /// </summary>
    public string? ClusterSecret { get; set; }

    /// <summary>
    /// Nodes to dial at start, each <c>name@host:port</c> (<see cref="NodeOptions.Seeds"/>): a JSON array, or
    /// <c>Noex__Seeds__0</c>, <c>Noex__Seeds__1</c>, ... as environment variables.
    /// </summary>
    public string[] Seeds { get; set; } = [];

    /// <summary>Seeds from DNS (a <see cref="DnsSeedProvider"/>), for a Kubernetes headless service. Off while
    /// <see cref="NoexDnsSeedSettings.HostName"/> is unset.</summary>
    public NoexDnsSeedSettings DnsSeeds { get; set; } = new();

    /// <summary>How often the seeds are asked again (<see cref="NodeOptions.SeedPollInterval"/>). Default 5 s.</summary>
    public TimeSpan? SeedPollInterval { get; set; }

    /// <summary>How long an unreachable member stays one (<see cref="NodeOptions.RemoveUnreachableAfter"/>). Default 5 minutes.</summary>
    public TimeSpan? RemoveUnreachableAfter { get; set; }

    /// <summary>The most members the node keeps (<see cref="NodeOptions.MaxMembers"/>). Default 1000.</summary>
    public int? MaxMembers { get; set; }

    /// <summary>The most dials in progress at once (<see cref="NodeOptions.MaxDialsInFlight"/>). Default 8.</summary>
    public int? MaxDialsInFlight { get; set; }

    /// <summary>The most dials started per second (<see cref="NodeOptions.MaxDialsPerSecond"/>). Default 50.</summary>
    public int? MaxDialsPerSecond { get; set; }

    /// <summary>The static quorum (<see cref="NodeOptions.QuorumSize"/>). Default none: a strict majority.</summary>
    public int? QuorumSize { get; set; }

    /// <summary>How often an idle link gets a heartbeat (<see cref="NodeOptions.HeartbeatInterval"/>). Default 5 s.</summary>
    public TimeSpan? HeartbeatInterval { get; set; }

    /// <summary>Heartbeat intervals of silence that make a peer down (<see cref="NodeOptions.HeartbeatMissThreshold"/>). Default 3.</summary>
    public int? HeartbeatMissThreshold { get; set; }

    /// <summary>The longest a TCP connect may take (<see cref="NodeOptions.ConnectTimeout"/>). Default 10 s.</summary>
    public TimeSpan? ConnectTimeout { get; set; }

    /// <summary>The longest a handshake may take (<see cref="NodeOptions.HandshakeTimeout"/>). Default 5 s.</summary>
    public TimeSpan? HandshakeTimeout { get; set; }

    /// <summary>The first reconnect delay (<see cref="NodeOptions.ReconnectBaseDelay"/>). Default 1 s.</summary>
    public TimeSpan? ReconnectBaseDelay { get; set; }

    /// <summary>The cap of the reconnect delay (<see cref="NodeOptions.ReconnectMaxDelay"/>). Default 30 s.</summary>
    public TimeSpan? ReconnectMaxDelay { get; set; }

    /// <summary>The spread of the reconnect delay's random factor, 0 to 1 (<see cref="NodeOptions.ReconnectJitter"/>). Default 0.5.</summary>
    public double? ReconnectJitter { get; set; }

    /// <summary>The largest frame, in bytes (<see cref="NodeOptions.MaxFrameLength"/>). Default 16 MiB.</summary>
    public int? MaxFrameLength { get; set; }

    /// <summary>The most bytes waiting for one peer (<see cref="NodeOptions.MaxOutboundQueueBytes"/>). Default 64 MiB.</summary>
    public long? MaxOutboundQueueBytes { get; set; }

    /// <summary>The most messages waiting for one peer (<see cref="NodeOptions.MaxOutboundQueueMessages"/>). Default 1,000,000.</summary>
    public int? MaxOutboundQueueMessages { get; set; }

    /// <summary>What a sender meets when a peer's queue is full, <c>Wait</c> or <c>Reject</c>
    /// (<see cref="NodeOptions.OverloadPolicy"/>). Default <c>Wait</c>.</summary>
    public OverloadPolicy? OverloadPolicy { get; set; }

    /// <summary>Every process's mailbox bound unless it sets its own (<see cref="NodeOptions.MailboxCapacity"/>). Default 0,
    /// unbounded.</summary>
    public int? MailboxCapacity { get; set; }

    /// <summary>What a full bounded mailbox does with one more message, <c>Reject</c> or <c>DropNewest</c>
    /// (<see cref="NodeOptions.MailboxOverflow"/>). Default <c>Reject</c>.</summary>
    public MailboxOverflow? MailboxOverflow { get; set; }

    /// <summary>The most connections in their handshake at once (<see cref="NodeOptions.MaxPendingHandshakes"/>). Default 64.</summary>
    public int? MaxPendingHandshakes { get; set; }

    /// <summary>Runs reads' continuations on the read thread (<see cref="NodeOptions.UnsafePreferInlineScheduling"/>,
    /// read its remarks first). Default false.</summary>
    public bool? UnsafePreferInlineScheduling { get; set; }

    /// <summary>Whether the loser of a global name conflict is stopped (<see cref="NodeOptions.StopGlobalNameLoser"/>). Default false.</summary>
    public bool? StopGlobalNameLoser { get; set; }

    /// <summary>TLS between nodes, from a certificate file or store. Off while no certificate is named.</summary>
    public NoexTlsSettings Tls { get; set; } = new();

    /// <summary>
    /// How many other nodes the node must be connected to for its <em>ready</em> health check. Default (unset): one of
    /// its <see cref="Seeds"/> when it has any (its own id does not count), else one peer when its seeds come from
    /// <see cref="DnsSeeds"/>, else none (the first node of a cluster is ready alone). 0 makes it ready as soon as it runs.
    /// </summary>
    public int? ReadyMinPeers { get; set; }

    /// <summary>Whether the <em>ready</em> health check also needs a quorum (<see cref="NodeHealth.HasQuorum"/>), for a
    /// node whose distributed supervisors fail over by the majority. Default false.</summary>
    public bool ReadyRequiresQuorum { get; set; }
}

/// <summary>
/// Seeds from DNS (<see cref="DnsSeedProvider"/>): every address of <see cref="HostName"/> is a node
/// <c>NodeName@address:Port</c>. Every node of such a cluster names itself by the same rule: its
/// <see cref="NoexNodeSettings.Name"/> is <see cref="NodeName"/> and its <see cref="NoexNodeSettings.AdvertisedHost"/>
/// its own address (the pod IP).
/// </summary>
public sealed class NoexDnsSeedSettings
{
    /// <summary>The name to resolve, e.g. <c>noex.my-namespace.svc.cluster.local</c>. Unset: no DNS seeds.</summary>
    public string? HostName { get; set; }

    /// <summary>The node name every node of the cluster uses. Default: <see cref="NoexNodeSettings.Name"/>.</summary>
    public string? NodeName { get; set; }

    /// <summary>The port every node of the cluster listens on. Default: <see cref="NoexNodeSettings.Port"/> (which must
    /// then not be 0).</summary>
    public int? Port { get; set; }
}

/// <summary>
/// TLS between nodes (<see cref="NodeOptions.TlsServerOptions"/> and <see cref="NodeOptions.TlsClientOptions"/>): the
/// node's certificate from a file (<see cref="CertificatePath"/>) or from a certificate store (<see cref="Thumbprint"/> or
/// <see cref="Subject"/>), used both to accept and to dial, so every connection is mutually authenticated.
/// </summary>
/// <remarks>
/// A peer's certificate is accepted when it chains to <see cref="TrustedCaPath"/> (when set), or else when its
/// thumbprint is one of <see cref="AllowedThumbprints"/> (when set), or else when the system trusts it. Its name is
/// checked against <see cref="TargetHost"/> only when that is set: node ids are usually addresses, and the cluster
/// secret's handshake, which still runs inside TLS, binds the peer's identity.
/// </remarks>
public sealed class NoexTlsSettings
{
    /// <summary>A certificate file: PKCS#12 (<c>.pfx</c>, <c>.p12</c>) or PEM (<c>.pem</c>, <c>.crt</c>), with its
    /// private key inside or in <see cref="CertificateKeyPath"/>.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>The password of a PKCS#12 file, or of an encrypted PEM key.</summary>
    public string? CertificatePassword { get; set; }

    /// <summary>The PEM private key of a PEM <see cref="CertificatePath"/>, when it is in a file of its own.</summary>
    public string? CertificateKeyPath { get; set; }

    /// <summary>The store to find the certificate in by <see cref="Thumbprint"/> or <see cref="Subject"/>. Default <c>My</c>.</summary>
    public string? StoreName { get; set; }

    /// <summary>The store's location, <c>CurrentUser</c> or <c>LocalMachine</c>. Default <c>CurrentUser</c>.</summary>
    public StoreLocation? StoreLocation { get; set; }

    /// <summary>The store certificate's thumbprint (SHA-1, hex).</summary>
    public string? Thumbprint { get; set; }

    /// <summary>The store certificate's subject name (a valid certificate whose subject contains it).</summary>
    public string? Subject { get; set; }

    /// <summary>The name a peer's certificate must carry, also sent as SNI. Default none: the name is not checked.</summary>
    public string? TargetHost { get; set; }

    /// <summary>A PEM file of the cluster's CA certificates: a peer's certificate must chain to one of them (and only
    /// to them: the system's roots are not used).</summary>
    public string? TrustedCaPath { get; set; }

    /// <summary>The thumbprints (SHA-1, hex) of the certificates peers may present, when there is no CA (for example,
    /// one self-signed certificate shared by every node).</summary>
    public string[] AllowedThumbprints { get; set; } = [];

    /// <summary>Whether TLS is on: a certificate is named, by file or in a store.</summary>
    public bool Enabled => CertificatePath is not null || Thumbprint is not null || Subject is not null;
}
