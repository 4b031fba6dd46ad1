using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;

namespace Noex.Lite.Hosting;

/// <summary>
/// Turns validated <see cref="NoexNodeSettings"/> into <see cref="NodeOptions"/>: unset values keep
/// <see cref="NodeOptions.Default"/>'s, DNS seeds become a <see cref="DnsSeedProvider"/>, and TLS settings load the
/// certificate and build both sides' authentication options.
/// </summary>
internal static class NoexNodeOptionsBuilder
{
    /// <summary>The options the settings describe.</summary>
    /// <exception cref="OptionsValidationException">The certificate cannot be loaded; the message names the key.</exception>
    public static NodeOptions Build(NoexNodeSettings s, NoexSettingsSection section)
    {
        var d = NodeOptions.Default;
        var options = new NodeOptions
        {
            Name = s.Name ?? "",
            Host = s.Host ?? d.Host,
            Port = s.Port ?? d.Port,
            AdvertisedHost = s.AdvertisedHost,
            AdvertisedPort = s.AdvertisedPort,
            ClusterSecret = s.ClusterSecret,
            Seeds = [.. s.Seeds],
            SeedPollInterval = s.SeedPollInterval ?? d.SeedPollInterval,
            RemoveUnreachableAfter = s.RemoveUnreachableAfter ?? d.RemoveUnreachableAfter,
            MaxMembers = s.MaxMembers ?? d.MaxMembers,
            MaxDialsInFlight = s.MaxDialsInFlight ?? d.MaxDialsInFlight,
            MaxDialsPerSecond = s.MaxDialsPerSecond ?? d.MaxDialsPerSecond,
            QuorumSize = s.QuorumSize,
            HeartbeatInterval = s.HeartbeatInterval ?? d.HeartbeatInterval,
            HeartbeatMissThreshold = s.HeartbeatMissThreshold ?? d.HeartbeatMissThreshold,
            ConnectTimeout = s.ConnectTimeout ?? d.ConnectTimeout,
            HandshakeTimeout = s.HandshakeTimeout ?? d.HandshakeTimeout,
            ReconnectBaseDelay = s.ReconnectBaseDelay ?? d.ReconnectBaseDelay,
            ReconnectMaxDelay = s.ReconnectMaxDelay ?? d.ReconnectMaxDelay,
            ReconnectJitter = s.ReconnectJitter ?? d.ReconnectJitter,
            MaxFrameLength = s.MaxFrameLength ?? d.MaxFrameLength,
            MaxOutboundQueueBytes = s.MaxOutboundQueueBytes ?? d.MaxOutboundQueueBytes,
            MaxOutboundQueueMessages = s.MaxOutboundQueueMessages ?? d.MaxOutboundQueueMessages,
            OverloadPolicy = s.OverloadPolicy ?? d.OverloadPolicy,
            MailboxCapacity = s.MailboxCapacity ?? d.MailboxCapacity,
            MailboxOverflow = s.MailboxOverflow ?? d.MailboxOverflow,
            MaxPendingHandshakes = s.MaxPendingHandshakes ?? d.MaxPendingHandshakes,
            UnsafePreferInlineScheduling = s.UnsafePreferInlineScheduling ?? d.UnsafePreferInlineScheduling,
            StopGlobalNameLoser = s.StopGlobalNameLoser ?? d.StopGlobalNameLoser,
        };
        if (s.DnsSeeds.HostName is { } dnsHost)
        {
            options = options with
            {
                SeedProvider = new DnsSeedProvider(dnsHost, s.DnsSeeds.NodeName ?? options.Name, s.DnsSeeds.Port ?? options.Port),
            };
        }
        if (s.Tls.Enabled)
        {
            var (server, client) = BuildTls(s.Tls, new NoexSettingsSection(section.Key(nameof(s.Tls))));
            options = options with { TlsServerOptions = server, TlsClientOptions = client };
        }
        return options;
    }

