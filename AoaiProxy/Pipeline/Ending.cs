using System.Globalization;
using System.Text;
using AoaiProxy.Affinity;
using AoaiProxy.Answers;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Planning;
using AoaiProxy.State;

namespace AoaiProxy.Pipeline;

/// <summary>How a request ends when no backend's answer is relayed.</summary>
internal enum EndingKind
{
    /// <summary>The caller went away: nothing is written.</summary>
    CallerGone,

    /// <summary>The caller's body could not be received (or stored) during the attempts: answered as that failure.</summary>
    BodyFailed,

    /// <summary>A request that creates or changes a stateful object failed after it may have run: 502/504 naming the backend.</summary>
    NotReplayed,

    /// <summary>No attempt could be sent because the proxy has no token of its own for the backends: 503.</summary>
    IdentityUnavailable,

    /// <summary>Every candidate was cooling or failed: 429, 502 or 504.</summary>
    Exhausted,

    /// <summary>
    /// Every candidate is throttled and one's window reopens within the request's wait budget: it waits for it
    /// (the ending carries the 429 it gets if the wait does not end well).
    /// </summary>
    Wait,
}

/// <summary>What the ending is decided from: the request's plan, what its attempts did and the cooldowns as they are now.</summary>
/// <param name="Backends">The configured backends.</param>
/// <param name="Plan">The request's plan.</param>
/// <param name="Outcomes">Each attempt's outcome, in order; the last one is the one that stopped the attempts.</param>
/// <param name="Cooldowns">Each backend's cooldown for this request now (null for backends that could not serve it).</param>
/// <param name="Now">The current time.</param>
/// <param name="Deployment">The request's deployment, if any.</param>
/// <param name="Kind">What the request does (a stateful request is not replayed after it may have run).</param>
/// <param name="ReplayStateful">Proxy:Replay:StatefulRequests.</param>
/// <param name="Unavailable">The proxy's own credential, when it could not be obtained for some attempt.</param>
/// <param name="Candidates">How many backends could serve the request (its deployment's); null: all of them.</param>
/// <param name="Holder">The object id when the request was bound to the backend holding it.</param>
/// <param name="Body">How the caller's body failed, when it did.</param>
/// <param name="WaitBudget">How long the request may still wait for a throttled window (zero: it may not).</param>
/// <param name="NotReopening">Backends whose window refused the request released to it when it reopened: not waited for.</param>
internal readonly record struct EndingFacts(
    IReadOnlyList<BackendOptions> Backends, AttemptPlan Plan, IReadOnlyList<AttemptOutcome> Outcomes, IReadOnlyList<Cooldown?> Cooldowns,
    DateTimeOffset Now, string? Deployment, RequestKind Kind = RequestKind.Inference, bool ReplayStateful = false,
    BackendCredential? Unavailable = null, int? Candidates = null, string? Holder = null, BodyFailure? Body = null,
    TimeSpan WaitBudget = default, IReadOnlyList<bool>? NotReopening = null);

