using AoaiProxy.Answers;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Primitives;

namespace AoaiProxy.Tests.Auth;

public sealed class CallerAuthenticatorTests
{
    private const string KeysOnly = "Send a client key in the api-key header or as 'Authorization: Bearer <key>'.";
    private const string EntraOnly = "Send an Entra ID access token for https://cognitiveservices.azure.com as 'Authorization: Bearer <token>'.";
    private static readonly Guid Tenant = Guid.Parse("7d1f0a57-3a4e-4c0f-9d8b-2f6c1e5a9b30");

    /// <summary>A JWS in form only (header.payload.signature): what the authenticator hands to the token validator.</summary>
    private const string JwtLooking = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";

    private readonly LogCapture _logs = new();

    [Theory]
    [InlineData(null, null)]
    [InlineData("Basic dXNlcjpwYXNz", null)]
    [InlineData("Bearer a|Bearer b", null)]
    [InlineData(null, "anything")]
    public async Task AuthenticateAsync_NoCallerAuthenticationConfigured_AnyoneAllowed(string? authorization, string? apiKey)
    {
        var check = await Authenticator(new AuthOptions()).AuthenticateAsync(Request(authorization, apiKey), CancellationToken.None);

        Assert.True(check.IsAllowed);
        Assert.False(check.ByClientKey);
        Assert.Null(check.ClientKeyIndex);
    }

    [Theory]
    [InlineData(null, AuthSettings.ClientKey, 0)]
    [InlineData(null, AuthSettings.SecondClientKey, 1)]
    [InlineData("Bearer " + AuthSettings.ClientKey, null, 0)]
    [InlineData("bearer " + AuthSettings.SecondClientKey, null, 1)]
    public async Task AuthenticateAsync_ClientKeyAsApiKeyOrBearer_AllowedByClientKeyNamingWhichKey(string? authorization, string? apiKey, int index)
    {
        var check = await Authenticator(Keys()).AuthenticateAsync(Request(authorization, apiKey), CancellationToken.None);

        Assert.True(check.IsAllowed);
        Assert.True(check.ByClientKey);
        Assert.Equal(index, check.ClientKeyIndex);
        Assert.Empty(_logs.Named("CallerRefused"));
    }

    public static TheoryData<string?, string?, string> KeyRefusals() => new()
    {
        { null, null, "No credentials. " + KeysOnly },
        { null, "  ", "No credentials. " + KeysOnly },
        { null, "wrong-key-0123456789abcdef0123456789abc", "The api-key is not a valid client key for this proxy." },
        { "Bearer wrong-key-0123456789abcdef0123456789abc", null, "The bearer value is not a valid client key for this proxy." },
        { "Bearer " + AuthSettings.ClientKey + "x", null, "The bearer value is not a valid client key for this proxy." },
        { "Basic dXNlcjpwYXNz", null, "The Authorization header must be 'Bearer <token or key>'. " + KeysOnly },
        { "Bearer ", null, "The Authorization header must be 'Bearer <token or key>'. " + KeysOnly },
        { "Bearer a|Bearer b", null, "Send one credential: the api-key or Authorization header appears more than once." },
        { null, AuthSettings.ClientKey + "|" + AuthSettings.SecondClientKey, "Send one credential: the api-key or Authorization header appears more than once." },
    };

