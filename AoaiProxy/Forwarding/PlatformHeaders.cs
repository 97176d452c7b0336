using System.Collections.Frozen;

namespace AoaiProxy.Forwarding;

/// <summary>
/// Request headers that the hosting platform, its authentication or the caller's browser add, and that must never reach
/// a backend: they describe the proxy's own front end (client addresses, TLS, internal host names), carry the caller's
/// identity and tokens from App Service authentication, or are cookies of the proxy's origin. Kept beside
/// <see cref="HopByHopHeaders"/>; the caller's own headers (x-ms-client-request-id, for example) still go.
/// </summary>
internal static class PlatformHeaders
{
    /// <summary>Exact names, case-insensitive.</summary>
    public static readonly FrozenSet<string> Names = new[]
    {
        // Azure Functions: the host adds the invocation id on the way to the worker (Worker.Extensions.Http.AspNetCore
        // reads it as its correlation header), and the worker's ForwardedHeadersMiddleware (ForwardedHeaders.All) moves
        // the host's X-Forwarded-* into these X-Original-* headers.
        "x-ms-invocation-id", "X-Original-For", "X-Original-Host", "X-Original-Proto", "X-Original-Prefix",

        // App Service front end.
        "X-Original-URL", "X-WAWS-Unencoded-URL", "X-Client-IP", "X-Client-Port", "Client-IP", "DISGUISED-HOST",
        "X-SITE-DEPLOYMENT-ID", "WAS-DEFAULT-HOSTNAME", "X-AppService-Proto", "X-Forwarded", "Forwarded",

        // App Service authentication's session token (the header form of its session cookie): a credential for the
        // proxy's own origin.
        "X-ZUMO-AUTH",

        // The caller's cookies belong to the proxy's origin.
        "Cookie",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Families: App Service's ARR headers (X-ARR-LOG-ID, X-ARR-SSL, X-ARR-ClientCert), App Service authentication's
    /// caller identity (X-MS-CLIENT-PRINCIPAL, -NAME, -ID, -IDP) and tokens (X-MS-TOKEN-AAD-ACCESS-TOKEN, ...), and every
    /// X-Forwarded-* (For, Host, Proto, Prefix, TlsVersion, Port, ...).
    /// </summary>
    private static readonly string[] Prefixes = ["X-ARR-", "X-MS-CLIENT-PRINCIPAL", "X-MS-TOKEN-", "X-Forwarded-"];

    public static bool IsPlatform(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (Names.Contains(name))
        {
            return true;
        }

        // Only names that start with "x-" can be in a family: one character check spares the prefix loop for most headers.
        if (name.Length < 2 || (name[0] | 0x20) != 'x' || name[1] != '-')
        {
            return false;
        }

        foreach (var prefix in Prefixes)
        {
            if (name.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
