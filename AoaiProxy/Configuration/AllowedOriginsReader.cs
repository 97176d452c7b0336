using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Configuration;

/// <summary>Reads the origins whose pages may call the proxy from a browser (Proxy:Cors:AllowedOrigins).</summary>
internal static class AllowedOriginsReader
{
    /// <summary>The setting (a list: Proxy:Cors:AllowedOrigins:0, :1, ...).</summary>
    public const string SectionPath = "Cors:AllowedOrigins";

    /// <summary>"*" alone admits every origin (no credentials mode is used, so the wildcard is valid).</summary>
    public const string AnyOrigin = "*";

    /// <summary>
    /// Reads Proxy:Cors:AllowedOrigins:{i}: each an origin (scheme://host[:port], no path) or "*" alone. Problems name the
    /// exact setting.
    /// </summary>
    public static IReadOnlyList<string> ReadOrigins(IConfigurationSection proxy, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(proxy);
        ArgumentNullException.ThrowIfNull(errors);
        var section = proxy.GetSection(SectionPath);
        var origins = new List<string>();
        foreach (var item in SettingValues.ListItems(section, errors))
        {
            var value = item.Value!.Trim();
            if (value == AnyOrigin || IsOrigin(value))
            {
                origins.Add(value == AnyOrigin ? value : value.ToLowerInvariant());
            }
            else
            {
                errors.Add($"{item.Path} must be an origin such as https://chat.contoso.com (scheme, host and optional port; " +
                    $"no path, query or trailing slash) or {AnyOrigin} for any origin; got '{item.Value}'.");
            }
        }

        if (origins.Count > 1 && origins.Contains(AnyOrigin))
        {
            errors.Add($"{section.Path}: {AnyOrigin} admits every origin; use it alone or list the origins instead.");
        }

        return origins;
    }

    private static bool IsOrigin(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) &&
        (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp) &&
        string.IsNullOrEmpty(uri.UserInfo) &&
        // An origin has no path: the serialized form ends right after the host or port.
        string.Equals(value.TrimEnd(), uri.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase);
}
