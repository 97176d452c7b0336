using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Auth;

/// <summary>What kind of credential a caller presented.</summary>
internal enum CallerCredentialKind
{
    None,
    ApiKey,
    Bearer,

    /// <summary>An Authorization header with another scheme than Bearer, or an empty Bearer value.</summary>
    Unsupported,

    /// <summary>The same credential header more than once.</summary>
    Ambiguous,
}

/// <summary>
/// The credential a caller presented: the Authorization header when present (Bearer: an Entra ID token or a client key),
/// otherwise the api-key header. Pure. ToString shows the kind only, never the value.
/// </summary>
internal readonly record struct CallerCredential(CallerCredentialKind Kind, string Value)
{
    public const string ApiKeyHeader = "api-key";
    private const string BearerScheme = "Bearer";

    public static CallerCredential From(IHeaderDictionary headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var authorization = headers.Authorization;
        if (authorization.Count > 1)
        {
            return new(CallerCredentialKind.Ambiguous, "");
        }

        if (authorization.Count == 1)
        {
            var value = authorization[0] ?? "";
            var space = value.IndexOf(' ', StringComparison.Ordinal);
            var token = space < 0 ? "" : value[(space + 1)..].Trim();
            return space == BearerScheme.Length && value.StartsWith(BearerScheme, StringComparison.OrdinalIgnoreCase) && token.Length > 0
                ? new(CallerCredentialKind.Bearer, token)
                : new(CallerCredentialKind.Unsupported, "");
        }

        var apiKey = headers[ApiKeyHeader];
        return apiKey.Count switch
        {
            0 => new(CallerCredentialKind.None, ""),
            > 1 => new(CallerCredentialKind.Ambiguous, ""),
            _ when string.IsNullOrWhiteSpace(apiKey[0]) => new(CallerCredentialKind.None, ""),
            _ => new(CallerCredentialKind.ApiKey, apiKey[0]!.Trim()),
        };
    }

    /// <summary>The Azure AI services / API Management key header: a caller credential too, though the proxy does not accept it.</summary>
    public const string SubscriptionKeyHeader = "Ocp-Apim-Subscription-Key";

    /// <summary>True for the headers that carry a caller's credential for Azure OpenAI (stripped when the proxy uses its own).</summary>
    public static bool IsCredentialHeader(string name) =>
        name.Equals(ApiKeyHeader, StringComparison.OrdinalIgnoreCase) || name.Equals("Authorization", StringComparison.OrdinalIgnoreCase) ||
        name.Equals(SubscriptionKeyHeader, StringComparison.OrdinalIgnoreCase);

    public override string ToString() => Kind.ToString();
}
