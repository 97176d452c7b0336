using System.Globalization;
using AoaiProxy.Affinity;
using AoaiProxy.Answers;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Logging;
using AoaiProxy.Observability;
using AoaiProxy.Planning;
using AoaiProxy.State;
using AoaiProxy.Throttling;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Pipeline;

/// <summary>
/// One request, one way through; this class only sequences the steps: admission (<see cref="Admission"/>), route
/// (<see cref="RequestRouter"/>), attempts (<see cref="AttemptLoop"/>, or <see cref="ListFanOut"/> for a list to merge),
/// then the relay of a good answer (<see cref="ResponseRelay"/>) or the ending (<see cref="Ending.Decide"/>, pure).
/// </summary>
internal sealed class ProxyHandler : IAzureOpenAIProxy
{
    private readonly ProxyOptions _options;
    private readonly SharedState _state;
    private readonly TimeProvider _time;
    private readonly ILogger<ProxyHandler> _logger;
    private readonly CrossOriginPolicy? _crossOrigin;
    private readonly ProxyMetrics _metrics;
    private readonly Admission _admission;
    private readonly RequestRouter _router;
    private readonly ObjectRouter _objects;
    private readonly AttemptLoop _attempts;
    private readonly ListFanOut _lists;
    private readonly BackendHealth _health;
    private readonly ResponseRelay _relay;
    private readonly WaitRoom _waits;
    private readonly ExhaustedLog _exhausted;

    /// <summary>The part of the request's deadline a wait leaves to the attempt after it.</summary>
    private const int DeadlineShareForTheAttempt = 4;

    public ProxyHandler(
        ProxyOptions options, SharedState state, BackendClient client, TimeProvider time, ILogger<ProxyHandler> logger,
        CallerAuthenticator callers, BackendCredentials credentials, BackendHealth health, HeadroomBook headroom, WaitRoom waits, ProxyMetrics metrics,
        ObjectAffinity affinity, CrossOriginPolicy? crossOrigin = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _options = options;
        _state = state;
        _time = time;
        _logger = logger;
        _crossOrigin = crossOrigin;
        _metrics = metrics;
        _health = health;
        _waits = waits;
        _exhausted = new ExhaustedLog(logger, time);
        var attempt = new BackendAttempt(options, client.Invoker, time);
        _admission = new Admission(options, callers, logger);
        _objects = new ObjectRouter(options, affinity, time, logger);
        _router = new RequestRouter(options, state, _objects, headroom, time, logger);
        _attempts = new AttemptLoop(options, state, attempt, health, credentials, headroom, time);
        _lists = new ListFanOut(options, attempt, health, credentials);
        _relay = new ResponseRelay(options, logger, metrics);
    }