    [Theory]
    [MemberData(nameof(KeyRefusals))]
    public async Task AuthenticateAsync_ClientKeysConfiguredAndNoValidKey_UnauthenticatedSayingWhatToSendAndLoggedAtDebug(string? authorization, string? apiKey, string message)
    {
        var check = await Authenticator(Keys()).AuthenticateAsync(Request(authorization, apiKey), CancellationToken.None);

        Assert.Equal(ProxyOutcome.Unauthenticated, check.Refusal);
        Assert.Equal(message, check.Message);
        Assert.False(check.ByClientKey);
        var logged = Assert.Single(_logs.Named("CallerRefused"));
        Assert.Equal(LogLevel.Debug, logged.Level);
        Assert.Contains(message, logged.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AuthenticateAsync_ApiKeyAndAuthorizationBoth_TheAuthorizationHeaderDecides()
    {
        var authenticator = Authenticator(Keys());

        var byBearer = await authenticator.AuthenticateAsync(Request("Bearer " + AuthSettings.SecondClientKey, "wrong-key-0123456789abcdef0123456789abc"), CancellationToken.None);
        var wrongBearer = await authenticator.AuthenticateAsync(Request("Bearer wrong-key-0123456789abcdef0123456789abc", AuthSettings.ClientKey), CancellationToken.None);

        Assert.Equal(1, byBearer.ClientKeyIndex);
        Assert.Equal(ProxyOutcome.Unauthenticated, wrongBearer.Refusal);
    }

    [Theory]
    [InlineData(null, "some-key-0123456789abcdef0123456789abcd", "The api-key is not accepted: this proxy accepts Entra ID tokens only. " + EntraOnly)]
    [InlineData("Bearer some-key-0123456789abcdef0123456789abcd", null, "The bearer value is not accepted: this proxy accepts Entra ID tokens only. " + EntraOnly)]
    [InlineData(null, null, "No credentials. " + EntraOnly)]
    public async Task AuthenticateAsync_EntraIdOnlyAndNoToken_UnauthenticatedSayingATokenIsNeeded(string? authorization, string? apiKey, string message)
    {
        using var keys = UnreachableTenantKeys();

        var check = await Authenticator(EntraId(), keys).AuthenticateAsync(Request(authorization, apiKey), CancellationToken.None);

        Assert.Equal(ProxyOutcome.Unauthenticated, check.Refusal);
        Assert.Equal(message, check.Message);
    }

    [Fact]
    public async Task AuthenticateAsync_EntraIdAndClientKeys_NoCredentialsNamesBothWays()
    {
        using var keys = UnreachableTenantKeys();
        var options = EntraId();
        options.ClientKeys = [AuthSettings.ClientKey];

        var check = await Authenticator(options, keys).AuthenticateAsync(Request(null, null), CancellationToken.None);

        Assert.Equal(
            "No credentials. Send an Entra ID access token for https://cognitiveservices.azure.com as 'Authorization: Bearer <token>' or " +
            "a client key in the api-key header or as 'Authorization: Bearer <key>'.",
            check.Message);
    }

    [Fact]
    public async Task AuthenticateAsync_EntraIdAndClientKeysWithABearerKey_CheckedAsAClientKeyNotAsAToken()
    {
        using var keys = UnreachableTenantKeys();
        var options = EntraId();
        options.ClientKeys = [AuthSettings.ClientKey];

        var check = await Authenticator(options, keys).AuthenticateAsync(Request("Bearer " + AuthSettings.ClientKey, null), CancellationToken.None);

        Assert.True(check.IsAllowed);
        Assert.Equal(0, check.ClientKeyIndex);
    }

    [Fact]
    public async Task AuthenticateAsync_BearerThatLooksLikeAJwt_TheTokenValidatorsVerdict()
    {
        // The tenant's keys cannot be had (nothing listens on port 1), so the validator can only answer "unavailable":
        // that it answered at all shows the token went to it, not to the client key check.
        using var keys = UnreachableTenantKeys();
        var options = EntraId();
        options.ClientKeys = [AuthSettings.ClientKey];

        var check = await Authenticator(options, keys).AuthenticateAsync(Request("Bearer " + JwtLooking, null), CancellationToken.None);

        Assert.Equal(ProxyOutcome.AuthenticationUnavailable, check.Refusal);
        Assert.Contains(Tenant.ToString(), check.Message, StringComparison.Ordinal);
        Assert.False(check.ByClientKey);
    }

    [Theory]
    [InlineData(JwtLooking, true)]
    [InlineData("eyJ.a.b", true)]
    [InlineData("eyJhbGciOiJSUzI1NiJ9.payload", false)]
    [InlineData("eyJ.a.b.c", false)]
    [InlineData("xyJ.a.b", false)]
    [InlineData(AuthSettings.ClientKey, false)]
    public void LooksLikeJwt_Value_TrueForThreeDotSeparatedPartsStartingWithEy(string value, bool expected)
    {
        Assert.Equal(expected, CallerAuthenticator.LooksLikeJwt(value));
    }

    [Fact]
    public async Task WriteRefusalAsync_NoCredentials_401WithABareBearerChallenge()
    {
        var context = Response(Request(null, null));

        await CallerAuthenticator.WriteRefusalAsync(context, CallerCheck.Unauthenticated("No credentials."));

        Assert.Equal(StatusCodes.Status401Unauthorized, context.Response.StatusCode);
        Assert.Equal("Bearer realm=\"aoai-proxy\"", context.Response.Headers.WWWAuthenticate.ToString());
        Assert.Equal(("401", "No credentials."), AzureError.Of(Body(context)));
    }

    [Fact]
    public async Task WriteRefusalAsync_CredentialRefused_401ChallengeWithInvalidTokenAndTheReasonAsAQuotedStringSafeDescription()
    {
        var context = Response(Request(null, "wrong"));
        const string reason = "The \"api-key\" is wrong \\ try again.";

        await CallerAuthenticator.WriteRefusalAsync(context, CallerCheck.Unauthenticated(reason));

        Assert.Equal(StatusCodes.Status401Unauthorized, context.Response.StatusCode);
        Assert.Equal(
            "Bearer realm=\"aoai-proxy\", error=\"invalid_token\", error_description=\"The 'api-key' is wrong / try again.\"",
            context.Response.Headers.WWWAuthenticate.ToString());
        Assert.Equal(("401", reason), AzureError.Of(Body(context)));
    }

    [Fact]
    public async Task WriteRefusalAsync_Forbidden_403WithoutChallenge()
    {
        var context = Response(Request("Bearer " + JwtLooking, null));

        await CallerAuthenticator.WriteRefusalAsync(context, CallerCheck.Forbidden(new CallerIdentity("oid", "app"), "Not allowed."));

        Assert.Equal(StatusCodes.Status403Forbidden, context.Response.StatusCode);
        Assert.False(context.Response.Headers.ContainsKey("WWW-Authenticate"));
        Assert.Equal(("PermissionDenied", "Not allowed."), AzureError.Of(Body(context)));
    }

    [Fact]
    public async Task WriteRefusalAsync_Unavailable_503WithoutChallenge()
    {
        var context = Response(Request("Bearer " + JwtLooking, null));

        await CallerAuthenticator.WriteRefusalAsync(context, CallerCheck.Unavailable("Keys unreachable."));

        Assert.Equal(StatusCodes.Status503ServiceUnavailable, context.Response.StatusCode);
        Assert.False(context.Response.Headers.ContainsKey("WWW-Authenticate"));
        Assert.Equal(("AuthenticationUnavailable", "Keys unreachable."), AzureError.Of(Body(context)));
    }

    [Fact]
    public async Task WriteRefusalAsync_AllowedCaller_Throws()
    {
        var context = Response(Request(null, null));

        await Assert.ThrowsAsync<ArgumentException>(() => CallerAuthenticator.WriteRefusalAsync(context, CallerCheck.Allowed()));
    }

    private CallerAuthenticator Authenticator(AuthOptions options, OpenIdConfigurationSource? keys = null) =>
        new(options, new ClientKeyVerifier(options.ClientKeys), keys is null ? null : new EntraIdTokenValidator(options.EntraId!, keys, TimeProvider.System),
            new Logger<CallerAuthenticator>(new LoggerFactory([_logs])));

    private static AuthOptions Keys() => new() { ClientKeys = [AuthSettings.ClientKey, AuthSettings.SecondClientKey] };

    private static AuthOptions EntraId() => new()
    {
        EntraId = new EntraIdOptions(Tenant, new Uri("http://127.0.0.1:1/"), [AuthOptions.DefaultAudience, AuthOptions.DefaultAudience + "/"], new HashSet<Guid>()),
    };

    /// <summary>The tenant's OpenID configuration at an address where nothing listens: every fetch fails at once.</summary>
    private static OpenIdConfigurationSource UnreachableTenantKeys() =>
        new(EntraId().EntraId!, TimeProvider.System, NullLogger<OpenIdConfigurationSource>.Instance);

    /// <summary>A request with these credential headers; '|' separates repeated values of one header.</summary>
    private static HttpRequest Request(string? authorization, string? apiKey)
    {
        var context = new DefaultHttpContext();
        if (authorization is not null)
        {
            context.Request.Headers.Authorization = new StringValues(authorization.Split('|'));
        }

        if (apiKey is not null)
        {
            context.Request.Headers[CallerCredential.ApiKeyHeader] = new StringValues(apiKey.Split('|'));
        }

        return context.Request;
    }

    private static HttpContext Response(HttpRequest request)
    {
        request.HttpContext.Response.Body = new MemoryStream();
        return request.HttpContext;
    }

    private static string Body(HttpContext context) => System.Text.Encoding.UTF8.GetString(((MemoryStream)context.Response.Body).ToArray());
}
