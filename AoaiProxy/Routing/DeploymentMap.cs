using System.Collections.Frozen;
using System.Text;

namespace AoaiProxy.Routing;

/// <summary>
/// The deployments one backend serves (Proxy:Backends:{i}:Deployments): the caller's name (an alias, or the name
/// itself) mapped to the backend's own deployment name. Pure.
/// </summary>
internal sealed class DeploymentMap
{
    /// <summary>Azure OpenAI deployment names: letters, digits, '-', '_' and '.', at most 64 characters.</summary>
    internal const int MaxNameLength = 64;

    private readonly FrozenDictionary<string, string> _names;

    private DeploymentMap(FrozenDictionary<string, string> names) => _names = names;

    /// <summary>The caller-facing names this backend serves.</summary>
    public IEnumerable<string> Served => _names.Keys;

    /// <summary>
    /// The backend's own name for the caller's <paramref name="deployment"/>, or null when it does not serve it.
    /// Deployment names are case-insensitive in Azure OpenAI.
    /// </summary>
    public string? NameFor(string deployment) => _names.TryGetValue(deployment, out var name) ? name : null;

    /// <summary>
    /// Parses "gpt-4o, chat=gpt-4o-mini-prod": each entry a name or alias=name, separated by commas (one app setting)
    /// or given as separate list items. Problems are reported with <paramref name="setting"/>.
    /// </summary>
    public static DeploymentMap? Parse(IEnumerable<string> entries, string setting, List<string> errors)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(errors);
        var names = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var any = false;
        foreach (var raw in entries.SelectMany(e => e.Split(',')))
        {
            var entry = raw.Trim();
            if (entry.Length == 0)
            {
                continue;
            }

            any = true;
            var equals = entry.IndexOf('=', StringComparison.Ordinal);
            var alias = (equals < 0 ? entry : entry[..equals]).Trim();
            var name = (equals < 0 ? entry : entry[(equals + 1)..]).Trim();
            if (!IsValidName(alias) || !IsValidName(name))
            {
                errors.Add($"{setting} entry '{entry}' must be a deployment name or alias=name, each 1-{MaxNameLength} letters, digits, '-', '_' or '.'.");
                continue;
            }

            if (names.TryGetValue(alias, out var existing) && !existing.Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                errors.Add($"{setting} maps '{alias}' twice ('{existing}' and '{name}').");
                continue;
            }

            names[alias] = name;
        }

        if (!any)
        {
            return null;
        }

        return new DeploymentMap(names.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase));
    }

    private static bool IsValidName(string name) =>
        name.Length is > 0 and <= MaxNameLength && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>
    /// <paramref name="path"/> with its deployment segment (/openai/deployments/{d}/...) replaced by <paramref name="name"/>;
    /// the rest of the raw target is kept byte for byte.
    /// </summary>
    public static ProxyPath RewritePath(ProxyPath path, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (path.Deployment is null || path.Deployment.Equals(name, StringComparison.Ordinal))
        {
            return path;
        }

        // "/openai/deployments/{d}..." : the segment starts after the third '/' and ends at the next '/' or '?'.
        var raw = path.PathAndQuery;
        var start = 0;
        for (var slashes = 0; slashes < 3; slashes++)
        {
            start = raw.IndexOf('/', start) + 1;
        }

        var end = raw.IndexOfAny(['/', '?'], start);
        end = end < 0 ? raw.Length : end;
        var rewritten = new StringBuilder(raw.Length + name.Length)
            .Append(raw, 0, start).Append(Uri.EscapeDataString(name)).Append(raw, end, raw.Length - end).ToString();
        return path with { PathAndQuery = rewritten, Deployment = name };
    }
}
