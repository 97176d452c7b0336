using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Configuration;

/// <summary>
/// Reads Proxy:Auth and the per-backend keys by hand, like <see cref="ProxyOptionsReader"/>: every problem names its
/// exact setting, and secret values are never repeated in a message. Whether callers must authenticate, given the
/// credentials the proxy holds, is a rule between settings: <see cref="ProxyOptionsValidator"/>'s.
/// </summary>
internal static class AuthOptionsReader
{
    /// <summary>Reads section Auth of <paramref name="proxy"/>, the Proxy section.</summary>
    public static AuthOptions Read(IConfigurationSection proxy, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        ArgumentNullException.ThrowIfNull(errors);
        var section = proxy.GetSection("Auth");
        return new AuthOptions
        {
            Backend = ReadBackendMode(section, errors),
            IdentityClientId = SettingValues.Guid(section, "IdentityClientId", "the client id of a user-assigned managed identity", errors)?.ToString(),
            EntraId = ReadEntraId(section.GetSection("EntraId"), errors),
            ClientKeys = ReadClientKeys(section.GetSection("ClientKeys"), errors),
            AllowAnonymousCallers = SettingValues.Boolean(section, "AllowAnonymousCallers", false, errors),
        };
    }

    /// <summary>Reads Proxy:Backends:{i}:ApiKey; null when absent.</summary>
    public static BackendApiKey? ReadApiKey(IConfigurationSection backend, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(errors);
        var value = backend["ApiKey"];
        if (value is null || value.Length == 0)
        {
            return null;
        }

        if (!IsHeaderSafeSecret(value))
        {
            errors.Add($"{backend.Path}:ApiKey must be the backend's key without spaces or control characters (value not shown).");
            return null;
        }

        return new BackendApiKey(value);
    }

    private static BackendAuthMode ReadBackendMode(IConfigurationSection section, List<string> errors)
    {
        var value = section["Backend"];
        if (string.IsNullOrWhiteSpace(value))
        {
            return BackendAuthMode.PassThrough;
        }

        if (Enum.TryParse<BackendAuthMode>(value.Trim(), ignoreCase: true, out var mode) && Enum.IsDefined(mode) && !char.IsAsciiDigit(value.Trim()[0]))
        {
            return mode;
        }

        errors.Add($"{section.Path}:Backend must be {nameof(BackendAuthMode.PassThrough)} (forward the caller's credentials) or " +
            $"{nameof(BackendAuthMode.Identity)} (the proxy's own Entra ID token); got '{value}'.");
        return BackendAuthMode.PassThrough;
    }

    private static EntraIdOptions? ReadEntraId(IConfigurationSection section, List<string> errors)
    {
        var tenantPath = $"{section.Path}:TenantId";
        var tenant = SettingValues.Guid(section, "TenantId", "the directory (tenant) id whose tokens callers present", errors);
        var instance = ReadInstance(section, errors);
        var audiences = ReadAudiences(section, errors);
        var allowed = new HashSet<Guid>();
        foreach (var item in SettingValues.ListItems(section.GetSection("AllowedCallers"), errors))
        {
            var value = item.Value!.Trim();
            if (Guid.TryParse(value, out var id))
            {
                allowed.Add(id);
            }
            else
            {
                errors.Add($"{item.Path} must be the object id (oid) or app id (appid/azp) of a caller, a GUID; got '{value}'.");
            }
        }

        if (tenant is null)
        {
            if (string.IsNullOrWhiteSpace(section["TenantId"]) && section.GetChildren().Any())
            {
                // Without a tenant nothing is validated: say so rather than run open while the settings suggest otherwise.
                errors.Add($"{tenantPath} is required when other {section.Path} settings are set: it turns Entra ID caller validation on.");
            }

            return null;
        }

        return new EntraIdOptions(tenant.Value, instance, audiences, allowed);
    }

    private static Uri ReadInstance(IConfigurationSection section, List<string> errors)
    {
        var path = $"{section.Path}:Instance";
        var value = section["Instance"];
        if (string.IsNullOrWhiteSpace(value))
        {
            return new Uri(AuthOptions.DefaultInstance);
        }

        if (!Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri) ||
            !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && SettingValues.IsLoopback(uri))) ||
            !string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            errors.Add($"{path} must be an absolute https URL of the Entra ID authority host, e.g. {AuthOptions.DefaultInstance} " +
                $"(http is allowed only for loopback); got '{value}'.");
            return new Uri(AuthOptions.DefaultInstance);
        }

        return new Uri(uri.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/");
    }

    private static string[] ReadAudiences(IConfigurationSection section, List<string> errors)
    {
        var value = section["Audience"];
        var audience = string.IsNullOrWhiteSpace(value) ? AuthOptions.DefaultAudience : value.Trim();
        if (audience.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            errors.Add($"{section.Path}:Audience must be the token audience (aud), e.g. {AuthOptions.DefaultAudience}, without spaces; got '{value}'.");
            audience = AuthOptions.DefaultAudience;
        }

        // Entra ID issues the resource URI with or without the trailing slash, depending on how the client asked.
        var bare = audience.TrimEnd('/');
        return [bare, bare + "/"];
    }

    private static List<string> ReadClientKeys(IConfigurationSection section, List<string> errors)
    {
        var keys = new List<string>();
        foreach (var item in SettingValues.ListItems(section, errors))
        {
            var value = item.Value!.Trim();
            if (value.Length < AuthOptions.MinClientKeyLength || !IsHeaderSafeSecret(value))
            {
                errors.Add($"{item.Path} must be at least {AuthOptions.MinClientKeyLength} characters without spaces or control characters " +
                    "(value not shown); generate one with e.g. 'openssl rand -hex 32'.");
                continue;
            }

            keys.Add(value);
        }

        return keys;
    }

    /// <summary>A secret that can be sent or compared as a header value: visible ASCII, no spaces.</summary>
    private static bool IsHeaderSafeSecret(string value) => value.All(c => c is > ' ' and < (char)127);
}