/// <summary>The proxy's own answer when no backend's answer could be relayed.</summary>
/// <param name="Kind">Which ending it is.</param>
/// <param name="Outcome">The answer (see <see cref="ProxyOutcomes"/>).</param>
/// <param name="Message">Says what happened to each backend.</param>
/// <param name="RetryAfter">When to retry: the shortest remaining cooldown, or the proxy token's retry time.</param>
/// <param name="Attempts">How many backends the request was sent to.</param>
internal readonly record struct Ending(EndingKind Kind, ProxyOutcome Outcome, string Message, TimeSpan? RetryAfter, int Attempts)
{
    /// <summary>
    /// Pure: the one decision of how a request ends when nothing was relayed. The caller gone: nothing to answer. The
    /// caller's body failed: answered as that failure, whatever the attempts met. A stateful request stopped by an attempt
    /// that may have run it: not replayed. Nothing sent for want of the proxy's own token: 503. Otherwise exhausted (see
    /// <see cref="Exhausted"/>).
    /// </summary>
    public static Ending Decide(in EndingFacts facts)
    {
        ArgumentNullException.ThrowIfNull(facts.Outcomes);
        var outcomes = facts.Outcomes;
        var attempts = 0;
        for (var n = 0; n < outcomes.Count; n++)
        {
            attempts += outcomes[n].Sent ? 1 : 0;
        }

        AttemptOutcome? last = outcomes.Count > 0 ? outcomes[^1] : null;
        if (last is { Error: AttemptError.CallerGone })
        {
            return new Ending(EndingKind.CallerGone, ProxyOutcome.CallerGone, "", null, attempts);
        }

        if (facts.Body is { } body)
        {
            return new Ending(EndingKind.BodyFailed, body.Kind switch
            {
                BodyFailureKind.CallerGone => ProxyOutcome.CallerGone,
                BodyFailureKind.Malformed => ProxyOutcome.BadRequest,
                BodyFailureKind.TooLarge => ProxyOutcome.BodyTooLarge,
                _ => ProxyOutcome.ProxyFailure,
            }, body.Message, null, attempts);
        }

        if (facts.Kind == RequestKind.Stateful && last is { MayHaveRun: true } stopped && !facts.ReplayStateful)
        {
            return NotReplayed(facts.Backends, stopped, attempts);
        }

        if (attempts == 0 && facts.Unavailable is { } missing)
        {
            return new Ending(EndingKind.IdentityUnavailable, ProxyOutcome.ProxyIdentityUnavailable,
                $"The proxy could not obtain its own Entra ID token to call the backends ({missing.Failure}). " +
                "This is a problem of the proxy's identity, not of the request; the proxy's log has the details.", missing.RetryAfter, 0);
        }

        var exhausted = Exhausted(facts.Backends, facts.Plan, outcomes, facts.Cooldowns, facts.Now, facts.Deployment, facts.Candidates, facts.Holder);
        return exhausted.Outcome == ProxyOutcome.Throttled && Reopens(facts) is { } wait && wait <= facts.WaitBudget
            ? exhausted with { Kind = EndingKind.Wait, RetryAfter = wait }
            : exhausted;
    }

    /// <summary>How soon a throttled window of a candidate reopens, of those that do reopen; null when none does.</summary>
    private static TimeSpan? Reopens(in EndingFacts facts)
    {
        if (facts.WaitBudget <= TimeSpan.Zero)
        {
            return null;
        }

        TimeSpan? soonest = null;
        for (var i = 0; i < facts.Cooldowns.Count; i++)
        {
            if (facts.Cooldowns[i] is { Reason: CooldownReason.Throttled } c && c.Until > facts.Now && facts.NotReopening?[i] != true &&
                (soonest is null || c.Until - facts.Now < soonest))
            {
                soonest = c.Until - facts.Now;
            }
        }

        return soonest;
    }

    /// <summary>
    /// Pure: the answer when every candidate was cooling or failed, from the plan, the attempts' outcomes, each backend's cooldown for this
    /// request (as known at the end) and <paramref name="now"/>. 429 when throttling was among the causes (an attempt's
    /// 429, or a backend left out while cooling for throttling); 504 when timeouts were all there was (attempts past the
    /// deadline, backends cooling for timeouts); otherwise 502.
    /// </summary>
    /// <param name="backends">The configured backends.</param>
    /// <param name="plan">The request's plan.</param>
    /// <param name="outcomes">Each attempt's outcome.</param>
    /// <param name="cooldowns">Each backend's cooldown for this request (null for backends that could not serve it).</param>
    /// <param name="now">The current time.</param>
    /// <param name="deployment">The request's deployment, if any.</param>
    /// <param name="candidates">How many backends could serve the request (its deployment's); null: all of them.</param>
    /// <param name="holder">The object id when the request was bound to the backend holding it.</param>
    public static Ending Exhausted(
        IReadOnlyList<BackendOptions> backends, AttemptPlan plan, IReadOnlyList<AttemptOutcome> outcomes,
        IReadOnlyList<Cooldown?> cooldowns, DateTimeOffset now, string? deployment, int? candidates = null, string? holder = null)
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
                onlyTimeouts &= o.Error is AttemptError.DeadlineExceeded or AttemptError.DeadlineWaitingForCaller;
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
        var subject = holder is not null && (plan.Attempts.Count > 0 || plan.Cooling.Count > 0)
            ? $"Backend '{backends[plan.Attempts.Count > 0 ? plan.Attempts[0] : plan.Cooling[0]].Name}', which holds object '{holder}', is {what}"
            : $"All {candidates ?? backends.Count} backends are {what}";
        var message = new StringBuilder()
            .Append(subject)
            .Append(deployment is null ? "" : $" for deployment '{deployment}'")
            .Append(shortest is { } s ? string.Create(CultureInfo.InvariantCulture, $"; retry after {Answers.RetryAfter.Seconds(s)} seconds") : "")
            .Append(failures.Count == 0 ? " (every backend is cooling down)." : $" ({string.Join(", ", failures)}).")
            .ToString();
        return new Ending(EndingKind.Exhausted, outcome, message, shortest, attempts);
    }

    /// <summary>
    /// Pure: the answer when a request that creates or changes a stateful object failed on a backend that may have run
    /// it (Proxy:Replay:StatefulRequests is off): 504 for a timeout, 502 otherwise, naming the backend.
    /// </summary>
    public static Ending NotReplayed(IReadOnlyList<BackendOptions> backends, AttemptOutcome outcome, int attempts)
    {
        ArgumentNullException.ThrowIfNull(backends);
        var name = backends[outcome.Backend].Name;
        var result = outcome.Error is AttemptError.DeadlineExceeded or AttemptError.DeadlineWaitingForCaller ? ProxyOutcome.BackendsTimedOut : ProxyOutcome.BackendsFailed;
        var message = $"Backend '{name}' failed ({Describe(outcome)}) after it may have run the request. The request creates or " +
            "changes a stateful object, so it was not replayed on another backend: check whether the object exists or changed before retrying.";
        return new Ending(EndingKind.NotReplayed, result, message, null, attempts);
    }

    private static CooldownReason? ActiveReason(Cooldown? cooldown, DateTimeOffset now) =>
        cooldown is { } c && c.Until > now ? c.Reason : null;

    private static string Describe(AttemptOutcome outcome) => outcome.Error switch
    {
        AttemptError.Throttled => "429",
        AttemptError.FailureStatus => outcome.Status.ToString(CultureInfo.InvariantCulture),
        AttemptError.NotFinal => outcome.Status.ToString(CultureInfo.InvariantCulture) + ", not a final answer",
        AttemptError.NotStarted => "not reachable",
        AttemptError.Transport => "transport error",
        AttemptError.DeadlineExceeded or AttemptError.DeadlineWaitingForCaller => "timed out",
        AttemptError.Cooling => "cooling down",
        AttemptError.NoCredential => "no proxy token",
        AttemptError.ObjectNotHeld => "404, does not hold the object",
        _ => outcome.Error.ToString(),
    };
}