    public async Task ProxyAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        RequestTelemetry.RequestStarted(context);
        try
        {
            await HandleAsync(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The caller went away: nothing to answer and nobody to blame.
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's own limits (e.g. its body size limit) and malformed framing surface here.
            var outcome = ex.StatusCode == StatusCodes.Status413PayloadTooLarge ? ProxyOutcome.BodyTooLarge : ProxyOutcome.BadRequest;
            Log.RequestRejected(_logger, ex.Message);
            await ErrorResponse.WriteAsync(context, outcome, outcome == ProxyOutcome.BodyTooLarge
                ? $"The request body exceeds the proxy's limit of {_options.MaxRequestBodyBytes} bytes."
                : "The request could not be read: " + ex.Message).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Last resort: a defect of the proxy itself. Never an empty 500: answer in Azure's shape if nothing was sent
            // yet, otherwise abort so the caller does not take a cut-off body for a complete one.
            Log.UnexpectedFailure(_logger, ex.GetType().Name, ex.Message, context.Response.HasStarted);
            if (context.Response.HasStarted)
            {
                context.Abort();
                return;
            }

            context.Response.Headers.Clear();
            await ErrorResponse.WriteAsync(context, ProxyOutcome.ProxyFailure,
                "The proxy failed to handle the request (" + ex.GetType().Name + "); it has been logged.").ConfigureAwait(false);
        }
        finally
        {
            // Outcome from the status answered and x-proxy-backend, whichever step answered.
            _metrics.RequestCompleted(context);
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var started = _time.GetTimestamp();

        // A browser's preflight carries no credentials: it is answered before caller authentication (CrossOriginPolicy).
        if (_crossOrigin is not null && _crossOrigin.AnsweredPreflight(context))
        {
            return;
        }

        if (await _admission.AdmitAsync(context).ConfigureAwait(false) is not { } admitted)
        {
            return;
        }

        await using var body = admitted.Body;
        if (await _router.RouteAsync(context, admitted).ConfigureAwait(false) is not { } routed)
        {
            return;
        }

        // Attempts, under one deadline for the whole request; between rounds, a throttled request may wait.
        using var cancellation = new RequestCancellation(_options.RequestTimeout - _time.GetElapsedTime(started), _time, context.RequestAborted);
        var request = new AttemptRequest(context, admitted.Path, routed.Deployment, body, admitted.HasBody, cancellation, routed.Route,
            admitted.ByClientKey, routed.Model, routed.Cost);
        var outcomes = new List<AttemptOutcome>(routed.Plan.Attempts.Count);
        var rounds = new Rounds(started);
        var plan = routed.Plan;
        if ((plan.OnlyStrained || _waits.HasWaiters(routed.Deployment)) && WaitBudget(rounds) > TimeSpan.Zero)
        {
            // First come, first served: behind the requests already waiting for this deployment's next window. And a
            // request that no backend reports room for waits for one rather than spend a 429 on each.
            if (await WaitAsync(request, routed, rounds, Ending.Decide(Facts(request, routed, plan, outcomes, rounds, wait: false))).ConfigureAwait(false) is not { } first)
            {
                return;
            }

            plan = first;
        }

        while (true)
        {
            var result = await AttemptAsync(request, plan, outcomes, rounds).ConfigureAwait(false);
            if (result is null)
            {
                return;
            }

            if (result.Value.Response is { } response)
            {
                using (response)
                {
                    await RelayAsync(request, result.Value.Backend, rounds.Sent + result.Value.Attempt, rounds, response).ConfigureAwait(false);
                }

                return;
            }

            var ending = Ending.Decide(Facts(request, routed, plan, outcomes, rounds, wait: true, result.Value.Unavailable));
            if (ending.Kind != EndingKind.Wait)
            {
                await EndAsync(request, routed, outcomes, rounds, ending).ConfigureAwait(false);
                return;
            }

            if (await WaitAsync(request, routed, rounds, ending).ConfigureAwait(false) is not { } next)
            {
                return;
            }

            rounds.Sent += outcomes.Count(o => o.Sent);
            outcomes.Clear();
            plan = next;
        }
    }

    /// <summary>One round of attempts over the plan (a list fan-out for a first list page); null when it answered itself.</summary>
    private async Task<AttemptsResult?> AttemptAsync(AttemptRequest request, AttemptPlan plan, List<AttemptOutcome> outcomes, Rounds rounds)
    {
        if (!request.Route.MergesList)
        {
            var result = await _attempts.RunAsync(request, plan, outcomes, rounds.Released).ConfigureAwait(false);
            if (rounds.Released is { } released)
            {
                // The window it was released to refused it, and says nothing of what it has left: a backend that refuses
                // everything (a reopened window reports its counts, and a request that did not fit it waits again).
                if (outcomes.Any(o => o.Backend == released.Backend && o.Error == AttemptError.Throttled && o.Left == default))
                {
                    _waits.ReleaseRefused(released.Backend, request.Deployment);
                }

                rounds.Released = null;
            }

            return result;
        }

        // A first list page: every available backend answers, merged (ListMerge). Only when none could is there an ending.
        var (answered, unavailable) = await _lists.ListAsync(plan, request, outcomes).ConfigureAwait(false);
        return answered ? null : new AttemptsResult(null, -1, 0, unavailable);
    }

    /// <summary>
    /// Waits for a throttled deployment's next window, then plans again with the backend it was released to first; null
    /// when the wait did not end well (answered: the honest 429, or nothing for a caller gone).
    /// </summary>
    private async Task<AttemptPlan?> WaitAsync(AttemptRequest request, RoutedRequest routed, Rounds rounds, Ending ending)
    {
        var wait = await _waits.WaitAsync(routed.Deployment, routed.Cost, routed.Eligible, WaitBudget(rounds), request.Context.RequestAborted).ConfigureAwait(false);
        rounds.Waited += wait.Waited;
        _metrics.WaitEnded(routed.Deployment, wait.End switch
        {
            WaitEnd.Released => MetricNames.WaitResults.Released,
            WaitEnd.Full => MetricNames.WaitResults.Full,
            WaitEnd.ShuttingDown => MetricNames.WaitResults.ShuttingDown,
            WaitEnd.CallerGone => MetricNames.WaitResults.Cancelled,
            _ => MetricNames.WaitResults.TimedOut,
        }, wait.Waited);
        if (wait.End != WaitEnd.Released)
        {
            await RefuseAfterWaitAsync(request, routed, rounds, ending, wait).ConfigureAwait(false);
            return null;
        }

        Log.WaitEnded(_logger, routed.Deployment ?? CooldownScope.NoDeployment, (long)wait.Waited.TotalMilliseconds, _options.Backends[wait.Backend].Name);
        rounds.Released = (wait.Backend, wait.Ticket);
        var plan = await _router.PlanAsync(routed.Deployment, routed.Eligible, routed.Cost, request.Context.RequestAborted).ConfigureAwait(false);

        // The backend it was released to first; then only those that report room (the room found none better): a 429 on
        // the released one sends it back to wait rather than on to spend one on each.
        return plan with
        {
            Attempts = [wait.Backend, .. plan.Attempts.Where(i => i != wait.Backend && !plan.Strained.Contains(i))],
            Cooling = [.. plan.Cooling.Where(i => i != wait.Backend)],
            Strained = [],
        };
    }

    /// <summary>How long the request may still wait: what is left of Proxy:Throttling:MaxWaitSeconds and of its deadline.</summary>
    private TimeSpan WaitBudget(Rounds rounds)
    {
        // The wait ends well before the deadline: the attempt after it needs time for its answer's headers.
        var deadline = _options.RequestTimeout - _time.GetElapsedTime(rounds.Started) - (_options.RequestTimeout / DeadlineShareForTheAttempt);
        var budget = _options.MaxWait - rounds.Waited;
        return budget < deadline ? budget : deadline;
    }

    private EndingFacts Facts(AttemptRequest request, RoutedRequest routed, AttemptPlan plan, List<AttemptOutcome> outcomes, Rounds rounds, bool wait,
        BackendCredential? unavailable = null)
    {
        var eligible = routed.Eligible;
        return new EndingFacts(
            _options.Backends, plan, outcomes, CooldownLookup.ForEach(_state.Cooldowns, _options.Backends, routed.Deployment, eligible),
            _time.GetUtcNow(), routed.Deployment, routed.Route.Kind, _options.ReplayStatefulRequests, unavailable,
            eligible is null ? null : eligible.Count(e => e), routed.Route.Owner is null ? null : routed.Route.Holder, request.Body.Failure,
            wait ? WaitBudget(rounds) : TimeSpan.Zero, wait ? _waits.NotReopening(routed.Deployment) : null);
    }

    /// <summary>
    /// Relays a good answer. Nothing can be replayed from here on, so the relay disarms the deadline (a stream may outlive
    /// it; the idle timeout governs it now) and the buffered body is released before the first byte is copied rather than
    /// held for the whole stream. The relay's end is the attempt's verdict for the failure rate.
    /// </summary>
    private async Task RelayAsync(AttemptRequest request, int index, int attempt, Rounds rounds, HttpResponseMessage response)
    {
        await request.Body.ReleaseAsync().ConfigureAwait(false);
        RequestOutcome.Note(request.Context, ProxyOutcome.Relayed);
        rounds.WriteWaited(request.Context);
        var backend = _options.Backends[index];
        var succeeded = (int)response.StatusCode is >= StatusCodes.Status200OK and < StatusCodes.Status300MultipleChoices;
        CreatedObjectWatch? created = null;
        if (succeeded && request.Route.Creates)
        {
            var captured = new CapturedContent(response.Content);
            response.Content = captured;
            created = _objects.Watch(captured, backend, response);
        }

        var result = await _relay.RelayAsync(request.Context, backend, response, attempt, request.Cancellation, created).ConfigureAwait(false);
        await _health.RelayEndedAsync(index, request.Deployment, result).ConfigureAwait(false);
        if (succeeded)
        {
            await _objects.RememberAsync(backend, attempt, request.Route, created).ConfigureAwait(false);
        }
    }

    /// <summary>No answer to relay: the ending decided over the plan, the outcomes and the cooldowns as they are now.</summary>
    private Task EndAsync(AttemptRequest request, RoutedRequest routed, List<AttemptOutcome> outcomes, Rounds rounds, Ending ending)
    {
        var context = request.Context;
        switch (ending.Kind)
        {
            case EndingKind.CallerGone:
                RequestOutcome.Note(context, ProxyOutcome.CallerGone);
                return Task.CompletedTask;
            case EndingKind.BodyFailed:
                return _admission.AnswerBodyFailureAsync(context, request.Body.Failure!.Value);
            case EndingKind.NotReplayed:
                // It may exist now: a replay could make a second batch, job or message. The caller decides.
                Log.StatefulNotReplayed(_logger, _options.Backends[outcomes[^1].Backend].Name, ending.Message);
                break;
            case EndingKind.Exhausted:
                _exhausted.Write(routed.Deployment ?? CooldownScope.NoDeployment, rounds.Sent + ending.Attempts, ProxyOutcomes.StatusCode(ending.Outcome),
                    ending.RetryAfter is { } r ? RetryAfter.Milliseconds(r) : 0);
                break;
        }

        if (ending.Kind != EndingKind.IdentityUnavailable)
        {
            context.Response.Headers[ProxyHeaders.Attempts] = (rounds.Sent + ending.Attempts).ToString(CultureInfo.InvariantCulture);
        }

        rounds.WriteWaited(context);
        return ErrorResponse.WriteAsync(context, ending.Outcome, ending.Message, ending.RetryAfter);
    }

    /// <summary>
    /// A throttled request whose wait did not end well gets the 429 it would have got, with a Retry-After that is honest
    /// about the queue: no sooner than the earliest window and the requests already waiting for it.
    /// </summary>
    private Task RefuseAfterWaitAsync(AttemptRequest request, RoutedRequest routed, Rounds rounds, Ending ending, WaitResult wait)
    {
        var context = request.Context;
        if (wait.End == WaitEnd.CallerGone)
        {
            RequestOutcome.Note(context, ProxyOutcome.CallerGone);
            return Task.CompletedTask;
        }

        var now = Ending.Decide(Facts(request, routed, routed.Plan, [], rounds, wait: false));
        var backlog = _waits.Backlog(routed.Deployment) ?? _options.MaxWait;
        var retryAfter = now.RetryAfter is { } soonest && soonest > backlog ? soonest : backlog;
        var deployment = routed.Deployment ?? CooldownScope.NoDeployment;
        var why = wait.End switch
        {
            WaitEnd.Full => $"{_options.MaxWaitingRequests} requests already wait on this proxy instance (Proxy:Throttling:MaxWaitingRequests)",
            WaitEnd.ShuttingDown => "this proxy instance is shutting down",
            _ => $"no backend could take the request within {Math.Round(rounds.Waited.TotalSeconds, 1).ToString(CultureInfo.InvariantCulture)} s of waiting (Proxy:Throttling:MaxWaitSeconds)",
        };
        Log.WaitRefused(_logger, deployment, wait.End.ToString(), RetryAfter.Milliseconds(retryAfter));
        context.Response.Headers[ProxyHeaders.Attempts] = (rounds.Sent + ending.Attempts).ToString(CultureInfo.InvariantCulture);
        rounds.WriteWaited(context);
        return ErrorResponse.WriteAsync(context, ProxyOutcome.Throttled,
            $"{ending.Message.TrimEnd('.')}; {why}. Retry after {RetryAfter.Seconds(retryAfter).ToString(CultureInfo.InvariantCulture)} seconds.", retryAfter);
    }

    /// <summary>What the rounds of one request have done so far: sends, time waited, a release to use.</summary>
    private sealed class Rounds(long started)
    {
        public long Started { get; } = started;

        /// <summary>Attempts sent in the rounds before the current one.</summary>
        public int Sent { get; set; }

        public TimeSpan Waited { get; set; }

        /// <summary>The backend the last wait released the request to, and its place in that backend's ledger.</summary>
        public (int Backend, Throttling.Headroom.Ticket? Ticket)? Released { get; set; }

        /// <summary>A request that waited says how long (x-proxy-wait-ms) on whatever it is answered.</summary>
        public void WriteWaited(HttpContext context)
        {
            if (Waited > TimeSpan.Zero)
            {
                context.Response.Headers[ProxyHeaders.WaitMs] = ((long)Math.Ceiling(Waited.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture);
            }
        }
    }
}
