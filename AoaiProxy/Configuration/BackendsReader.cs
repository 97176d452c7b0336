using System.Globalization;
using AoaiProxy.Routing;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Configuration;

/// <summary>
/// Reads Proxy:Backends:{i}: each backend's endpoint, name, priority, weight, key and deployments, in index order. A
/// backend whose endpoint or name is invalid is left out (and its problem reported).
/// </summary>
internal static class BackendsReader
{
    private const int MaxPriority = 1000;
    private const int MaxNameLength = 64;

    public static List<BackendOptions> Read(IConfigurationSection section, List<string> errors)
    {
        var backends = new List<BackendOptions>();
        var children = section.GetChildren().ToList();
        if (children.Count == 0)
        {
            errors.Add(
                $"{section.Path} is empty: configure at least one Azure OpenAI backend, e.g. the settings " +
                $"{section.Path}:0:Endpoint=https://my-resource.openai.azure.com (environment variable Proxy__Backends__0__Endpoint) " +
                $"and optionally {section.Path}:0:Name, :Priority, :Weight. See the README's configuration reference.");
            return backends;
        }

        var indexed = new List<(int Index, IConfigurationSection Child)>();
        foreach (var child in children)
        {
            if (int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                indexed.Add((index, child));
            }
            else
            {
                errors.Add($"{child.Path} is not a backend index: use {section.Path}:0, {section.Path}:1, ...");
            }
        }

        var names = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (_, child) in indexed.OrderBy(c => c.Index))
        {
            var endpoint = ReadEndpoint(child, errors);
            var name = ReadName(child, endpoint, errors);
            var priority = (int)SettingValues.WholeNumber(child, "Priority", ProxyOptions.DefaultPriority, 0, MaxPriority, errors);
            var weight = (int)SettingValues.WholeNumber(child, "Weight", ProxyOptions.DefaultWeight, 1, ProxyOptions.MaxWeight, errors);
            var apiKey = AuthOptionsReader.ReadApiKey(child, errors);
            var deployments = ReadDeployments(child, errors);
            if (name is not null && !names.TryAdd(name, child.Path))
            {
                errors.Add($"{child.Path}:Name '{name}' is already used by {names[name]}: backend names must be unique.");
            }

            if (endpoint is not null && name is not null)
            {
                backends.Add(new BackendOptions(name, endpoint, priority, weight, apiKey, deployments));
            }
        }

        return backends;
    }

    /// <summary>
    /// One app setting ("gpt-4o,chat=gpt-4o-mini", as infra writes it) or a list (Deployments:0, :1 ... in JSON).
    /// </summary>
    private static DeploymentMap? ReadDeployments(IConfigurationSection backend, List<string> errors)
    {
        var section = backend.GetSection("Deployments");
        var entries = section.Value is { } value ? [value] : section.GetChildren().Select(c => c.Value ?? "").ToList();
        return DeploymentMap.Parse(entries, section.Path, errors);
    }

    private static Uri? ReadEndpoint(IConfigurationSection backend, List<string> errors)
    {
        var path = $"{backend.Path}:Endpoint";
        var value = backend["Endpoint"];
        if (string.IsNullOrWhiteSpace(value))
        {
            errors.Add($"{path} is required: the Azure OpenAI resource's endpoint, e.g. https://my-resource.openai.azure.com");
            return null;
        }

        if (!Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri) ||
            !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && SettingValues.IsLoopback(uri))))
        {
            errors.Add($"{path} must be an absolute https URL (http is allowed only for loopback); got '{value}'.");
            return null;
        }

        if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            errors.Add($"{path} must not contain a query, fragment or user info; got '{uri.GetLeftPart(UriPartial.Authority)}...'.");
            return null;
        }

        var basePath = uri.AbsolutePath.TrimEnd('/');
        if (basePath.EndsWith("/openai", StringComparison.OrdinalIgnoreCase) || basePath.Contains("/openai/", StringComparison.OrdinalIgnoreCase))
        {
            errors.Add($"{path} must be the resource root without /openai (the proxy appends the caller's /openai/... path); got '{value}'.");
            return null;
        }

        // Always end with '/' so that relative composition keeps a gateway path prefix.
        return new Uri(uri.GetLeftPart(UriPartial.Authority) + basePath + "/", UriKind.Absolute);
    }

    private static string? ReadName(IConfigurationSection backend, Uri? endpoint, List<string> errors)
    {
        var value = backend["Name"];
        if (string.IsNullOrWhiteSpace(value))
        {
            return endpoint is null ? null : DefaultName(endpoint);
        }

        value = value.Trim();
        if (value.Length > MaxNameLength || !value.All(IsNameChar))
        {
            errors.Add($"{backend.Path}:Name must be 1-{MaxNameLength} characters of letters, digits, '-', '_' or '.'; got '{value}'.");
            return null;
        }

        return value;
    }

    /// <summary>
    /// The resource name is the natural default (https://my-resource.openai.azure.com -> my-resource). An IP address or
    /// localhost says nothing, and several backends often share it, so those are named host-port (127.0.0.1-5001).
    /// </summary>
    private static string DefaultName(Uri endpoint)
    {
        var host = endpoint.Host.Trim('[', ']');
        var name = endpoint.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 || endpoint.IsLoopback
            ? $"{host}-{endpoint.Port}"
            : host.Split('.')[0];
        name = new string(name.Select(c => IsNameChar(c) ? c : '-').ToArray()).ToLowerInvariant();
        return name.Length > MaxNameLength ? name[..MaxNameLength] : name;
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.';
}
