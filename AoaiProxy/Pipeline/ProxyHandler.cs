using System.Collections.Immutable;
using System.Globalization;
using AoaiProxy.Affinity;
using AoaiProxy.Answers;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Logging;
using AoaiProxy.Observability;
using AoaiProxy.Planning;
using AoaiProxy.Routing;
using AoaiProxy.State;
using AoaiProxy.Throttling;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Pipeline;

/// <summary>
/// One request, one way through; this class only sequences the steps: admission (caller, path, method, body), route
/// (what each backend serves and holds: <see cref="ObjectRouter"/>; claim a turn, pure planning), attempts
/// (<see cref="BackendAttempt"/>, each returning an <see cref="AttemptOutcome"/>), relay (<see cref="ResponseRelay"/>),
/// or the exhausted answer (<see cref="ExhaustedAnswer.Decide"/>, pure).
/// </summary>
internal sealed class ProxyHandler : IAzureOpenAIProxy
{
    /// <summary>
    /// Far above any Azure OpenAI deployment name. A longer name (a caller's v1 "model" is otherwise unbounded) names no
    /// deployment anywhere and is not used as a cooldown key, log field or part of an answer: the Table entity refuses a
    /// Cooldowns property over 64 KiB, so one such key would stop every state write.
    /// </summary>
    private const int MaxDeploymentNameLength = 256;

    private static readonly HashSet<string> AllowedMethods = new(StringComparer.OrdinalIgnoreCase)
    {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
    };

    private readonly ProxyOptions _options;
    private readonly SharedState _state;
    private readonly BackendAttempt _attempt;
    private readonly ResponseRelay _relay;
    private readonly FailureRate _failures;
    private readonly TimeProvider _time;
    private readonly ILogger<ProxyHandler> _logger;
    private readonly CallerAuthenticator _callers;
    private readonly BackendCredentials _credentials;
    private readonly CrossOriginPolicy? _crossOrigin;
    private readonly ProxyMetrics _metrics;
    private readonly ObjectRouter _router;
    private readonly ListFanOut _lists;

    /// <summary>What the planner reads when nothing cools (nearly always): one array for every request. Never written.</summary>
    private readonly IReadOnlyList<Cooldown?> _noCooldowns;

