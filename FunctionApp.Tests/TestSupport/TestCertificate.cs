using System.Net;
using System.Net.Http;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// A self-signed certificate for 127.0.0.1, made once per test run, for fake backends served over TLS (HTTP/2 by ALPN).
/// The proxy under test trusts exactly this certificate, nothing more.
/// </summary>
internal static class TestCertificate
{
    private static readonly Lazy<X509Certificate2> Lazy = new(Create);

    public static X509Certificate2 Backend => Lazy.Value;

    /// <summary>Replaces the engine's backend client with one that also trusts <see cref="Backend"/>.</summary>
    public static void TrustInProxy(IServiceCollection services) =>
        services.AddSingleton(sp => new BackendClient(sp.GetRequiredService<ProxyOptions>(), handler =>
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && certificate.GetCertHashString() == Backend.GetCertHashString()));

    private static X509Certificate2 Create()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var created = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

        // Through PKCS#12 so that the private key is a persisted one that SslStream can use on every platform.
        return X509CertificateLoader.LoadPkcs12(created.Export(X509ContentType.Pkcs12), null);
    }
}
