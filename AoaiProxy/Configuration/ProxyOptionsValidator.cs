using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace AoaiProxy.Configuration;

/// <summary>
/// Validates <see cref="ProxyOptions"/> at start-up: every problem of a single setting (the configuration is read again
/// for them, since a message quotes the value as written) and the rules between settings, all in one failure so that
/// the host lists them at once.
/// </summary>
internal sealed class ProxyOptionsValidator(IConfiguration configuration) : IValidateOptions<ProxyOptions>
{
    private const string RecommendedFix =
        "Set Proxy:Auth:EntraId:TenantId (Entra ID tokens, recommended: the chat app's token for https://cognitiveservices.azure.com works unchanged; " +
        "environment variable Proxy__Auth__EntraId__TenantId) and/or Proxy:Auth:ClientKeys:0 (a client key of at least 32 characters; " +
        "Proxy__Auth__ClientKeys__0). For local development only, Proxy:Auth:AllowAnonymousCallers=true accepts anyone.";

    public ValidateOptionsResult Validate(string? name, ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        ProxyOptionsReader.Read(configuration, errors);
        var proxy = configuration.GetSection(ProxyOptions.SectionName);
        CheckCooldowns(proxy, options, errors);
        CheckCallersAreAuthenticated(proxy, options.Auth, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void CheckCooldowns(IConfigurationSection proxy, ProxyOptions options, List<string> errors)
    {
        if (options.DefaultThrottleCooldown > options.MaxCooldown)
        {
            errors.Add($"{SettingValues.PathOf(proxy, "Cooldown:DefaultSeconds")} ({options.DefaultThrottleCooldown.TotalSeconds}) must not exceed " +
                $"{SettingValues.PathOf(proxy, "Cooldown:MaxSeconds")} ({options.MaxCooldown.TotalSeconds}).");
        }
    }

    /// <summary>
    /// A proxy that holds credentials of its own (its identity, or a backend's key) must know its callers: otherwise anyone
    /// who finds its URL spends the quota. Anonymous callers are for local development, and contradict authentication.
    /// </summary>
    private static void CheckCallersAreAuthenticated(IConfigurationSection proxy, AuthOptions auth, List<string> errors)
    {
        var section = proxy.GetSection("Auth");
        var credentials = new List<string>();
        if (auth.Backend == BackendAuthMode.Identity)
        {
            credentials.Add($"{section.Path}:Backend={nameof(BackendAuthMode.Identity)}");
        }

        // The keys that are set, valid or not: each makes the proxy hold a secret.
        credentials.AddRange(proxy.GetSection("Backends").GetChildren().Where(b => !string.IsNullOrEmpty(b["ApiKey"])).Select(b => $"{b.Path}:ApiKey"));
        if (auth.AllowAnonymousCallers && auth.AuthenticatesCallers)
        {
            errors.Add($"{section.Path}:AllowAnonymousCallers=true contradicts the configured caller authentication " +
                $"({section.Path}:EntraId:TenantId or {section.Path}:ClientKeys): remove one of them.");
        }
        else if (credentials.Count > 0 && !auth.AuthenticatesCallers && !auth.AllowAnonymousCallers)
        {
            errors.Add($"{section.Path}: the proxy calls the backends with its own credentials ({string.Join(", ", credentials)}) " +
                "but no caller authentication is configured, so anyone who finds its URL could spend your quota. " + RecommendedFix);
        }
    }
}
