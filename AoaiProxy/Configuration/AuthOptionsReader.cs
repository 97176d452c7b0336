using System.Globalization;
using AoaiProxy.Configuration;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Configuration;

/// <summary>
/// Reads Proxy:Auth and the per-backend keys by hand, like <see cref="ProxyOptionsReader"/>: every problem names its
/// exact setting, and secret values are never repeated in a message.
/// </summary>
internal static class AuthOptionsReader
{
    private const string RecommendedFix =
        "Set Proxy:Auth:EntraId:TenantId (Entra ID tokens, recommended: the chat app's token for https://cognitiveservices.azure.com works unchanged; " +
        "environment variable Proxy__Auth__EntraId__TenantId) and/or Proxy:Auth:ClientKeys:0 (a client key of at least 32 characters; " +
        "Proxy__Auth__ClientKeys__0). For local development only, Proxy:Auth:AllowAnonymousCallers=true accepts anyone.";

    /// <summary>Reads section Proxy:Auth; <paramref name="proxy"/> is the Proxy section (for the backends' keys).</summary>
    public static AuthOptions Read(IConfigurationSection proxy, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        ArgumentNullException.ThrowIfNull(errors);
        var section = proxy.GetSection("Auth");
        var options = new AuthOptions
        {
            Backend = ReadBackendMode(section, errors),
            IdentityClientId = ReadGuid(section, "IdentityClientId", "the client id of a user-assigned managed identity", errors)?.ToString(),
            EntraId = ReadEntraId(section.GetSection("EntraId"), errors),
            ClientKeys = ReadClientKeys(section.GetSection("ClientKeys"), errors),
            AllowAnonymousCallers = ReadBool(section, "AllowAnonymousCallers", errors),
        };

        CheckCallersAreAuthenticated(section, options, BackendKeySettings(proxy), errors);
        return options;
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
        var tenant = ReadGuid(section, "TenantId", "the directory (tenant) id whose tokens callers present", errors);
        var instance = ReadInstance(section, errors);
        var audiences = ReadAudiences(section, errors);
        var allowed = new HashSet<Guid>();
        foreach (var (path, value) in ReadList(section.GetSection("AllowedCallers"), errors))
        {
            if (Guid.TryParse(value, out var id))
            {
                allowed.Add(id);
            }
            else
            {
                errors.Add($"{path} must be the object id (oid) or app id (appid/azp) of a caller, a GUID; got '{value}'.");
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
            !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && ProxyOptionsReader.IsLoopback(uri))) ||
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
        foreach (var (path, value) in ReadList(section, errors))
        {
            if (value.Length < AuthOptions.MinClientKeyLength || !IsHeaderSafeSecret(value))
            {
                errors.Add($"{path} must be at least {AuthOptions.MinClientKeyLength} characters without spaces or control characters " +
                    "(value not shown); generate one with e.g. 'openssl rand -hex 32'.");
                continue;
            }

            keys.Add(value);
        }

        return keys;
    }

    private static void CheckCallersAreAuthenticated(IConfigurationSection section, AuthOptions options, List<string> backendKeys, List<string> errors)
    {
        var credentials = new List<string>();
        if (options.Backend == BackendAuthMode.Identity)
        {
            credentials.Add($"{section.Path}:Backend={nameof(BackendAuthMode.Identity)}");
        }

        credentials.AddRange(backendKeys);
        var anonymousPath = $"{section.Path}:AllowAnonymousCallers";
        if (options.AllowAnonymousCallers && options.AuthenticatesCallers)
        {
            errors.Add($"{anonymousPath}=true contradicts the configured caller authentication " +
                $"({section.Path}:EntraId:TenantId or {section.Path}:ClientKeys): remove one of them.");
        }
        else if (credentials.Count > 0 && !options.AuthenticatesCallers && !options.AllowAnonymousCallers)
        {
            errors.Add($"{section.Path}: the proxy calls the backends with its own credentials ({string.Join(", ", credentials)}) " +
                "but no caller authentication is configured, so anyone who finds its URL could spend your quota. " + RecommendedFix);
        }
    }

    /// <summary>The Proxy:Backends:{i}:ApiKey settings that are set, valid or not: each makes the proxy hold a secret.</summary>
    private static List<string> BackendKeySettings(IConfigurationSection proxy) =>
        proxy.GetSection("Backends").GetChildren()
            .Where(b => !string.IsNullOrEmpty(b["ApiKey"]))
            .Select(b => $"{b.Path}:ApiKey")
            .ToList();

    /// <summary>The values of a list setting ({path}:0, {path}:1, ...), reporting a scalar or non-numeric index.</summary>
    private static List<(string Path, string Value)> ReadList(IConfigurationSection section, List<string> errors)
    {
        var items = new List<(int Index, string Path, string Value)>();
        if (!string.IsNullOrEmpty(section.Value))
        {
            errors.Add($"{section.Path} is a list: set {section.Path}:0, {section.Path}:1, ... (environment variables {section.Path.Replace(":", "__", StringComparison.Ordinal)}__0, ...).");
        }

        foreach (var child in section.GetChildren())
        {
            if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                errors.Add($"{child.Path} is not a list index: use {section.Path}:0, {section.Path}:1, ...");
            }
            else if (!string.IsNullOrWhiteSpace(child.Value))
            {
                items.Add((index, child.Path, child.Value.Trim()));
            }
        }

        return items.OrderBy(i => i.Index).Select(i => (i.Path, i.Value)).ToList();
    }

    private static Guid? ReadGuid(IConfigurationSection section, string key, string meaning, List<string> errors)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (!Guid.TryParse(value.Trim(), out var id))
        {
            errors.Add($"{section.Path}:{key} must be {meaning}, a GUID; got '{value}'.");
            return null;
        }

        return id;
    }

    private static bool ReadBool(IConfigurationSection section, string key, List<string> errors)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return false;
        }

        if (!bool.TryParse(value.Trim(), out var parsed))
        {
            errors.Add($"{section.Path}:{key} must be true or false; got '{value}'.");
        }

        return parsed;
    }

    /// <summary>A secret that can be sent or compared as a header value: visible ASCII, no spaces.</summary>
    private static bool IsHeaderSafeSecret(string value) => value.All(c => c is > ' ' and < (char)127);
}
