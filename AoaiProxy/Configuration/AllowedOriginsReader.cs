using System.Globalization;
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
        if (!string.IsNullOrEmpty(section.Value))
        {
            errors.Add($"{section.Path} is a list: set {section.Path}:0, {section.Path}:1, ... " +
                $"(environment variables {section.Path.Replace(":", "__", StringComparison.Ordinal)}__0, ...).");
        }

        var origins = new List<(int Index, string Value)>();
        foreach (var child in section.GetChildren())
        {
            if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                errors.Add($"{child.Path} is not a list index: use {section.Path}:0, {section.Path}:1, ...");
                continue;
            }

            var value = child.Value?.Trim();
            if (string.IsNullOrEmpty(value))
            {
                continue;
            }

            if (value == AnyOrigin || IsOrigin(value))
            {
                origins.Add((index, value == AnyOrigin ? value : value.ToLowerInvariant()));
            }
            else
            {
                errors.Add($"{child.Path} must be an origin such as https://chat.contoso.com (scheme, host and optional port; " +
                    $"no path, query or trailing slash) or {AnyOrigin} for any origin; got '{child.Value}'.");
            }
        }

        var list = origins.OrderBy(o => o.Index).Select(o => o.Value).ToList();
        if (list.Count > 1 && list.Contains(AnyOrigin))
        {
            errors.Add($"{section.Path}: {AnyOrigin} admits every origin; use it alone or list the origins instead.");
        }

        return list;
    }

    private static bool IsOrigin(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) &&
        (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp) &&
        string.IsNullOrEmpty(uri.UserInfo) &&
        // An origin has no path: the serialized form ends right after the host or port.
        string.Equals(value.TrimEnd(), uri.GetLeftPart(UriPartial.Authority), StringComparison.OrdinalIgnoreCase);
}
