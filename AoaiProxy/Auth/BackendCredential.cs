using System.Net.Http.Headers;
using AoaiProxy.Configuration;

namespace AoaiProxy.Auth;

/// <summary>How one attempt authenticates to its backend.</summary>
internal enum BackendCredentialKind
{
    /// <summary>The caller's api-key / Authorization headers go through unchanged.</summary>
    PassThrough,

    /// <summary>The backend's own key (Proxy:Backends:{i}:ApiKey) in the api-key header.</summary>
    ApiKey,

    /// <summary>The proxy's Entra ID token in Authorization: Bearer.</summary>
    Bearer,

    /// <summary>The proxy's token could not be obtained; the backend must not be called.</summary>
    Unavailable,

    /// <summary>
    /// Pass-through, but the caller authenticated with one of the proxy's own client keys: that is the proxy's secret, not
    /// a backend credential, so the caller's credential headers are removed and nothing replaces them.
    /// </summary>
    Withheld,
}

/// <summary>
/// The credential for one attempt. ToString shows the kind only: the secret cannot reach a log by accident.
/// </summary>
/// <param name="Kind">What to send.</param>
/// <param name="Secret">The key or token for <see cref="BackendCredentialKind.ApiKey"/> and <see cref="BackendCredentialKind.Bearer"/>.</param>
/// <param name="Failure">Why the proxy's token is unavailable (no secrets), for <see cref="BackendCredentialKind.Unavailable"/>.</param>
/// <param name="RetryAfter">When the proxy will try to get its token again.</param>
internal readonly record struct BackendCredential(BackendCredentialKind Kind, string Secret, string? Failure = null, TimeSpan RetryAfter = default)
{
    public static BackendCredential PassThrough => new(BackendCredentialKind.PassThrough, "");

    /// <summary>True when the caller's api-key and Authorization headers must not reach the backend.</summary>
    public bool ReplacesCallerCredentials => Kind is BackendCredentialKind.ApiKey or BackendCredentialKind.Bearer or BackendCredentialKind.Withheld;

    public static BackendCredential Withheld => new(BackendCredentialKind.Withheld, "");

    public static BackendCredential ApiKey(string key) => new(BackendCredentialKind.ApiKey, key);

    public static BackendCredential Bearer(string token) => new(BackendCredentialKind.Bearer, token);

    public static BackendCredential Unavailable(string failure, TimeSpan retryAfter) => new(BackendCredentialKind.Unavailable, "", failure, retryAfter);

    /// <summary>Adds the proxy's own credential to an upstream request (nothing for pass-through).</summary>
    public void ApplyTo(HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        switch (Kind)
        {
            case BackendCredentialKind.ApiKey:
                request.Headers.TryAddWithoutValidation(CallerCredential.ApiKeyHeader, Secret);
                break;
            case BackendCredentialKind.Bearer:
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Secret);
                break;
        }
    }

    public override string ToString() => Kind.ToString();
}

/// <summary>Picks each backend's credential: its own key if it has one, else the proxy's token in Identity mode, else pass-through.</summary>
internal sealed class BackendCredentials(AuthOptions options, ProxyTokenSource? tokens)
{
    /// <summary>True when some backend is called with the proxy's Entra ID token.</summary>
    public static bool NeedsToken(ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Auth.Backend == BackendAuthMode.Identity && options.Backends.Any(b => b.ApiKey is null);
    }

    /// <summary>
    /// The credential to call <paramref name="backend"/> with for a caller. A caller that authenticated with one of the
    /// proxy's client keys is never passed through: that key is the proxy's secret, so such a backend gets none.
    /// </summary>
    public ValueTask<BackendCredential> ForAsync(BackendOptions backend, bool callerByClientKey, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (backend.ApiKey is { } key)
        {
            return ValueTask.FromResult(BackendCredential.ApiKey(key.Value));
        }

        if (options.Backend == BackendAuthMode.Identity)
        {
            return tokens!.GetAsync(cancellationToken);
        }

        return ValueTask.FromResult(callerByClientKey ? BackendCredential.Withheld : BackendCredential.PassThrough);
    }
}
