using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Configuration;

/// <summary>
/// Reads <see cref="ProxyOptions"/> from configuration by hand rather than with the binder, so that every problem is
/// reported with the exact setting it concerns (e.g. "Proxy:Backends:2:Endpoint must be ...") and all of them at once.
/// </summary>
internal static class ProxyOptionsReader
{
    private const int MaxPriority = 1000;
    private const int MaxNameLength = 64;
    private const double MaxSeconds = 3600;
    private const double MaxAffinityDays = 366;

    /// <summary>Polly's circuit breaker needs at least two samples before a ratio means anything.</summary>
    private const int MinFailureRequests = 2;
    private const int MaxFailureRequests = 100_000;

    /// <summary>Polly's lower bound for a sampling window and a break (its options validation refuses less).</summary>
    private static readonly TimeSpan MinBreakerDuration = TimeSpan.FromSeconds(0.5);

    public static ProxyOptions Read(IConfiguration configuration)
    {
        var options = new ProxyOptions();
        Fill(options, configuration);
        return options;
    }

    /// <summary>Sets every property of <paramref name="options"/>, collecting problems in <see cref="ProxyOptions.Errors"/>.</summary>
    public static void Fill(ProxyOptions options, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configuration);
        var errors = new List<string>();
        var section = configuration.GetSection(ProxyOptions.SectionName);
        options.Backends = ReadBackends(section.GetSection("Backends"), errors);
        options.MaxRequestBodyBytes = ReadLong(section, "MaxRequestBodyBytes", ProxyOptions.DefaultMaxRequestBodyBytes, 1, long.MaxValue - ProxyOptions.BodyDrainAllowanceBytes, errors);
        options.MaxDecodedBodyBytes = ReadLong(section, "MaxDecodedBodyBytes", ProxyOptions.DefaultMaxDecodedBodyBytes, ProxyOptions.MinMaxDecodedBodyBytes, ProxyOptions.MaxMaxDecodedBodyBytes, errors);
        options.RequestTimeout = ReadSeconds(section, "RequestTimeoutSeconds", ProxyOptions.DefaultRequestTimeout, errors);
        options.RelayIdleTimeout = ReadSeconds(section, "RelayIdleTimeoutSeconds", ProxyOptions.DefaultRelayIdleTimeout, errors);
        options.FailureRatio = ReadRatio(section, "FailureRate:Ratio", ProxyOptions.DefaultFailureRatio, errors);
        options.FailureMinimumRequests = (int)ReadLong(section, "FailureRate:MinimumRequests", ProxyOptions.DefaultFailureMinimumRequests, MinFailureRequests, MaxFailureRequests, errors);
        options.FailureSamplingDuration = ReadSeconds(section, "FailureRate:SamplingSeconds", ProxyOptions.DefaultFailureSamplingDuration, errors);
        if (!string.IsNullOrWhiteSpace(section["ResponseHeadersTimeoutSeconds"]))
        {
            // Silently ignoring it would leave an operator believing a slow backend is still cut after that time.
            errors.Add($"{Path(section, "ResponseHeadersTimeoutSeconds")} is no longer read: a backend that accepted a request is no longer cancelled to try another. Use {Path(section, "RequestTimeoutSeconds")} (one deadline per request) instead.");
        }
        options.DefaultThrottleCooldown = ReadSeconds(section, "Cooldown:DefaultSeconds", ProxyOptions.DefaultCooldown, errors);
        options.MaxCooldown = ReadSeconds(section, "Cooldown:MaxSeconds", ProxyOptions.DefaultMaxCooldown, errors);
        options.FailureCooldown = ReadSeconds(section, "Cooldown:FailureSeconds", ProxyOptions.DefaultFailureCooldown, errors);
        options.StateTimeout = ReadMilliseconds(section, "State:TimeoutMilliseconds", ProxyOptions.DefaultStateTimeout, errors);
        options.StateSyncInterval = ReadMilliseconds(section, "State:SyncIntervalMilliseconds", ProxyOptions.DefaultStateSyncInterval, errors);
        options.AffinityExpiry = ReadDuration(section, "Affinity:ExpiryDays", ProxyOptions.DefaultAffinityExpiry, MaxAffinityDays, errors);
        options.ReplayStatefulRequests = ReadBool(section, "Replay:StatefulRequests", false, errors);
        options.Auth = AuthOptionsReader.Read(section, errors);
        options.AllowedOrigins = AllowedOriginsReader.ReadOrigins(section, errors);
        var storage = StorageConnection.FromConfiguration(configuration);
        options.Storage = storage.Connection;
        if (storage.Error is not null)
        {
            errors.Add(storage.Error);
        }

