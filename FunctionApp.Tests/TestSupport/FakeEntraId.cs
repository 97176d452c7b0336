using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>What goes into a fake Entra ID access token; every field can be changed with <c>with</c>.</summary>
internal sealed record TokenSpec(
    string Issuer, string Audience, DateTimeOffset NotBefore, DateTimeOffset Expires, string ObjectId, string? AppId, string? Azp, RsaSecurityKey Key);

/// <summary>
/// A fake Entra ID tenant on loopback (real Kestrel, real HTTP): serves the OpenID configuration at
/// {instance}{tenant}/v2.0/.well-known/openid-configuration and the published signing keys (JWKS), and issues RS256 access
/// tokens signed with locally generated RSA keys. Keys can be rotated to test rollover; requests are counted.
/// </summary>
internal sealed class FakeEntraId : IAsyncDisposable
{
    public const string Audience = "https://cognitiveservices.azure.com";
    private static readonly string[] SigningAlgorithms = ["RS256"];

    private readonly WebApplication _app;
    private readonly Lock _gate = new();
    private readonly List<RsaSecurityKey> _published = [];
    private int _metadataRequests;
    private int _keySetRequests;

    private FakeEntraId(WebApplication app) => _app = app;

    public Guid TenantId { get; } = Guid.NewGuid();

    /// <summary>The authority host, e.g. http://127.0.0.1:5123/ (Proxy:Auth:EntraId:Instance).</summary>
    public Uri Instance { get; private set; } = null!;

    public string V1Issuer => $"https://sts.windows.net/{TenantId}/";

    public string V2Issuer => $"{Instance}{TenantId}/v2.0";

    /// <summary>The key new tokens are signed with; published.</summary>
    public RsaSecurityKey CurrentKey { get; private set; } = null!;

    /// <summary>When true, every request is answered 503 (Entra ID unreachable).</summary>
    public bool Down { get; set; }

    public int MetadataRequests => Volatile.Read(ref _metadataRequests);

    public int KeySetRequests => Volatile.Read(ref _keySetRequests);

    public static async Task<FakeEntraId> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var entra = new FakeEntraId(app);
        entra.CurrentKey = entra.Publish(NewKey("key-1"));
        app.Run(entra.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        entra.Instance = new Uri(address.TrimEnd('/') + "/");
        return entra;
    }

    /// <summary>A fresh 2048-bit RSA key with the given key id (not published).</summary>
    public static RsaSecurityKey NewKey(string keyId) => new(RSA.Create(2048)) { KeyId = keyId };

    /// <summary>Key rollover: publishes a new key, signs new tokens with it and withdraws the old one.</summary>
    public RsaSecurityKey RotateKey(string keyId)
    {
        var old = CurrentKey;
        CurrentKey = Publish(NewKey(keyId));
        lock (_gate)
        {
            _published.Remove(old);
        }

        return CurrentKey;
    }

    /// <summary>Settings that turn on Entra ID caller validation against this tenant.</summary>
    public void AddSettings(IDictionary<string, string?> settings)
    {
        settings["Proxy:Auth:EntraId:TenantId"] = TenantId.ToString();
        settings["Proxy:Auth:EntraId:Instance"] = Instance.ToString();
    }

    /// <summary>A valid v1 token for Azure OpenAI, valid for an hour from <paramref name="now"/>.</summary>
    public TokenSpec Token(DateTimeOffset now) =>
        new(V1Issuer, Audience, now - TimeSpan.FromMinutes(1), now + TimeSpan.FromHours(1), Guid.NewGuid().ToString(), Guid.NewGuid().ToString(), null, CurrentKey);

    public string Issue(TokenSpec spec)
    {
        var claims = new Dictionary<string, object> { ["oid"] = spec.ObjectId, ["tid"] = TenantId.ToString() };
        if (spec.AppId is not null)
        {
            claims["appid"] = spec.AppId;
        }

        if (spec.Azp is not null)
        {
            claims["azp"] = spec.Azp;
        }

        return new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = spec.Issuer,
            Audience = spec.Audience,
            IssuedAt = spec.NotBefore.UtcDateTime,
            NotBefore = spec.NotBefore.UtcDateTime,
            Expires = spec.Expires.UtcDateTime,
            Claims = claims,
            SigningCredentials = new SigningCredentials(spec.Key, SecurityAlgorithms.RsaSha256),
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private RsaSecurityKey Publish(RsaSecurityKey key)
    {
        lock (_gate)
        {
            _published.Add(key);
        }

        return key;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var path = context.Request.Path.Value ?? "";
        if (Down)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return;
        }

        context.Response.ContentType = "application/json";
        if (path == $"/{TenantId}/v2.0/.well-known/openid-configuration")
        {
            Interlocked.Increment(ref _metadataRequests);
            await context.Response.WriteAsync(JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["issuer"] = V2Issuer,
                ["jwks_uri"] = $"{Instance}{TenantId}/discovery/v2.0/keys",
                ["authorization_endpoint"] = $"{Instance}{TenantId}/oauth2/v2.0/authorize",
                ["token_endpoint"] = $"{Instance}{TenantId}/oauth2/v2.0/token",
                ["id_token_signing_alg_values_supported"] = SigningAlgorithms,
            }));
        }
        else if (path == $"/{TenantId}/discovery/v2.0/keys")
        {
            Interlocked.Increment(ref _keySetRequests);
            List<RsaSecurityKey> keys;
            lock (_gate)
            {
                keys = [.. _published];
            }

            await context.Response.WriteAsync(JsonSerializer.Serialize(new { keys = keys.Select(PublicJwk).ToArray() }));
        }
        else
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
        }
    }

    private static Dictionary<string, string> PublicJwk(RsaSecurityKey key)
    {
        var parameters = key.Rsa.ExportParameters(includePrivateParameters: false);
        return new Dictionary<string, string>
        {
            ["kty"] = "RSA",
            ["use"] = "sig",
            ["alg"] = "RS256",
            ["kid"] = key.KeyId,
            ["n"] = Base64UrlEncoder.Encode(parameters.Modulus),
            ["e"] = Base64UrlEncoder.Encode(parameters.Exponent),
        };
    }
}