    /// <summary>Both sides of TLS with the node's certificate, each checking the peer's by the settings' rule.</summary>
    internal static (SslServerAuthenticationOptions Server, SslClientAuthenticationOptions Client) BuildTls(NoexTlsSettings tls, NoexSettingsSection section)
    {
        var certificate = LoadCertificate(tls, section);
        var trusted = tls.TrustedCaPath is { } caPath ? LoadCa(caPath, section.Key(nameof(tls.TrustedCaPath))) : null;
        var pins = tls.AllowedThumbprints.Select(t => t.Replace(":", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal))
            .ToHashSet(StringComparer.OrdinalIgnoreCase);
        var checkName = tls.TargetHost is not null;
        RemoteCertificateValidationCallback validate = (_, peer, chain, errors) =>
            Accept(peer as X509Certificate2 ?? (peer is null ? null : new X509Certificate2(peer)), errors, trusted, pins, checkName);
        // The certificate with its chain, sent whole by both sides; built once, as the server's and the client's.
        var context = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
        var server = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = context,
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = validate,
            EnabledSslProtocols = SslProtocols.None, // the system's choice: TLS 1.2 and 1.3 today
        };
        var client = new SslClientAuthenticationOptions
        {
            TargetHost = tls.TargetHost ?? "",
            ClientCertificateContext = context,
            RemoteCertificateValidationCallback = validate,
            EnabledSslProtocols = SslProtocols.None,
        };
        return (server, client);
    }

    /// <summary>
    /// Whether a peer's certificate passes: it chains to the cluster's CA (when one is configured), else its thumbprint
    /// is pinned (when some are), else the system trusts it; its name counts only when a target host was configured.
    /// </summary>
    internal static bool Accept(X509Certificate2? peer, SslPolicyErrors errors, X509Certificate2Collection? trusted, HashSet<string> pins, bool checkName)
    {
        if (peer is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            return false;
        }
        if (checkName && errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            return false;
        }
        if (trusted is not null)
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(peer);
        }
        if (pins.Count > 0)
        {
            return pins.Contains(peer.Thumbprint);
        }
        return !errors.HasFlag(SslPolicyErrors.RemoteCertificateChainErrors);
    }

    /// <summary>The node's certificate, with its private key, from the file or the store the settings name.</summary>
    /// <exception cref="OptionsValidationException">It cannot be loaded; the message names the key and why.</exception>
    internal static X509Certificate2 LoadCertificate(NoexTlsSettings tls, NoexSettingsSection section)
    {
        X509Certificate2 certificate;
        if (tls.CertificatePath is { } path)
        {
            var key = section.Key(nameof(tls.CertificatePath));
            try
            {
                certificate = LoadFile(path, tls.CertificateKeyPath, tls.CertificatePassword);
            }
            catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                throw Invalid($"{key} '{path}' cannot be loaded: {e.Message}");
            }
            if (!certificate.HasPrivateKey)
            {
                certificate.Dispose();
                throw Invalid($"{key} '{path}' has no private key (put it in the file, or name it in {section.Key(nameof(tls.CertificateKeyPath))})");
            }
            return certificate;
        }
        var location = tls.StoreLocation ?? StoreLocation.CurrentUser;
        var storeName = tls.StoreName ?? "My";
        using var store = new X509Store(storeName, location);
        try
        {
            store.Open(OpenFlags.ReadOnly | OpenFlags.OpenExistingOnly);
        }
        catch (CryptographicException e)
        {
            throw Invalid($"{section.Key(nameof(tls.StoreName))}: the store '{storeName}' in {location} cannot be opened: {e.Message}");
        }
        var (findBy, value, property) = tls.Thumbprint is { } thumbprint
            ? (X509FindType.FindByThumbprint, thumbprint.Replace(":", "", StringComparison.Ordinal).Replace(" ", "", StringComparison.Ordinal), nameof(tls.Thumbprint))
            : (X509FindType.FindBySubjectName, tls.Subject!, nameof(tls.Subject));
        var found = store.Certificates.Find(findBy, value, validOnly: false);
        try
        {
            var now = DateTime.Now;
            // The newest that is valid now and has its key: a renewed certificate sits beside the one it replaces.
            var best = found.Where(c => c.HasPrivateKey && c.NotBefore <= now && now <= c.NotAfter).MaxBy(c => c.NotAfter);
            if (best is null)
            {
                throw Invalid($"{section.Key(property)}: no certificate with a private key, valid now, matches '{value}' in the store '{storeName}' in {location} ({found.Count} match without that)");
            }
            certificate = new X509Certificate2(best);
            return certificate;
        }
        finally
        {
            foreach (var c in found)
            {
                c.Dispose();
            }
        }
    }

    private static X509Certificate2 LoadFile(string path, string? keyPath, string? password)
    {
        if (Path.GetExtension(path).ToLowerInvariant() is ".pfx" or ".p12")
        {
            return X509CertificateLoader.LoadPkcs12FromFile(path, password, X509KeyStorageFlags.EphemeralKeySet);
        }
        if (keyPath is null && !File.ReadAllText(path).Contains("PRIVATE KEY-----", StringComparison.Ordinal))
        {
            // A certificate alone: loaded, so that the caller says what is missing rather than what failed to parse.
            return X509CertificateLoader.LoadCertificateFromFile(path);
        }
        var pem = password is null
            ? X509Certificate2.CreateFromPemFile(path, keyPath)
            : X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath);
        // An ephemeral PEM key is refused by SslStream on Windows; a PKCS#12 round trip makes it a usable one everywhere.
        if (OperatingSystem.IsWindows())
        {
            using (pem)
            {
                return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            }
        }
        return pem;
    }

    private static X509Certificate2Collection LoadCa(string path, string key)
    {
        var collection = new X509Certificate2Collection();
        try
        {
            collection.ImportFromPemFile(path);
        }
        catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw Invalid($"{key} '{path}' cannot be loaded: {e.Message}");
        }
        if (collection.Count == 0)
        {
            throw Invalid($"{key} '{path}' holds no PEM certificate");
        }
        return collection;
    }

    private static OptionsValidationException Invalid(string message) =>
        new(Options.DefaultName, typeof(NoexNodeSettings), [message]);
}
