using System.Globalization;
using Microsoft.Extensions.Options;

namespace Noex.Lite.Hosting;

/// <summary>Where the settings were bound from, to name their keys in errors (<c>Noex</c>, or the section given).</summary>
/// <param name="Path">The section's path, e.g. <c>Noex</c>; empty for a configuration root.</param>
internal sealed record NoexSettingsSection(string Path)
{
    /// <summary>The key of <paramref name="property"/>, as configuration names it: <c>Noex:Port</c>.</summary>
    public string Key(string property) => Path.Length == 0 ? property : Path + ":" + property;
}

/// <summary>
/// Checks <see cref="NoexNodeSettings"/> when the options are first read, which <c>ValidateOnStart</c> makes the host
/// do as it starts: every failure names its configuration key, says the rule and the value it got. The rules are
/// <see cref="NodeOptions"/>' own, in configuration terms; a rule of Noex.Lite's that is not repeated here still fails
/// the start through <see cref="InvalidClusterConfigException"/>, which the node service reports by key too.
/// </summary>
internal sealed class NoexNodeSettingsValidator(NoexSettingsSection section) : IValidateOptions<NoexNodeSettings>
{
    private static readonly TimeSpan s_tenMs = TimeSpan.FromMilliseconds(10);

    public ValidateOptionsResult Validate(string? name, NoexNodeSettings options)
    {
        var failures = Check(options, section);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Every rule <paramref name="s"/> breaks, one message each.</summary>
    internal static List<string> Check(NoexNodeSettings s, NoexSettingsSection section)
    {
        var failures = new List<string>();
        var d = NodeOptions.Default;
        void Fail(string property, string message) => failures.Add($"{section.Key(property)} {message}");

        if (string.IsNullOrWhiteSpace(s.Name))
        {
            Fail(nameof(s.Name), "is required (the node's name: a letter, then letters, digits, '_' or '-')");
        }
        else if (IdProblem(s.Name, "127.0.0.1", 1) is { } nameProblem)
        {
            Fail(nameof(s.Name), $"'{s.Name}' is not a node name: {nameProblem}");
        }
        if (s.Host is not null && IdProblem("n", s.Host.Trim('[', ']'), 1) is { } hostProblem)
        {
            Fail(nameof(s.Host), $"'{s.Host}' is not a host: {hostProblem}");
        }
        if (s.AdvertisedHost is not null && IdProblem("n", s.AdvertisedHost, 1) is { } advertisedProblem)
        {
            Fail(nameof(s.AdvertisedHost), $"'{s.AdvertisedHost}' is not a host: {advertisedProblem}");
        }
        Range(nameof(s.Port), s.Port, 0, 65535);
        Range(nameof(s.AdvertisedPort), s.AdvertisedPort, 1, 65535);
        for (var i = 0; i < s.Seeds.Length; i++)
        {
            if (!NodeId.TryParse(s.Seeds[i], out _))
            {
                Fail($"{nameof(s.Seeds)}:{i}", $"'{s.Seeds[i]}' is not a node id, name@host:port");
            }
        }
        AtLeast(nameof(s.SeedPollInterval), s.SeedPollInterval, s_tenMs);
        AtLeast(nameof(s.RemoveUnreachableAfter), s.RemoveUnreachableAfter, TimeSpan.FromMilliseconds(100));
        Range(nameof(s.MaxMembers), s.MaxMembers, 1, int.MaxValue);
        Range(nameof(s.MaxDialsInFlight), s.MaxDialsInFlight, 1, int.MaxValue);
        Range(nameof(s.MaxDialsPerSecond), s.MaxDialsPerSecond, 1, int.MaxValue);
        Range(nameof(s.QuorumSize), s.QuorumSize, 1, int.MaxValue);
        AtLeast(nameof(s.HeartbeatInterval), s.HeartbeatInterval, s_tenMs);
        Range(nameof(s.HeartbeatMissThreshold), s.HeartbeatMissThreshold, 1, int.MaxValue);
        Positive(nameof(s.ConnectTimeout), s.ConnectTimeout);
        Positive(nameof(s.HandshakeTimeout), s.HandshakeTimeout);
        Positive(nameof(s.ReconnectBaseDelay), s.ReconnectBaseDelay);
        var baseDelay = s.ReconnectBaseDelay ?? d.ReconnectBaseDelay;
        if ((s.ReconnectMaxDelay ?? d.ReconnectMaxDelay) is var maxDelay && maxDelay < baseDelay)
        {
            Fail(nameof(s.ReconnectMaxDelay), $"must be at least {section.Key(nameof(s.ReconnectBaseDelay))} ({baseDelay}) (was {maxDelay})");
        }
        if (s.ReconnectJitter is { } jitter && jitter is not (>= 0 and <= 1))
        {
            Fail(nameof(s.ReconnectJitter), $"must be between 0 and 1 (was {jitter.ToString(CultureInfo.InvariantCulture)})");
        }
        Range(nameof(s.MaxFrameLength), s.MaxFrameLength, 64 * 1024, int.MaxValue);
        var frame = s.MaxFrameLength ?? d.MaxFrameLength;
        if ((s.MaxOutboundQueueBytes ?? d.MaxOutboundQueueBytes) is var queueBytes && queueBytes < frame)
        {
            Fail(nameof(s.MaxOutboundQueueBytes), $"must be at least {section.Key(nameof(s.MaxFrameLength))} ({frame}) (was {queueBytes})");
        }
        Range(nameof(s.MaxOutboundQueueMessages), s.MaxOutboundQueueMessages, 1, int.MaxValue);
        Range(nameof(s.MaxPendingHandshakes), s.MaxPendingHandshakes, 1, int.MaxValue);
        Range(nameof(s.MailboxCapacity), s.MailboxCapacity, 0, int.MaxValue);
        Range(nameof(s.ReadyMinPeers), s.ReadyMinPeers, 0, int.MaxValue);
        if (s.UnsafePreferInlineScheduling == true && s.Tls.Enabled)
        {
            Fail(nameof(s.UnsafePreferInlineScheduling), $"cannot be combined with TLS ({section.Key(nameof(s.Tls))}): only a connection's write loop may write to a TLS stream");
        }
        CheckDns(s, section, failures);
        CheckTls(s.Tls, new NoexSettingsSection(section.Key(nameof(s.Tls))), failures);
        return failures;

        void Range(string property, long? value, long min, long max)
        {
            if (value is { } v && (v < min || v > max))
            {
                Fail(property, max == int.MaxValue ? $"must be at least {min} (was {v})" : $"must be between {min} and {max} (was {v})");
            }
        }

        void AtLeast(string property, TimeSpan? value, TimeSpan min)
        {
            if (value is { } v && v < min)
            {
                Fail(property, $"must be at least {min.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)} ms (was {v})");
            }
        }

        void Positive(string property, TimeSpan? value)
        {
            if (value is { } v && v <= TimeSpan.Zero)
            {
                Fail(property, $"must be positive (was {v})");
            }
        }
    }

    private static void CheckDns(NoexNodeSettings s, NoexSettingsSection section, List<string> failures)
    {
        var dns = s.DnsSeeds;
        var dnsSection = new NoexSettingsSection(section.Key(nameof(s.DnsSeeds)));
        if (dns.HostName is null)
        {
            if (dns.NodeName is not null || dns.Port is not null)
            {
                failures.Add($"{dnsSection.Key(nameof(dns.HostName))} is required when {dnsSection.Path} is configured");
            }
            return;
        }
        if (string.IsNullOrWhiteSpace(dns.HostName))
        {
            failures.Add($"{dnsSection.Key(nameof(dns.HostName))} must not be empty");
        }
        var port = dns.Port ?? s.Port ?? NodeOptions.Default.Port;
        if (port is < 1 or > 65535)
        {
            failures.Add(dns.Port is null
                ? $"{dnsSection.Key(nameof(dns.Port))} is required when {section.Key(nameof(s.Port))} is {port} (every node of a DNS cluster listens on one known port)"
                : $"{dnsSection.Key(nameof(dns.Port))} must be between 1 and 65535 (was {port})");
        }
        if (dns.NodeName is not null && IdProblem(dns.NodeName, "127.0.0.1", 1) is { } problem)
        {
            failures.Add($"{dnsSection.Key(nameof(dns.NodeName))} '{dns.NodeName}' is not a node name: {problem}");
        }
    }

    private static void CheckTls(NoexTlsSettings tls, NoexSettingsSection section, List<string> failures)
    {
        if (!tls.Enabled)
        {
            if (tls.CertificateKeyPath is not null || tls.TrustedCaPath is not null || tls.AllowedThumbprints.Length > 0 || tls.TargetHost is not null)
            {
                failures.Add($"{section.Key(nameof(tls.CertificatePath))} (or {section.Key(nameof(tls.Thumbprint))} or {section.Key(nameof(tls.Subject))}) is required when {section.Path} is configured: TLS needs the node's certificate");
            }
            return;
        }
        var fromStore = tls.Thumbprint is not null || tls.Subject is not null;
        if (tls.CertificatePath is not null && fromStore)
        {
            failures.Add($"{section.Key(nameof(tls.CertificatePath))} and a store certificate ({section.Key(nameof(tls.Thumbprint))} or {section.Key(nameof(tls.Subject))}) are both set: name one certificate");
        }
        if (tls.Thumbprint is not null && tls.Subject is not null)
        {
            failures.Add($"{section.Key(nameof(tls.Thumbprint))} and {section.Key(nameof(tls.Subject))} are both set: name the store certificate one way");
        }
        if (tls.CertificateKeyPath is not null && tls.CertificatePath is null)
        {
            failures.Add($"{section.Key(nameof(tls.CertificateKeyPath))} needs {section.Key(nameof(tls.CertificatePath))}");
        }
        FileExists(nameof(tls.CertificatePath), tls.CertificatePath);
        FileExists(nameof(tls.CertificateKeyPath), tls.CertificateKeyPath);
        FileExists(nameof(tls.TrustedCaPath), tls.TrustedCaPath);

        void FileExists(string property, string? path)
        {
            if (path is not null && !File.Exists(path))
            {
                failures.Add($"{section.Key(property)} names no file: '{path}' (from {Environment.CurrentDirectory})");
            }
        }
    }

    /// <summary>Why a node id of these parts would be invalid, or null when it is valid.</summary>
    private static string? IdProblem(string name, string host, int port)
    {
        try
        {
            NodeId.Create(name, host, port);
            return null;
        }
        catch (InvalidNodeIdException e)
        {
            return e.Reason;
        }
    }
}
