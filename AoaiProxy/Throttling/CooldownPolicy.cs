using System.Net;
using AoaiProxy.Configuration;
using AoaiProxy.State;

namespace AoaiProxy.Throttling;

/// <summary>Cooldown arithmetic. Pure: every input, including <c>now</c>, is a parameter.</summary>
internal static class CooldownPolicy
{
    /// <summary>
    /// Statuses that move a request to the next backend. A 429 cools the one that answered at once; the others count
    /// towards its failure rate (<see cref="FailureRate"/>).
    /// </summary>
    public static bool IsFailover(HttpStatusCode status) => status is
        HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout or HttpStatusCode.InternalServerError or
        HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout;

    /// <summary>The cooldown after a 429: the backend's own request if any, else the default; capped.</summary>
    public static Cooldown ForThrottle(TimeSpan? requested, DateTimeOffset now, ProxyOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var delay = requested ?? options.DefaultThrottleCooldown;
        if (delay > options.MaxCooldown)
        {
            delay = options.MaxCooldown;
        }

        return new Cooldown(now + delay, CooldownReason.Throttled);
    }
}
