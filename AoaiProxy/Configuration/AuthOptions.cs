namespace AoaiProxy.Configuration;

/// <summary>With which credentials the proxy calls the backends (Proxy:Auth:Backend).</summary>
internal enum BackendAuthMode
{
    /// <summary>The caller's api-key / Authorization goes to the backend unchanged; the proxy holds no secret.</summary>
    PassThrough,

    /// <summary>The proxy strips the caller's credentials and sends its own Entra ID token (Azure.Identity).</summary>
    Identity,
}

/// <summary>A per-backend key (Proxy:Backends:{i}:ApiKey). Its ToString never shows the value, so it cannot leak through a log of the options.</summary>
internal sealed class BackendApiKey(string value)
{
    public string Value { get; } = value;

    public override string ToString() => "(api key)";
}

/// <summary>Entra ID validation of callers' bearer tokens (Proxy:Auth:EntraId).</summary>
/// <param name="TenantId">The only tenant whose tokens are accepted.</param>
/// <param name="Instance">Authority host, always ending with '/', e.g. https://login.microsoftonline.com/.</param>
/// <param name="Audiences">The configured audience with and without a trailing slash.</param>
/// <param name="AllowedCallers">Object ids or app ids allowed to call; empty means any caller of the tenant.</param>
internal sealed record EntraIdOptions(Guid TenantId, Uri Instance, IReadOnlyList<string> Audiences, IReadOnlySet<Guid> AllowedCallers)
{
    /// <summary>Where the tenant's signing keys are published.</summary>
    public Uri MetadataAddress => new(Instance, $"{TenantId}/v2.0/.well-known/openid-configuration");

    /// <summary>Issuers of v1 (sts.windows.net) and v2 ({instance}{tenant}/v2.0) access tokens of the tenant.</summary>
    public IReadOnlyList<string> Issuers => [$"https://sts.windows.net/{TenantId}/", $"{Instance}{TenantId}/v2.0"];
}

/// <summary>Who may use the proxy and how it calls the backends (Proxy:Auth), read by <see cref="AuthOptionsReader"/>.</summary>
internal sealed class AuthOptions
{
    public const string DefaultAudience = "https://cognitiveservices.azure.com";
    public const string DefaultInstance = "https://login.microsoftonline.com/";

    /// <summary>Scope of the proxy's own token for Azure OpenAI.</summary>
    public const string BackendScope = "https://cognitiveservices.azure.com/.default";

    /// <summary>Shortest client key accepted: as long as Azure OpenAI's own keys (32 characters).</summary>
    public const int MinClientKeyLength = 32;

    /// <summary>Tolerated clock difference between Entra ID and the proxy when checking token lifetimes.</summary>
    public static readonly TimeSpan TokenClockSkew = TimeSpan.FromMinutes(5);

    public BackendAuthMode Backend { get; set; } = BackendAuthMode.PassThrough;

    /// <summary>Client id of a user-assigned managed identity; null uses DefaultAzureCredential.</summary>
    public string? IdentityClientId { get; set; }

    /// <summary>Null when Proxy:Auth:EntraId:TenantId is not set.</summary>
    public EntraIdOptions? EntraId { get; set; }

    public IReadOnlyList<string> ClientKeys { get; set; } = [];

    /// <summary>Local development only: the proxy holds credentials but accepts anyone.</summary>
    public bool AllowAnonymousCallers { get; set; }

    /// <summary>True when callers must or may present a credential the proxy checks.</summary>
    public bool AuthenticatesCallers => EntraId is not null || ClientKeys.Count > 0;
}
