using AoaiProxy.Configuration;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace AoaiProxy.Auth;

/// <summary>
/// Validates a caller's Entra ID access token: signature with the tenant's published keys (RS256 only), issuer (v1
/// sts.windows.net or v2 {instance}{tenant}/v2.0 of the configured tenant), audience, lifetime with
/// <see cref="AuthOptions.TokenClockSkew"/>, then the optional allow-list of object ids / app ids.
/// </summary>
internal sealed class EntraIdTokenValidator(EntraIdOptions options, OpenIdConfigurationSource keys, TimeProvider time)
{
    private readonly JsonWebTokenHandler _handler = new();

    public async Task<CallerCheck> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        OpenIdConnectConfiguration configuration;
        try
        {
            configuration = await keys.GetAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Not the caller's fault, and no reason to let anyone in: ask to come back (the fetch failure is logged).
            return CallerCheck.Unavailable(
                $"Caller tokens cannot be validated right now: the signing keys of tenant {options.TenantId} could not be retrieved.");
        }

        var result = await _handler.ValidateTokenAsync(token, Parameters(configuration)).ConfigureAwait(false);
        if (!result.IsValid && result.Exception is SecurityTokenSignatureKeyNotFoundException &&
            await keys.RefreshAsync(cancellationToken).ConfigureAwait(false) is { } refreshed)
        {
            result = await _handler.ValidateTokenAsync(token, Parameters(refreshed)).ConfigureAwait(false);
        }

        if (!result.IsValid)
        {
            return CallerCheck.Unauthenticated(Reason(result.Exception, options));
        }

        var jwt = (JsonWebToken)result.SecurityToken;
        var caller = new CallerIdentity(Claim(jwt, "oid"), Claim(jwt, "appid") ?? Claim(jwt, "azp"));
        return IsAllowed(options.AllowedCallers, caller)
            ? CallerCheck.Allowed(caller)
            : CallerCheck.Forbidden(caller,
                "The caller's token is valid, but the caller is not in the proxy's list of allowed callers (Proxy:Auth:EntraId:AllowedCallers).");
    }

    /// <summary>True when the allow-list is empty or names the caller's object id or app id.</summary>
    public static bool IsAllowed(IReadOnlySet<Guid> allowed, CallerIdentity caller)
    {
        ArgumentNullException.ThrowIfNull(allowed);
        return allowed.Count == 0 ||
            (Guid.TryParse(caller.ObjectId, out var oid) && allowed.Contains(oid)) ||
            (Guid.TryParse(caller.AppId, out var appId) && allowed.Contains(appId));
    }

    /// <summary>
    /// The token's lifetime against <paramref name="now"/> with <see cref="AuthOptions.TokenClockSkew"/> either side: true,
    /// or the library's exception for the problem (so that <see cref="Reason"/> can name it).
    /// </summary>
    public static bool CheckLifetime(DateTime? notBefore, DateTime? expires, DateTimeOffset now)
    {
        var skew = AuthOptions.TokenClockSkew;
        if (expires is not { } until)
        {
            throw new SecurityTokenNoExpirationException("The token has no expiry time.");
        }

        if (notBefore is { } from && new DateTimeOffset(DateTime.SpecifyKind(from, DateTimeKind.Utc)) > now + skew)
        {
            throw new SecurityTokenNotYetValidException("The token is not valid yet.") { NotBefore = from };
        }

        if (new DateTimeOffset(DateTime.SpecifyKind(until, DateTimeKind.Utc)) < now - skew)
        {
            throw new SecurityTokenExpiredException("The token has expired.") { Expires = until };
        }

        return true;
    }

    /// <summary>What is wrong with a token, in words that never repeat the token or the library's diagnostics.</summary>
    public static string Reason(Exception? exception, EntraIdOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return exception switch
        {
            SecurityTokenExpiredException => "The bearer token has expired.",
            SecurityTokenNotYetValidException => "The bearer token is not valid yet.",
            SecurityTokenNoExpirationException => "The bearer token has no expiry time.",
            SecurityTokenInvalidAudienceException => $"The bearer token is not for this proxy: its audience must be {options.Audiences[0]}.",
            SecurityTokenInvalidIssuerException => $"The bearer token was not issued by the proxy's tenant {options.TenantId}.",
            SecurityTokenSignatureKeyNotFoundException => "The bearer token is signed with a key that the proxy's tenant does not publish.",
            SecurityTokenInvalidSignatureException => "The bearer token's signature is invalid.",
            SecurityTokenInvalidAlgorithmException => "The bearer token's signing algorithm is not accepted (RS256 only).",
            SecurityTokenMalformedException or ArgumentException => "The bearer token is malformed.",
            _ => "The bearer token is not valid.",
        };
    }

    private TokenValidationParameters Parameters(OpenIdConnectConfiguration configuration) => new()
    {
        ValidIssuers = options.Issuers,
        ValidAudiences = options.Audiences,
        IssuerSigningKeys = configuration.SigningKeys,
        ValidAlgorithms = [SecurityAlgorithms.RsaSha256],
        RequireSignedTokens = true,
        RequireExpirationTime = true,
        ValidateLifetime = true,
        ClockSkew = AuthOptions.TokenClockSkew,

        // The library's own clock is not injectable (TokenValidationParameters.TimeProvider is internal in 8.x).
        LifetimeValidator = (notBefore, expires, _, _) => CheckLifetime(notBefore, expires, time.GetUtcNow()),
    };

    private static string? Claim(JsonWebToken jwt, string name) =>
        jwt.TryGetPayloadValue<string>(name, out var value) && !string.IsNullOrEmpty(value) ? value : null;
}