    public ProxyHandler(
        ProxyOptions options, SharedState state, BackendClient client, TimeProvider time, ILogger<ProxyHandler> logger,
        CallerAuthenticator callers, BackendCredentials credentials, FailureRate failures, ProxyMetrics metrics,
        ObjectAffinity affinity, CrossOriginPolicy? crossOrigin = null)
    {
        _crossOrigin = crossOrigin;
        _metrics = metrics;
        ArgumentNullException.ThrowIfNull(client);
        _callers = callers;
        _credentials = credentials;
        _options = options;
        _state = state;
        _failures = failures;
        _time = time;
        _logger = logger;
        _attempt = new BackendAttempt(options, state, client.Invoker, failures, time, logger, metrics);
        _relay = new ResponseRelay(options, logger, metrics);
        _router = new ObjectRouter(options, affinity, logger);
        _lists = new ListFanOut(options, _attempt, credentials, failures);
        _noCooldowns = Array.AsReadOnly(new Cooldown?[options.Backends.Count]);
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
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
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
        var request = context.Request;
        var aborted = context.RequestAborted;
        var started = _time.GetTimestamp();

        // A browser's preflight carries no credentials: it is answered before caller authentication (CrossOriginPolicy).
        if (_crossOrigin is not null && _crossOrigin.AnsweredPreflight(context))
        {
            return;
        }

        // Before the body is read and before any backend is contacted.
        // Only what later steps need is kept: a local that lives across an await is a field of this method's state
        // machine, allocated for every request.
        var byClientKey = false;
        {
            var caller = await _callers.AuthenticateAsync(request, aborted).ConfigureAwait(false);
            RequestTelemetry.CallerIdentified(context, caller);
            if (!caller.IsAllowed)
            {
                await CallerAuthenticator.WriteRefusalAsync(context, caller).ConfigureAwait(false);
                return;
            }

            byClientKey = caller.ByClientKey;
        }

        ProxyPath path;
        {
            var target = ProxyPathParser.Parse(RawTarget(context));
            if (!target.IsValid)
            {
                Log.PathRejected(_logger, target.Error!);
                var outcome = target.NotUnderPrefix ? ProxyOutcome.NotProxied : ProxyOutcome.InvalidPath;
                await ErrorResponse.WriteAsync(context, outcome, target.Error!).ConfigureAwait(false);
                return;
            }

            path = target.Path;
        }

        if (!AllowedMethods.Contains(request.Method))
        {
            Log.RequestRejected(_logger, "method not allowed");
            context.Response.Headers.Allow = string.Join(", ", AllowedMethods);
            await ErrorResponse.WriteAsync(context, ProxyOutcome.MethodNotAllowed, "The HTTP method is not supported by the proxy.").ConfigureAwait(false);
            return;
        }

        if (request.ContentLength > _options.MaxRequestBodyBytes)
        {
            await RefuseBodyAsync(context).ConfigureAwait(false);
            return;
        }

        // A large body nothing reads before routing (not v1's, whose "model" names the deployment; an object router only
        // scans bodies under RequestBody.MemoryThreshold) streams through the first attempt as it arrives.
        var read = await RequestBody.ReceiveAsync(request.Body, request.ContentLength, mayStream: !path.IsV1,
            _options.MaxRequestBodyBytes, aborted).ConfigureAwait(false);
        if (read.TooLarge)
        {
            await RefuseBodyAsync(context).ConfigureAwait(false);
            return;
        }

        await using var body = read.Body!;
        var deployment = path.Deployment ?? (path.IsV1 ? await ModelOfAsync(body, aborted).ConfigureAwait(false) : null);
        if (deployment is { Length: > MaxDeploymentNameLength })
        {
            deployment = null;
        }

        deployment = CooldownScope.Usable(deployment);
        RequestTelemetry.DeploymentResolved(context, deployment);
        var hasBody = body.Length > 0 || request.ContentLength is not null || request.Headers.ContainsKey("Transfer-Encoding");

        // Route by what each backend serves and holds: its deployments (Proxy:Backends:{i}:Deployments), and the
        // objects the request names (only the backend holding them can answer).
        var eligible = _router.ServingBackends(deployment);
        if (eligible is not null && Array.IndexOf(eligible, true) < 0)
        {
            Log.DeploymentNotServed(_logger, deployment!);
            await ErrorResponse.WriteAsync(context, ProxyOutcome.DeploymentNotFound,
                $"The API deployment '{deployment}' does not exist on any backend of the proxy (Proxy:Backends:{{i}}:Deployments).").ConfigureAwait(false);
            return;
        }

        var route = await _router.RouteAsync(request, path, body, aborted).ConfigureAwait(false);
        if (route.Owner is { } owner)
        {
            eligible = new bool[_options.Backends.Count];
            eligible[owner] = true;
            Log.ObjectRouted(_logger, route.Holder!, _options.Backends[owner].Name);
        }

        var model = path.IsV1 && deployment is not null && _router.HasDeploymentMaps
            ? await ObjectRouter.ModelLocationAsync(body, aborted).ConfigureAwait(false)
            : default;

        // Route: pure planning over this instance's view of the shared state.
        var claim = await _state.ClaimAsync(aborted).ConfigureAwait(false);
        var plan = AttemptPlanner.Plan(_options.Backends, claim.Cooldowns.Count == 0 ? _noCooldowns : CooldownsFor(claim.Cooldowns, deployment),
            claim.Turn, _time.GetUtcNow(), eligible);
        if (plan.Panic)
        {
            Log.Panic(_logger, deployment ?? CooldownScope.NoDeployment, _options.Backends[plan.Attempts[0]].Name);
        }

        // Attempts, under one deadline for the whole request.
        var remaining = _options.RequestTimeout - _time.GetElapsedTime(started);
        using var cancellation = new RequestCancellation(remaining, _time, aborted);
        var attemptRequest = new AttemptRequest(context, path, deployment, body, hasBody, cancellation, model);
        var outcomes = new List<AttemptOutcome>(plan.Attempts.Count);
        var sent = 0;
        BackendCredential? unavailable = null;
        if (route.MergesList)
        {
            // A first list page: every available backend answers, merged (ListMerge). Only when none could is there
            // an exhausted answer below; the failover loop is skipped.
            if (await _lists.ListAsync(context, plan, attemptRequest, byClientKey, outcomes).ConfigureAwait(false))
            {
                return;
            }

            sent = outcomes.Count(o => o.Sent);
        }

        // Indexed loops over the plan: a foreach over IReadOnlyList boxes an enumerator on every request.
        for (var n = 0; !route.MergesList && n < plan.Attempts.Count; n++)
        {
            var index = plan.Attempts[n];
            var backend = _options.Backends[index];

            // Another request may have cooled it since the plan was made (a panic attempt goes ahead knowingly).
            if (!plan.Panic && CooldownFor(_state.Cooldowns, index, deployment) is { } late && late.Until > _time.GetUtcNow())
            {
                outcomes.Add(new AttemptOutcome(index, AttemptError.Cooling));
                continue;
            }

            var credential = await _credentials.ForAsync(backend, aborted).ConfigureAwait(false);
            if (credential.Kind == BackendCredentialKind.PassThrough && byClientKey)
            {
                credential = BackendCredential.Withheld;
            }

            if (credential.Kind == BackendCredentialKind.Unavailable)
            {
                // The proxy's own problem: the backend is neither called nor cooled.
                unavailable = credential;
                outcomes.Add(new AttemptOutcome(index, AttemptError.NoCredential));
                continue;
            }

            sent++;
            var (outcome, response) = await _attempt.SendAsync(attemptRequest, index, sent, credential).ConfigureAwait(false);
            if (response is not null && route.Probing && response.StatusCode == System.Net.HttpStatusCode.NotFound &&
                (n < plan.Attempts.Count - 1 || plan.Cooling.Count > 0))
            {
                // An object the proxy has no record of: the next backend may hold it. The last backend's 404 is relayed,
                // unless a backend was left out while cooling (it may hold it): then the caller is told to retry.
                response.Dispose();
                outcomes.Add(new AttemptOutcome(index, AttemptError.ObjectNotHeld, StatusCodes.Status404NotFound));
                continue;
            }

            outcomes.Add(outcome);
            if (response is not null)
            {
                using (response)
                {
                    await RelayAsync(context, body, cancellation, backend, deployment, response, sent, route).ConfigureAwait(false);
                }

                return;
            }

            if (route.Kind == RequestKind.Stateful && outcome.MayHaveRun && outcome.Error != AttemptError.CallerGone && !_options.ReplayStatefulRequests)
            {
                // It may exist now: a replay could make a second batch, job or message. The caller decides.
                await RefuseReplayAsync(context, backend, outcome, sent).ConfigureAwait(false);
                return;
            }

            if (!outcome.AllowsFailover)
            {
                if (outcome.Error == AttemptError.CallerGone)
                {
                    return;
                }

                break;
            }
        }

        if (sent == 0 && unavailable is { } missing)
        {
            await ErrorResponse.WriteAsync(context, ProxyOutcome.ProxyIdentityUnavailable,
                $"The proxy could not obtain its own Entra ID token to call the backends ({missing.Failure}). " +
                "This is a problem of the proxy's identity, not of the request; the proxy's log has the details.", missing.RetryAfter).ConfigureAwait(false);
            return;
        }

        await AnswerExhaustedAsync(context, plan, outcomes, deployment, eligible, route).ConfigureAwait(false);
    }

