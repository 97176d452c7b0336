using AoaiProxy.Answers;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Observability;

/// <summary>The <see cref="MetricNames.Tags.Outcome"/> of a finished request, derived from the answer the caller got.</summary>
internal static class StatusOutcome
{
    public static string OutcomeOf(HttpContext context, int status)
    {
        if (context.RequestAborted.IsCancellationRequested)
        {
            return MetricNames.Outcomes.Cancelled;
        }

        // A relayed answer names its backend; everything else was written by the proxy itself.
        if (context.Response.Headers.ContainsKey(ProxyHeaders.Backend))
        {
            return MetricNames.Outcomes.Served;
        }

        return status switch
        {
            StatusCodes.Status429TooManyRequests => MetricNames.Outcomes.Throttled,
            StatusCodes.Status504GatewayTimeout => MetricNames.Outcomes.TimedOut,
            StatusCodes.Status503ServiceUnavailable => MetricNames.Outcomes.Unavailable,
            >= 500 => MetricNames.Outcomes.Failed,
            >= 400 => MetricNames.Outcomes.Refused,
            _ => MetricNames.Outcomes.Served,
        };
    }
}
