using System.Globalization;
using AoaiProxy.Answers;
using AoaiProxy.Auth;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Observability;

/// <summary>
/// What the metrics need to know about one request across the flow (who asked, for which deployment, which backend
/// answered, when its attempt started, the usage in its answer). Kept as a feature of the request's HttpContext so that
/// each step records its part with one call and nothing is threaded through the pipeline's signatures;
/// <see cref="ProxyMetrics.RequestCompleted"/> reads it back.
/// </summary>
internal sealed class RequestTelemetry : IRequestOutcomeFeature
{
    /// <inheritdoc/>
    public ProxyOutcome? Outcome { get; set; }

    public string? Caller { get; set; }

    /// <summary>A CORS preflight the proxy answered itself: the browser's protocol, not a request to count.</summary>
    public bool Preflight { get; set; }

    public string? Deployment { get; set; }

    public string? Backend { get; set; }

    /// <summary>Timestamp (TimeProvider) of the attempt being relayed, until its first body byte is recorded.</summary>
    public long? AttemptStarted { get; set; }

    public TokenUsageReader Usage { get; } = new();

    /// <summary>Starts a request's telemetry.</summary>
    public static void RequestStarted(HttpContext context)
    {
        var telemetry = new RequestTelemetry();
        context.Features.Set(telemetry);
        context.Features.Set<IRequestOutcomeFeature>(telemetry);
    }

    /// <summary>Remembers who the caller is, for token usage: an Entra object id or app id, or <c>key:N</c> for client key N.</summary>
    public static void CallerIdentified(HttpContext context, CallerCheck caller)
    {
        if (context.Features.Get<RequestTelemetry>() is { } telemetry)
        {
            telemetry.Caller = CallerLabel(caller);
        }
    }

    /// <summary>The request was a CORS preflight and has been answered: it is not counted among the requests.</summary>
    public static void PreflightAnswered(HttpContext context)
    {
        if (context.Features.Get<RequestTelemetry>() is { } telemetry)
        {
            telemetry.Preflight = true;
        }
    }

    /// <summary>Remembers the deployment the request is for (null: none named).</summary>
    public static void DeploymentResolved(HttpContext context, string? deployment)
    {
        if (context.Features.Get<RequestTelemetry>() is { } telemetry)
        {
            telemetry.Deployment = deployment;
        }
    }

    /// <summary>
    /// The relay starts for <paramref name="backend"/>; the returned reader watches the relayed bytes for the usage object
    /// (decoding a compressed answer up to <paramref name="maxDecodedBytes"/>).
    /// </summary>
    public static TokenUsageReader RelayStarted(HttpContext context, string backend, long maxDecodedBytes)
    {
        var telemetry = context.Features.Get<RequestTelemetry>();
        if (telemetry is not null)
        {
            telemetry.Backend = backend;

            // The relay has copied the backend's headers: a compressed answer is decoded for the scan.
            telemetry.Usage.UseEncoding(context.Response.Headers.ContentEncoding.ToString(), maxDecodedBytes);
        }

        return telemetry?.Usage ?? new TokenUsageReader();
    }

    /// <summary>The tag value for a caller: ids only, never a key or a token.</summary>
    internal static string CallerLabel(CallerCheck caller)
    {
        if (caller.ClientKeyIndex is { } key)
        {
            return "key:" + key.ToString(CultureInfo.InvariantCulture);
        }

        return caller.Caller switch
        {
            { ObjectId: { Length: > 0 } oid } => oid,
            { AppId: { Length: > 0 } app } => app,
            _ => MetricNames.AnonymousCaller,
        };
    }
}
