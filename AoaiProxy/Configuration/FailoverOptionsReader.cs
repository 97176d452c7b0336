using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Configuration;

/// <summary>
/// Reads when an attempt is given up and a backend is set aside: the request deadline and the relay's idle timeout,
/// the failure rate that cools a backend (Proxy:FailureRate), the cooldowns (Proxy:Cooldown) and how long a throttled
/// request may wait for the next window (Proxy:Throttling).
/// </summary>
internal static class FailoverOptionsReader
{
    /// <summary>Polly's circuit breaker needs at least two samples before a ratio means anything.</summary>
    private const int MinFailureRequests = 2;
    private const int MaxFailureRequests = 100_000;

    /// <summary>Polly's lower bound for a sampling window and a break (its options validation refuses less).</summary>
    private static readonly TimeSpan MinBreakerDuration = TimeSpan.FromSeconds(0.5);

    /// <summary>Sets the timeouts, failure rate and cooldowns of <paramref name="options"/> from section Proxy.</summary>
    public static void Read(IConfigurationSection section, ProxyOptions options, List<string> errors)
    {
        options.RequestTimeout = SettingValues.Seconds(section, "RequestTimeoutSeconds", ProxyOptions.DefaultRequestTimeout, errors);
        options.RelayIdleTimeout = SettingValues.Seconds(section, "RelayIdleTimeoutSeconds", ProxyOptions.DefaultRelayIdleTimeout, errors);
        options.FailureRatio = SettingValues.Ratio(section, "FailureRate:Ratio", ProxyOptions.DefaultFailureRatio, errors);
        options.FailureMinimumRequests = (int)SettingValues.WholeNumber(section, "FailureRate:MinimumRequests", ProxyOptions.DefaultFailureMinimumRequests, MinFailureRequests, MaxFailureRequests, errors);
        options.FailureSamplingDuration = SettingValues.Seconds(section, "FailureRate:SamplingSeconds", ProxyOptions.DefaultFailureSamplingDuration, errors);
        if (!string.IsNullOrWhiteSpace(section["ResponseHeadersTimeoutSeconds"]))
        {
            // Silently ignoring it would leave an operator believing a slow backend is still cut after that time.
            errors.Add($"{SettingValues.PathOf(section, "ResponseHeadersTimeoutSeconds")} is no longer read: a backend that accepted a request is no longer cancelled to try another. Use {SettingValues.PathOf(section, "RequestTimeoutSeconds")} (one deadline per request) instead.");
        }

        options.DefaultThrottleCooldown = SettingValues.Seconds(section, "Cooldown:DefaultSeconds", ProxyOptions.DefaultCooldown, errors);
        options.MaxCooldown = SettingValues.Seconds(section, "Cooldown:MaxSeconds", ProxyOptions.DefaultMaxCooldown, errors);
        options.FailureCooldown = SettingValues.Seconds(section, "Cooldown:FailureSeconds", ProxyOptions.DefaultFailureCooldown, errors);
        options.MaxWait = SettingValues.Seconds(section, "Throttling:MaxWaitSeconds", ProxyOptions.DefaultMaxWait, errors, zeroTurnsOff: true);
        options.MaxWaitingRequests = (int)SettingValues.WholeNumber(section, "Throttling:MaxWaitingRequests", ProxyOptions.DefaultMaxWaitingRequests, 0, ProxyOptions.MaxMaxWaitingRequests, errors);

        // Polly's circuit breaker refuses shorter windows and breaks (it validates at start-up, so say which setting).
        AtLeastBreakerDuration(section, "FailureRate:SamplingSeconds", options.FailureSamplingDuration, errors);
        AtLeastBreakerDuration(section, "Cooldown:FailureSeconds", options.FailureCooldown, errors);
    }

    private static void AtLeastBreakerDuration(IConfigurationSection section, string key, TimeSpan value, List<string> errors)
    {
        if (value < MinBreakerDuration)
        {
            errors.Add($"{SettingValues.PathOf(section, key)} must be at least {MinBreakerDuration.TotalSeconds} seconds; got '{section[key]}'.");
        }
    }
}
