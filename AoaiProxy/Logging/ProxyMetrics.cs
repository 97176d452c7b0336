using System.Diagnostics.Metrics;

namespace AoaiProxy.Logging;

/// <summary>
/// The engine's one <see cref="Meter"/> (created through the host's <see cref="IMeterFactory"/>, so OpenTelemetry or
/// dotnet-counters see it under <see cref="MeterName"/>). Instrument and tag names are the constants below.
/// </summary>
internal sealed class ProxyMetrics
{
    public const string MeterName = "AoaiProxy";

    /// <summary>Relays that the backend ended badly after the caller had the headers: broken off, or stalled past the idle timeout.</summary>
    public const string RelayFailures = "aoaiproxy.relay.failures";

    public const string BackendTag = "backend";

    /// <summary>"broken" (the body broke off) or "stalled" (nothing for the idle timeout).</summary>
    public const string ReasonTag = "reason";

    public const string Broken = "broken";

    public const string Stalled = "stalled";

    private readonly Counter<long> _relayFailures;

    public ProxyMetrics(IMeterFactory meters)
    {
        ArgumentNullException.ThrowIfNull(meters);
        var meter = meters.Create(MeterName);
        _relayFailures = meter.CreateCounter<long>(RelayFailures, "{relay}", "Relays ended by the backend's fault after the response started.");
    }

    public void RelayFailed(string backend, string reason) =>
        _relayFailures.Add(1, new KeyValuePair<string, object?>(BackendTag, backend), new KeyValuePair<string, object?>(ReasonTag, reason));
}