    // The rare endings live in methods of their own: their locals would otherwise be fields of HandleAsync's state machine,
    // which every request allocates once its first attempt is awaited.

    /// <summary>A stateful request that may have run on the backend is not replayed elsewhere: the caller decides.</summary>
    private Task RefuseReplayAsync(HttpContext context, BackendOptions backend, AttemptOutcome outcome, int sent)
    {
        var refused = ExhaustedAnswer.NotReplayed(_options.Backends, outcome, sent);
        Log.StatefulNotReplayed(_logger, backend.Name, refused.Message);
        context.Response.Headers[ProxyHeaders.Attempts] = sent.ToString(CultureInfo.InvariantCulture);
        return ErrorResponse.WriteAsync(context, refused.Outcome, refused.Message);
    }

    /// <summary>Exhausted: one pure decision over the plan, the outcomes and the cooldowns as they are now.</summary>
    private Task AnswerExhaustedAsync(
        HttpContext context, AttemptPlan plan, List<AttemptOutcome> outcomes, string? deployment, bool[]? eligible, RequestRoute route)
    {
        var now = _time.GetUtcNow();
        var answer = ExhaustedAnswer.Decide(_options.Backends, plan, outcomes, ObjectRouter.Masked(CooldownsFor(_state.Cooldowns, deployment), eligible), now, deployment,
            eligible is null ? null : eligible.Count(e => e), route.Owner is null ? null : route.Holder);
        Log.Exhausted(_logger, deployment ?? CooldownScope.NoDeployment, answer.Attempts, ProxyOutcomes.StatusCode(answer.Outcome),
            answer.RetryAfter is { } r ? RetryAfter.Milliseconds(r) : 0);
        context.Response.Headers[ProxyHeaders.Attempts] = answer.Attempts.ToString(CultureInfo.InvariantCulture);
        return ErrorResponse.WriteAsync(context, answer.Outcome, answer.Message, answer.RetryAfter);
    }

