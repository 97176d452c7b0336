using Microsoft.Extensions.Logging;

namespace AoaiProxy.Logging;

/// <summary>
/// Log lines of caller authentication and the proxy's own credentials (event ids from 18). They carry reasons written by
/// the proxy, object and app ids, setting names, expiry times and metadata addresses: never a key, a token or the text
/// of a caller's credential.
/// </summary>
internal static partial class Log
{
    [LoggerMessage(18, LogLevel.Debug, "Refused caller (401): {Reason}")]
    public static partial void CallerRefused(ILogger logger, string reason);

    [LoggerMessage(19, LogLevel.Debug, "Refused caller ({Caller}) with a valid token (403): not in Proxy:Auth:EntraId:AllowedCallers")]
    public static partial void CallerForbidden(ILogger logger, string caller);

    [LoggerMessage(20, LogLevel.Warning, "ANONYMOUS CALLERS ALLOWED (Proxy:Auth:AllowAnonymousCallers=true): anyone who can reach this proxy uses {Credentials}. For local development only; never deploy this setting.")]
    public static partial void AnonymousCallersAllowed(ILogger logger, string credentials);

    [LoggerMessage(21, LogLevel.Information, "Callers authenticate with {Callers}; backends are called with {Backends}")]
    public static partial void AuthConfigured(ILogger logger, string callers, string backends);

    [LoggerMessage(22, LogLevel.Information, "Obtained the proxy's Entra ID token for the backends, valid until {ExpiresOn:O}; refreshing from {RefreshAt:O}")]
    public static partial void ProxyTokenAcquired(ILogger logger, DateTimeOffset expiresOn, DateTimeOffset refreshAt);

    [LoggerMessage(23, LogLevel.Error, "Could not obtain the proxy's Entra ID token for the backends ({ErrorType}: {Error}); next try in {RetryAfterMs} ms")]
    public static partial void ProxyTokenFailed(ILogger logger, string errorType, string error, long retryAfterMs);

    [LoggerMessage(24, LogLevel.Information, "Retrieved the OpenID configuration {Address} with {KeyCount} signing keys")]
    public static partial void OpenIdConfigurationRetrieved(ILogger logger, string address, int keyCount);

    [LoggerMessage(25, LogLevel.Warning, "Could not retrieve the OpenID configuration {Address} ({ErrorType}: {Error}); caller tokens cannot be validated until it is retrieved")]
    public static partial void OpenIdConfigurationFailed(ILogger logger, string address, string errorType, string error);

    [LoggerMessage(26, LogLevel.Information, "A caller's token names a signing key not in the cached keys; refreshing {Address} (key rollover)")]
    public static partial void SigningKeysRefreshing(ILogger logger, string address);
}
