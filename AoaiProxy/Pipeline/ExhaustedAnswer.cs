using System.Globalization;
using System.Text;
using AoaiProxy.Configuration;
using AoaiProxy.Planning;
using AoaiProxy.State;
using AoaiProxy.Throttling;

namespace AoaiProxy.Pipeline;

/// <summary>The proxy's own answer when no backend's answer could be relayed.</summary>
/// <param name="Outcome">429, 502 or 504 (see <see cref="ProxyOutcomes"/>).</param>
/// <param name="Message">Says what happened to each backend.</param>
/// <param name="RetryAfter">The shortest remaining cooldown, if any.</param>
/// <param name="Attempts">How many backends the request was sent to.</param>
internal readonly record struct ExhaustedAnswer(ProxyOutcome Outcome, string Message, TimeSpan? RetryAfter, int Attempts)
{
    /// <summary>
    /// Pure: which answer the caller gets, from the plan, the attempts' outcomes, each backend's cooldown for this
    /// request (as known at the end) and <paramref name="now"/>. 429 when throttling was among the causes (an attempt's
    /// 429, or a backend left out while cooling for throttling); 504 when timeouts were all there was (attempts past the
    /// deadline, backends cooling for timeouts); otherwise 502.
    /// </summary>
    public static ExhaustedAnswer Decide(
        IReadOnlyList<BackendOptions> backends, AttemptPlan plan, IReadOnlyList<AttemptOutcome> outcomes,
        IReadOnlyList<Cooldown?> cooldowns, DateTimeOffset now, string? deployment)
    {
        ArgumentNullException.ThrowIfNull(backends);
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(outcomes);
        ArgumentNullException.ThrowIfNull(cooldowns);

        var throttled = false;
        var onlyTimeouts = true;
        var attempts = 0;
        var failures = new List<string>(outcomes.Count + plan.Cooling.Count);

        // Plain loops over the lists: no closure or boxed enumerator per exhausted request.
        for (var n = 0; n < plan.Cooling.Count; n++)
        {
            var reason = ActiveReason(cooldowns[plan.Cooling[n]], now);
            throttled |= reason == CooldownReason.Throttled;
            onlyTimeouts &= reason == CooldownReason.TimedOut;
        }

        for (var n = 0; n < outcomes.Count; n++)
        {
            var o = outcomes[n];
            attempts += o.Sent ? 1 : 0;
            if (o.Error == AttemptError.Cooling)
            {
                var reason = ActiveReason(cooldowns[o.Backend], now);
                throttled |= reason == CooldownReason.Throttled;
                onlyTimeouts &= reason == CooldownReason.TimedOut;
            }
            else
            {
                throttled |= o.Error == AttemptError.Throttled;
                onlyTimeouts &= o.Error == AttemptError.DeadlineExceeded;
            }

            failures.Add(backends[o.Backend].Name + ": " + Describe(o));
        }

        TimeSpan? shortest = null;
        for (var i = 0; i < cooldowns.Count; i++)
        {
            if (cooldowns[i] is { } c && c.Until > now && (shortest is null || c.Until - now < shortest))
            {
                shortest = c.Until - now;
            }
        }

        var outcome = throttled ? ProxyOutcome.Throttled : onlyTimeouts ? ProxyOutcome.BackendsTimedOut : ProxyOutcome.BackendsFailed;
        var what = outcome switch
        {
            ProxyOutcome.Throttled => "throttled or unavailable",
            ProxyOutcome.BackendsTimedOut => "timed out",
            _ => "unavailable",
        };
        var message = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"All {backends.Count} backends are {what}")
            .Append(deployment is null ? "" : $" for deployment '{deployment}'")
            .Append(shortest is { } s ? string.Create(CultureInfo.InvariantCulture, $"; retry after {CooldownPolicy.RetryAfterSeconds(s)} seconds") : "")
            .Append(failures.Count == 0 ? " (every backend is cooling down)." : $" ({string.Join(", ", failures)}).")
            .ToString();
        return new ExhaustedAnswer(outcome, message, shortest, attempts);
    }

    private static CooldownReason? ActiveReason(Cooldown? cooldown, DateTimeOffset now) =>
        cooldown is { } c && c.Until > now ? c.Reason : null;

    private static string Describe(AttemptOutcome outcome) => outcome.Error switch
    {
        AttemptError.Throttled => "429",
        AttemptError.FailureStatus => outcome.Status.ToString(CultureInfo.InvariantCulture),
        AttemptError.NotStarted => "not reachable",
        AttemptError.Transport => "transport error",
        AttemptError.DeadlineExceeded => "timed out",
        AttemptError.Cooling => "cooling down",
        AttemptError.NoCredential => "no proxy token",
        _ => outcome.Error.ToString(),
    };
}