        // Polly's circuit breaker refuses shorter windows and breaks (it validates at start-up, so say which setting).
        if (options.FailureSamplingDuration < MinBreakerDuration)
        {
            errors.Add($"{Path(section, "FailureRate:SamplingSeconds")} must be at least {MinBreakerDuration.TotalSeconds} seconds; got '{section["FailureRate:SamplingSeconds"]}'.");
        }

        if (options.FailureCooldown < MinBreakerDuration)
        {
            errors.Add($"{Path(section, "Cooldown:FailureSeconds")} must be at least {MinBreakerDuration.TotalSeconds} seconds; got '{section["Cooldown:FailureSeconds"]}'.");
        }

        if (options.DefaultThrottleCooldown > options.MaxCooldown)
        {
            errors.Add($"{Path(section, "Cooldown:DefaultSeconds")} ({options.DefaultThrottleCooldown.TotalSeconds}) must not exceed {Path(section, "Cooldown:MaxSeconds")} ({options.MaxCooldown.TotalSeconds}).");
        }

        options.Errors = errors;
    }

    private static List<BackendOptions> ReadBackends(IConfigurationSection section, List<string> errors)
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
            var priority = (int)ReadLong(child, "Priority", ProxyOptions.DefaultPriority, 0, MaxPriority, errors);
            var weight = (int)ReadLong(child, "Weight", ProxyOptions.DefaultWeight, 1, ProxyOptions.MaxWeight, errors);
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
    private static Routing.DeploymentMap? ReadDeployments(IConfigurationSection backend, List<string> errors)
    {
        var section = backend.GetSection("Deployments");
        var entries = section.Value is { } value ? [value] : section.GetChildren().Select(c => c.Value ?? "").ToList();
        return Routing.DeploymentMap.Parse(entries, section.Path, errors);
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
            !(uri.Scheme == Uri.UriSchemeHttps || (uri.Scheme == Uri.UriSchemeHttp && IsLoopback(uri))))
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

    internal static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static long ReadLong(IConfigurationSection section, string key, long fallback, long min, long max, List<string> errors)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        if (!long.TryParse(value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) || parsed < min || parsed > max)
        {
            errors.Add($"{Path(section, key)} must be a whole number from {min} to {max}; got '{value}'.");
            return fallback;
        }

        return parsed;
    }

    private static double ReadRatio(IConfigurationSection section, string key, double fallback, List<string> errors)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        if (!double.TryParse(value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var ratio) || !(ratio > 0) || ratio > 1)
        {
            errors.Add($"{Path(section, key)} must be a number greater than 0 and at most 1; got '{value}'.");
            return fallback;
        }

        return ratio;
    }

    private static TimeSpan ReadDuration(IConfigurationSection section, string key, TimeSpan fallback, double maxDays, List<string> errors)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        if (!double.TryParse(value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var days) || !(days > 0) || days > maxDays)
        {
            errors.Add($"{Path(section, key)} must be a number of days greater than 0 and at most {maxDays}; got '{value}'.");
            return fallback;
        }

        return TimeSpan.FromDays(days);
    }

    private static bool ReadBool(IConfigurationSection section, string key, bool fallback, List<string> errors)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        if (!bool.TryParse(value.Trim(), out var parsed))
        {
            errors.Add($"{Path(section, key)} must be true or false; got '{value}'.");
            return fallback;
        }

        return parsed;
    }

    private static TimeSpan ReadSeconds(IConfigurationSection section, string key, TimeSpan fallback, List<string> errors) =>
        ReadDuration(section, key, fallback, 1, errors, "seconds");

    private static TimeSpan ReadMilliseconds(IConfigurationSection section, string key, TimeSpan fallback, List<string> errors) =>
        ReadDuration(section, key, fallback, 1.0 / 1000, errors, "milliseconds");

    private static TimeSpan ReadDuration(IConfigurationSection section, string key, TimeSpan fallback, double secondsPerUnit, List<string> errors, string unit)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        var maxUnits = MaxSeconds / secondsPerUnit;
        if (!double.TryParse(value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var units) || !(units > 0) || units > maxUnits)
        {
            errors.Add($"{Path(section, key)} must be a number of {unit} greater than 0 and at most {maxUnits}; got '{value}'.");
            return fallback;
        }

        return TimeSpan.FromSeconds(units * secondsPerUnit);
    }

    private static string Path(IConfigurationSection section, string key) => $"{section.Path}:{key}";
}
