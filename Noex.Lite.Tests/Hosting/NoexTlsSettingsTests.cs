using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Options;
using Noex.Lite.Hosting;

namespace Noex.Lite.Tests.Hosting;

/// <summary>
/// TLS settings to options: the node's certificate from a PKCS#12 or PEM file or from a store, and the rule a peer's
/// certificate is checked by (the cluster's CA, pinned thumbprints, or the system's trust; the name only when asked).
/// </summary>
[Trait("Category", Category.Unit)]
public sealed class NoexTlsSettingsTests : IDisposable
{
    private static readonly NoexSettingsSection s_tls = new("Noex:Tls");
    private readonly string _dir = Directory.CreateTempSubdirectory("noex-tls-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Build_PfxWithPassword_GivesBothSidesTheCertificateAndMutualAuthentication()
    {
        using var certificate = SelfSigned("CN=noex-node");
        var path = Path.Combine(_dir, "node.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, "pfx-password"));
        var settings = new NoexNodeSettings
        {
            Name = "a",
            Tls = new NoexTlsSettings { CertificatePath = path, CertificatePassword = "pfx-password", AllowedThumbprints = [certificate.Thumbprint] },
        };

        var options = NoexNodeOptionsBuilder.Build(settings, new NoexSettingsSection("Noex"));

        Assert.NotNull(options.TlsServerOptions);
        Assert.NotNull(options.TlsClientOptions);
        Assert.Equal(certificate.Thumbprint, options.TlsServerOptions.ServerCertificateContext?.TargetCertificate.Thumbprint);
        Assert.Equal(certificate.Thumbprint, options.TlsClientOptions.ClientCertificateContext?.TargetCertificate.Thumbprint);
        Assert.True(options.TlsServerOptions.ClientCertificateRequired);
        Assert.Equal("", options.TlsClientOptions.TargetHost);
        Assert.NotNull(options.TlsServerOptions.RemoteCertificateValidationCallback);
    }

    [Fact]
    public void LoadCertificate_WrongPassword_NamesTheKey()
    {
        using var certificate = SelfSigned("CN=noex-node");
        var path = Path.Combine(_dir, "node.pfx");
        File.WriteAllBytes(path, certificate.Export(X509ContentType.Pkcs12, "right"));

        var e = Assert.Throws<OptionsValidationException>(() =>
            NoexNodeOptionsBuilder.LoadCertificate(new NoexTlsSettings { CertificatePath = path, CertificatePassword = "wrong" }, s_tls));

        Assert.StartsWith($"Noex:Tls:CertificatePath '{path}' cannot be loaded: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadCertificate_PemWithItsKeyInAnotherFile_HasThePrivateKey()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = new CertificateRequest("CN=noex-pem", key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var certPath = Path.Combine(_dir, "node.crt");
        var keyPath = Path.Combine(_dir, "node.key");
        File.WriteAllText(certPath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());

        using var loaded = NoexNodeOptionsBuilder.LoadCertificate(new NoexTlsSettings { CertificatePath = certPath, CertificateKeyPath = keyPath }, s_tls);

        Assert.True(loaded.HasPrivateKey);
        Assert.Equal(certificate.Thumbprint, loaded.Thumbprint);

        var e = Assert.Throws<OptionsValidationException>(() =>
            NoexNodeOptionsBuilder.LoadCertificate(new NoexTlsSettings { CertificatePath = certPath }, s_tls));
        Assert.Contains("has no private key (put it in the file, or name it in Noex:Tls:CertificateKeyPath)", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadCertificate_FromTheStore_ByThumbprintOrSubject()
    {
        using var certificate = SelfSigned($"CN=noex-store-{Guid.NewGuid():N}");
        using var store = new X509Store(StoreName.My, StoreLocation.CurrentUser);
        store.Open(OpenFlags.ReadWrite);
        store.Add(certificate);
        try
        {
            using var byThumbprint = NoexNodeOptionsBuilder.LoadCertificate(new NoexTlsSettings { Thumbprint = certificate.Thumbprint.ToLowerInvariant() }, s_tls);
            using var bySubject = NoexNodeOptionsBuilder.LoadCertificate(new NoexTlsSettings { Subject = certificate.GetNameInfo(X509NameType.SimpleName, false) }, s_tls);

            Assert.Equal(certificate.Thumbprint, byThumbprint.Thumbprint);
            Assert.Equal(certificate.Thumbprint, bySubject.Thumbprint);
            Assert.True(byThumbprint.HasPrivateKey);
        }
        finally
        {
            store.Remove(certificate);
        }

        var e = Assert.Throws<OptionsValidationException>(() =>
            NoexNodeOptionsBuilder.LoadCertificate(new NoexTlsSettings { Thumbprint = certificate.Thumbprint }, s_tls));
        Assert.Contains($"Noex:Tls:Thumbprint: no certificate with a private key, valid now, matches '{certificate.Thumbprint}'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Accept_PinnedThumbprints_AcceptOnlyThoseCertificates()
    {
        using var pinned = SelfSigned("CN=noex-node");
        using var other = SelfSigned("CN=noex-node");
        var pins = new HashSet<string>([pinned.Thumbprint], StringComparer.OrdinalIgnoreCase);
        // A self-signed certificate is a chain error to the system, and its name matches no target: neither counts here.
        const SslPolicyErrors Errors = SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNameMismatch;

        Assert.True(NoexNodeOptionsBuilder.Accept(pinned, Errors, trusted: null, pins, checkName: false));
        Assert.False(NoexNodeOptionsBuilder.Accept(other, Errors, trusted: null, pins, checkName: false));
        // A target host was configured: the name must match.
        Assert.False(NoexNodeOptionsBuilder.Accept(pinned, Errors, trusted: null, pins, checkName: true));
        Assert.False(NoexNodeOptionsBuilder.Accept(null, SslPolicyErrors.RemoteCertificateNotAvailable, trusted: null, pins, checkName: false));
    }

    [Fact]
    public void Accept_ClusterCa_AcceptsTheCertificatesItIssuedAndNoOther()
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=noex-ca", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, 0, critical: true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, critical: true));
        using var ca = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var leaf = new CertificateRequest("CN=noex-node", leafKey, HashAlgorithmName.SHA256)
            .Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(1), [1, 2, 3, 4]);
        using var stranger = SelfSigned("CN=noex-node");
        var caPath = Path.Combine(_dir, "ca.pem");
        File.WriteAllText(caPath, ca.ExportCertificatePem());
        var trusted = new X509Certificate2Collection();
        trusted.ImportFromPemFile(caPath);
        const SslPolicyErrors Errors = SslPolicyErrors.RemoteCertificateChainErrors;

        Assert.True(NoexNodeOptionsBuilder.Accept(leaf, Errors, trusted, [], checkName: false));
        Assert.False(NoexNodeOptionsBuilder.Accept(stranger, Errors, trusted, [], checkName: false));
        // Without a CA or pins, the system's verdict stands.
        Assert.False(NoexNodeOptionsBuilder.Accept(leaf, Errors, trusted: null, [], checkName: false));
        Assert.True(NoexNodeOptionsBuilder.Accept(leaf, SslPolicyErrors.None, trusted: null, [], checkName: false));
    }

    [Fact]
    public void Validate_TlsSettings_NameTheKeys()
    {
        var pfx = Path.Combine(_dir, "node.pfx");
        File.WriteAllBytes(pfx, []);
        var settings = new NoexNodeSettings
        {
            Name = "a",
            UnsafePreferInlineScheduling = true,
            Tls = new NoexTlsSettings { CertificatePath = pfx, Thumbprint = "AB", Subject = "CN=x", TrustedCaPath = Path.Combine(_dir, "missing.pem") },
        };

        var failures = NoexNodeSettingsValidator.Check(settings, new NoexSettingsSection("Noex"));

        Assert.Equal(
            ["Noex:UnsafePreferInlineScheduling cannot be combined with TLS (Noex:Tls): only a connection's write loop may write to a TLS stream",
             "Noex:Tls:CertificatePath and a store certificate (Noex:Tls:Thumbprint or Noex:Tls:Subject) are both set: name one certificate",
             "Noex:Tls:Thumbprint and Noex:Tls:Subject are both set: name the store certificate one way",
             $"Noex:Tls:TrustedCaPath names no file: '{Path.Combine(_dir, "missing.pem")}' (from {Environment.CurrentDirectory})"],
            failures);
    }

    internal static X509Certificate2 SelfSigned(string subject)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var certificate = new CertificateRequest(subject, key, HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        // Round-trip through PKCS#12 so the private key is usable by SslStream (and storable) on every platform.
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
    }
}
