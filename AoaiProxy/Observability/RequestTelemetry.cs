namespace AoaiProxy.Observability;

/// <summary>
/// What the metrics need to know about one request across the flow (who asked, for which deployment, which backend
/// answered, when its attempt started, the usage in its answer). Kept as a feature of the request's HttpContext so that
/// each step records its part with one call and nothing is threaded through the pipeline's signatures.
/// </summary>
internal sealed class RequestTelemetry
{
    public string? Caller { get; set; }

    /// <summary>A CORS preflight the proxy answered itself: the browser's protocol, not a request to count.</summary>
    public bool Preflight { get; set; }

    public string? Deployment { get; set; }

    public string? Backend { get; set; }

    /// <summary>Timestamp (TimeProvider) of the attempt being relayed, until its first body byte is recorded.</summary>
    public long? AttemptStarted { get; set; }

    public TokenUsageReader Usage { get; } = new();
}
