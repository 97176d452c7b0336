using System.Net;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Planning;
using AoaiProxy.State;
using AoaiProxy.Throttling;

namespace AoaiProxy.Pipeline;

/// <summary>What the attempts of a request came to: the answer to relay, if a backend gave one.</summary>
/// <param name="Response">A good answer, open, to relay; null when none came.</param>
/// <param name="Backend">The backend that gave it.</param>
/// <param name="Attempt">Which send it was (x-proxy-attempts).</param>
/// <param name="Unavailable">The proxy's own credential, when it could not be obtained for some candidate.</param>
internal readonly record struct AttemptsResult(HttpResponseMessage? Response, int Backend, int Attempt, BackendCredential? Unavailable);

/// <summary>
/// The failover loop: tries the plan's backends in order, each at most once, until one gives an answer to relay or an
/// outcome allows no next candidate. Each outcome goes to <see cref="BackendHealth"/> as it happens and into the list the
/// ending is decided from; the loop decides nothing else.
/// </summary>
internal sealed class AttemptLoop
{
    private readonly ProxyOptions _options;
    private readonly SharedState _state;
    private readonly BackendAttempt _attempt;
    private readonly BackendHealth _health;
    private readonly BackendCredentials _credentials;
    private readonly HeadroomBook _headroom;
    private readonly TimeProvider _time;

    public AttemptLoop(
        ProxyOptions options, SharedState state, BackendAttempt attempt, BackendHealth health, BackendCredentials credentials, HeadroomBook headroom,
        TimeProvider time)
    {
        _options = options;
        _state = state;
        _attempt = attempt;
        _health = health;
        _credentials = credentials;
        _headroom = headroom;
        _time = time;
    }

    /// <param name="request">The admitted, routed request.</param>
    /// <param name="plan">Its plan.</param>
    /// <param name="outcomes">Receives every candidate's outcome, in order.</param>
    /// <param name="released">
    /// The backend a wait released the request to (first in the plan), and its place in that backend's ledger, taken when
    /// it was released: sent to without another look at its cooldown.
    /// </param>
    public async Task<AttemptsResult> RunAsync(AttemptRequest request, AttemptPlan plan, List<AttemptOutcome> outcomes, (int Backend, Headroom.Ticket? Ticket)? released = null)
    {
        var sent = 0;
        BackendCredential? unavailable = null;

        // Indexed loops over the plan: a foreach over IReadOnlyList boxes an enumerator on every request.
        for (var n = 0; n < plan.Attempts.Count; n++)
        {
            var index = plan.Attempts[n];
            var backend = _options.Backends[index];

            // Another request may have cooled it since the plan was made (a panic attempt goes ahead knowingly, and so does a
            // request released to this backend: its place in the window is taken).
            var scope = CooldownScope.Of(request.Deployment);
            var isReleased = released is { } r && r.Backend == index;
            if (!plan.Panic && !isReleased && CooldownLookup.For(_state.Cooldowns, backend.Name, request.Deployment) is { } late &&
                BackendFit.Of(late, _headroom.Of(backend.Name, scope), request.Cost, _time.GetUtcNow()) == Fit.Cooling)
            {
                outcomes.Add(new AttemptOutcome(index, AttemptError.Cooling));
                continue;
            }

            var credential = await _credentials.ForAsync(backend, request.ByClientKey, request.Context.RequestAborted).ConfigureAwait(false);
            if (credential.Kind == BackendCredentialKind.Unavailable)
            {
                // The proxy's own problem: the backend is neither called nor cooled.
                unavailable = credential;
                outcomes.Add(new AttemptOutcome(index, AttemptError.NoCredential));
                continue;
            }

            sent++;
            var ticket = isReleased ? released!.Value.Ticket : request.Cost is { } cost ? _headroom.Send(backend.Name, scope, cost) : null;
            var (outcome, response) = await _attempt.SendAsync(request, index, sent, credential, ticket).ConfigureAwait(false);
            await _health.AttemptEndedAsync(request.Context, request.Deployment, outcome).ConfigureAwait(false);
            if (response is not null && MayBeHeldElsewhere(request, response.StatusCode, n, plan))
            {
                response.Dispose();
                outcomes.Add(outcome with { Error = AttemptError.ObjectNotHeld });
                continue;
            }

            outcomes.Add(outcome);
            if (response is not null)
            {
                return new AttemptsResult(response, index, sent, unavailable);
            }

            if (!outcome.AllowsNext(request.Route.Kind, _options.ReplayStatefulRequests))
            {
                break;
            }
        }

        return new AttemptsResult(null, -1, sent, unavailable);
    }

    /// <summary>
    /// A 404 for an object the proxy has no record of: the next backend may hold it. The last backend's 404 is relayed,
    /// unless a backend was left out while cooling (it may hold it): then the caller is told to retry.
    /// </summary>
    private static bool MayBeHeldElsewhere(AttemptRequest request, HttpStatusCode status, int n, AttemptPlan plan) =>
        request.Route.Probing && status == HttpStatusCode.NotFound && (n < plan.Attempts.Count - 1 || plan.Cooling.Count > 0);
}
