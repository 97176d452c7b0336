using System.Globalization;
using AoaiProxy.Affinity;
using AoaiProxy.Answers;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Logging;
using AoaiProxy.Observability;
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

    public ProxyHandler(
        ProxyOptions options, SharedState state, BackendClient client, TimeProvider time, ILogger<ProxyHandler> logger,
        CallerAuthenticator callers, BackendCredentials credentials, BackendHealth health, HeadroomBook headroom, ProxyMetrics metrics,
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
        var attempt = new BackendAttempt(options, client.Invoker, time);
        _admission = new Admission(options, callers, logger);
        _objects = new ObjectRouter(options, affinity, logger);
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

        // Attempts, under one deadline for the whole request.
        using var cancellation = new RequestCancellation(_options.RequestTimeout - _time.GetElapsedTime(started), _time, context.RequestAborted);
        var request = new AttemptRequest(context, admitted.Path, routed.Deployment, body, admitted.HasBody, cancellation, routed.Route,
            admitted.ByClientKey, routed.Model, routed.Cost);
        var outcomes = new List<AttemptOutcome>(routed.Plan.Attempts.Count);
        AttemptsResult result;
        if (routed.Route.MergesList)
        {
            // A first list page: every available backend answers, merged (ListMerge). Only when none could is there an
            // ending below.
            var (answered, unavailable) = await _lists.ListAsync(routed.Plan, request, outcomes).ConfigureAwait(false);
            if (answered)
            {
                return;
            }

            result = new AttemptsResult(null, -1, 0, unavailable);
        }
        else
        {
            result = await _attempts.RunAsync(request, routed.Plan, outcomes).ConfigureAwait(false);
        }

        if (result.Response is { } response)
        {
            using (response)
            {
                await RelayAsync(request, result.Backend, result.Attempt, response).ConfigureAwait(false);
            }

            return;
        }

        await EndAsync(request, routed, outcomes, result.Unavailable).ConfigureAwait(false);
    }

    /// <summary>
    /// Relays a good answer. Nothing can be replayed from here on, so the relay disarms the deadline (a stream may outlive
    /// it; the idle timeout governs it now) and the buffered body is released before the first byte is copied rather than
    /// held for the whole stream. The relay's end is the attempt's verdict for the failure rate.
    /// </summary>
    private async Task RelayAsync(AttemptRequest request, int index, int attempt, HttpResponseMessage response)
    {
        await request.Body.ReleaseAsync().ConfigureAwait(false);
        RequestOutcome.Note(request.Context, ProxyOutcome.Relayed);
        var backend = _options.Backends[index];
        var succeeded = (int)response.StatusCode is >= StatusCodes.Status200OK and < StatusCodes.Status300MultipleChoices;
        CapturedContent? captured = null;
        if (succeeded && request.Route.Creates)
        {
            response.Content = captured = new CapturedContent(response.Content);
        }

        var result = await _relay.RelayAsync(request.Context, backend, response, attempt, request.Cancellation).ConfigureAwait(false);
        await _health.RelayEndedAsync(index, request.Deployment, result).ConfigureAwait(false);
        if (succeeded)
        {
            await _objects.RememberAsync(backend, attempt, request.Route, captured, response).ConfigureAwait(false);
        }
    }

    /// <summary>No answer to relay: one pure decision over the plan, the outcomes and the cooldowns as they are now.</summary>
    private Task EndAsync(AttemptRequest request, RoutedRequest routed, List<AttemptOutcome> outcomes, BackendCredential? unavailable)
    {
        var eligible = routed.Eligible;
        var ending = Ending.Decide(new EndingFacts(
            _options.Backends, routed.Plan, outcomes, CooldownLookup.ForEach(_state.Cooldowns, _options.Backends, routed.Deployment, eligible),
            _time.GetUtcNow(), routed.Deployment, routed.Route.Kind, _options.ReplayStatefulRequests, unavailable,
            eligible is null ? null : eligible.Count(e => e), routed.Route.Owner is null ? null : routed.Route.Holder, request.Body.Failure));
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
                Log.Exhausted(_logger, routed.Deployment ?? CooldownScope.NoDeployment, ending.Attempts, ProxyOutcomes.StatusCode(ending.Outcome),
                    ending.RetryAfter is { } r ? RetryAfter.Milliseconds(r) : 0);
                break;
        }

        if (ending.Kind != EndingKind.IdentityUnavailable)
        {
            context.Response.Headers[ProxyHeaders.Attempts] = ending.Attempts.ToString(CultureInfo.InvariantCulture);
        }

        return ErrorResponse.WriteAsync(context, ending.Outcome, ending.Message, ending.RetryAfter);
    }
}
