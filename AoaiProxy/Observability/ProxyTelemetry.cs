namespace AoaiProxy;

/// <summary>Names a host needs to export the engine's telemetry.</summary>
public static class ProxyTelemetry
{
    /// <summary>The name of the engine's one <see cref="System.Diagnostics.Metrics.Meter"/>.</summary>
    public const string MeterName = Observability.MetricNames.MeterName;
}