    /// <summary>
    /// Relays a good answer. Nothing can be replayed from here on, so the relay disarms the deadline (a stream may outlive
    /// it; the idle timeout governs it now) and the buffered body is released before the first byte is copied rather than
    /// held for the whole stream. The relay's end is the attempt's verdict for the failure rate.
    /// </summary>
    private async Task RelayAsync(
        HttpContext context, RequestBody body, RequestCancellation cancellation, BackendOptions backend, string? deployment,
        HttpResponseMessage response, int attempt, RequestRoute route)
    {
        await body.ReleaseAsync().ConfigureAwait(false);
        var succeeded = (int)response.StatusCode is >= StatusCodes.Status200OK and < StatusCodes.Status300MultipleChoices;
        CapturedContent? captured = null;
        if (succeeded && route.Creates)
        {
            response.Content = captured = new CapturedContent(response.Content);
        }

        var result = await _relay.RelayAsync(context, backend, response, attempt, cancellation).ConfigureAwait(false);
        if (result != RelayResult.CallerFailed)
        {
            await _failures.RecordAsync(backend.Name, CooldownScope.Of(deployment),
                result == RelayResult.Completed ? HealthSample.Success : HealthSample.Failure).ConfigureAwait(false);
        }

        if (succeeded)
        {
            await _router.RememberAsync(backend, attempt, route, captured, response).ConfigureAwait(false);
        }
    }

    private Task RefuseBodyAsync(HttpContext context)
    {
        Log.BodyTooLarge(_logger, _options.MaxRequestBodyBytes);
        return ErrorResponse.WriteAsync(context, ProxyOutcome.BodyTooLarge,
            $"The request body exceeds the proxy's limit of {_options.MaxRequestBodyBytes} bytes (Proxy:MaxRequestBodyBytes).");
    }

    /// <summary>
    /// The cooldown that applies to backend <paramref name="index"/> for this request: backend-wide, merged with its
    /// scope's own (the deployment's, or that of requests without one).
    /// </summary>
    private Cooldown? CooldownFor(ImmutableDictionary<string, Cooldown> cooldowns, int index, string? deployment)
    {
        if (cooldowns.Count == 0)
        {
            return null;
        }

        var name = _options.Backends[index].Name;
        cooldowns.TryGetValue(CooldownKeys.ForBackend(name), out var wide);
        if (cooldowns.TryGetValue(CooldownScope.KeyFor(name, deployment), out var own))
        {
            return Cooldown.Merge(wide, own);
        }

        return wide == default ? null : wide;
    }

    private Cooldown?[] CooldownsFor(ImmutableDictionary<string, Cooldown> cooldowns, string? deployment)
    {
        var result = new Cooldown?[_options.Backends.Count];
        if (cooldowns.Count > 0)
        {
            for (var i = 0; i < result.Length; i++)
            {
                result[i] = CooldownFor(cooldowns, i, deployment);
            }
        }

        return result;
    }

    /// <summary>The v1 API names the deployment in the body's "model", also in bodies spilled to a file.</summary>
    private static async Task<string?> ModelOfAsync(RequestBody body, CancellationToken cancellationToken)
    {
        if (body.InMemory)
        {
            return ModelName.FromJson(body.AsSequence());
        }

        var stream = await body.OpenFileAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            return await ModelName.FromStreamAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string RawTarget(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (!string.IsNullOrEmpty(raw) && raw[0] == '/')
        {
            return raw;
        }

        // Absolute-form targets, or hosts that do not expose the raw target: rebuild it from the (escaped) parts.
        var request = context.Request;
        return request.PathBase.Add(request.Path).ToUriComponent() + request.QueryString.ToUriComponent();
    }

}
