using AoaiProxy.Answers;
using AoaiProxy.Configuration;
using AoaiProxy.Logging;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Auth;

/// <summary>Who the caller is, from the claims of an Entra ID token (ids only: never secret, fine for logs).</summary>
internal readonly record struct CallerIdentity(string? ObjectId, string? AppId)
{
    public override string ToString() => $"oid {ObjectId ?? "-"}, app {AppId ?? "-"}";
}

/// <summary>
/// The verdict of caller authentication; a refusal maps to one <see cref="ProxyOutcome"/>. ClientKeyIndex: which of
/// Proxy:Auth:ClientKeys the caller presented (names the caller in metrics without the key).
/// </summary>
internal readonly record struct CallerCheck(ProxyOutcome? Refusal, string Message, CallerIdentity? Caller = null, bool ByClientKey = false, int? ClientKeyIndex = null)
{
    public bool IsAllowed => Refusal is null;

    public static CallerCheck Allowed(CallerIdentity? caller = null) => new(null, "", caller);

    public static CallerCheck Unauthenticated(string message) => new(ProxyOutcome.Unauthenticated, message);

    public static CallerCheck Forbidden(CallerIdentity caller, string message) => new(ProxyOutcome.Forbidden, message, caller);

    public static CallerCheck Unavailable(string message) => new(ProxyOutcome.AuthenticationUnavailable, message);
}

/// <summary>
/// Admission's first step: checks the caller's credential against the configured caller authentication (Entra ID
/// tokens, client keys or both) before the body is read or any backend is contacted. Without caller authentication
/// configured everyone is admitted (pass-through, or the logged local-development opt-out).
/// </summary>
internal sealed class CallerAuthenticator(AuthOptions options, IClientKeyVerifier clientKeys, EntraIdTokenValidator? entraId, ILogger<CallerAuthenticator> logger)
{
    /// <summary>The realm of the WWW-Authenticate challenge.</summary>
    public const string Realm = "aoai-proxy";

    public async ValueTask<CallerCheck> AuthenticateAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!options.AuthenticatesCallers)
        {
            return CallerCheck.Allowed();
        }

        var credential = CallerCredential.From(request.Headers);
        var check = credential.Kind switch
        {
            CallerCredentialKind.ApiKey => CheckClientKey(credential.Value, "The api-key"),
            CallerCredentialKind.Bearer when entraId is not null && LooksLikeJwt(credential.Value) =>
                await entraId.ValidateAsync(credential.Value, cancellationToken).ConfigureAwait(false),
            CallerCredentialKind.Bearer => CheckClientKey(credential.Value, "The bearer value"),
            CallerCredentialKind.Unsupported => CallerCheck.Unauthenticated("The Authorization header must be 'Bearer <token or key>'. " + WhatToSend()),
            CallerCredentialKind.Ambiguous => CallerCheck.Unauthenticated("Send one credential: the api-key or Authorization header appears more than once."),
            _ => CallerCheck.Unauthenticated("No credentials. " + WhatToSend()),
        };

        if (check.Refusal == ProxyOutcome.Forbidden)
        {
            Log.CallerForbidden(logger, check.Caller?.ToString() ?? "-");
        }
        else if (!check.IsAllowed)
        {
            Log.CallerRefused(logger, check.Message);
        }

        return check;
    }

    /// <summary>Answers a refused caller: 401 with a Bearer challenge, 403, or 503, in Azure's error shape.</summary>
    public static Task WriteRefusalAsync(HttpContext context, CallerCheck check)
    {
        ArgumentNullException.ThrowIfNull(context);
        var outcome = check.Refusal ?? throw new ArgumentException("The caller was allowed.", nameof(check));
        if (outcome == ProxyOutcome.Unauthenticated)
        {
            // RFC 6750 §3: no error code when the request carried no credentials at all.
            var missing = CallerCredential.From(context.Request.Headers).Kind == CallerCredentialKind.None;
            context.Response.Headers.WWWAuthenticate = missing
                ? $"Bearer realm=\"{Realm}\""
                : $"Bearer realm=\"{Realm}\", error=\"invalid_token\", error_description=\"{QuotedStringSafe(check.Message)}\"";
        }

        return ErrorResponse.WriteAsync(context, outcome, check.Message);
    }

    /// <summary>A compact JWS (header.payload.signature) rather than an opaque client key.</summary>
    public static bool LooksLikeJwt(string value) => value.Count(c => c == '.') == 2 && value.StartsWith("ey", StringComparison.Ordinal);

    private CallerCheck CheckClientKey(string presented, string what)
    {
        if (options.ClientKeys.Count == 0)
        {
            return CallerCheck.Unauthenticated($"{what} is not accepted: this proxy accepts Entra ID tokens only. " + WhatToSend());
        }

        var index = clientKeys.IndexOf(presented);
        return index >= 0
            ? CallerCheck.Allowed() with { ByClientKey = true, ClientKeyIndex = index }
            : CallerCheck.Unauthenticated($"{what} is not a valid client key for this proxy.");
    }

    private string WhatToSend()
    {
        var entra = options.EntraId is { } e ? $"an Entra ID access token for {e.Audiences[0]} as 'Authorization: Bearer <token>'" : null;
        var key = options.ClientKeys.Count > 0 ? "a client key in the api-key header or as 'Authorization: Bearer <key>'" : null;
        return "Send " + string.Join(" or ", new[] { entra, key }.Where(s => s is not null)) + ".";
    }

    private static string QuotedStringSafe(string value) => value.Replace('"', '\'').Replace('\\', '/');
}
