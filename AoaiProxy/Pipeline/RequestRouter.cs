using AoaiProxy.Affinity;
using AoaiProxy.Answers;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Logging;
using AoaiProxy.Observability;
using AoaiProxy.Planning;
using AoaiProxy.Routing;
using AoaiProxy.State;
using AoaiProxy.Throttling;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Pipeline;

/// <summary>Where a request may go and in which order.</summary>
/// <param name="Deployment">Its deployment (the path's, or a v1 body's "model"); null: none usable.</param>
/// <param name="Eligible">Which backends may serve it (they serve its deployment, or hold its object); null: all.</param>
/// <param name="Route">What it names and does.</param>
/// <param name="Model">Where a v1 body names the deployment, for backends that call it differently.</param>
/// <param name="Plan">The ordered attempts.</param>
/// <param name="Cost">Its estimated tokens, as Azure OpenAI charges them at admission; null when it has no estimate.</param>
internal readonly record struct RoutedRequest(string? Deployment, bool[]? Eligible, RequestRoute Route, ModelLocation Model, AttemptPlan Plan, long? Cost);

/// <summary>
/// The route step: the request's deployment, the backends that serve it and hold what it names
/// (<see cref="ObjectRouter"/>), then a turn of the shared rotation and the pure plan (<see cref="AttemptPlanner"/>) over
/// this instance's view of the cooldowns. A deployment no backend serves is answered here (404).
/// </summary>
internal sealed class RequestRouter
{
    /// <summary>
    /// Far above any Azure OpenAI deployment name. A longer name (a caller's v1 "model" is otherwise unbounded) names no
    /// deployment anywhere and is not used as a cooldown key, log field or part of an answer: the Table entity refuses a
    /// Cooldowns property over 64 KiB, so one such key would stop every state write.
    /// </summary>
    private const int MaxDeploymentNameLength = 256;

    private readonly ProxyOptions _options;
    private readonly SharedState _state;
    private readonly ObjectRouter _objects;
    private readonly HeadroomBook _headroom;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>What the planner reads when nothing cools (nearly always): one array for every request. Never written.</summary>
    private readonly IReadOnlyList<Cooldown?> _noCooldowns;

    public RequestRouter(ProxyOptions options, SharedState state, ObjectRouter objects, HeadroomBook headroom, TimeProvider time, ILogger logger)
    {
        _options = options;
        _state = state;
        _objects = objects;
        _headroom = headroom;
        _time = time;
        _logger = logger;
        _noCooldowns = Array.AsReadOnly(new Cooldown?[options.Backends.Count]);
    }

    /// <summary>The routed request, or null when no backend serves its deployment (answered 404).</summary>
    public async ValueTask<RoutedRequest?> RouteAsync(HttpContext context, AdmittedRequest admitted)
    {
        var aborted = context.RequestAborted;
        var path = admitted.Path;
        var body = admitted.Body;
        var deployment = path.Deployment ?? (path.IsV1 ? await ModelOfAsync(body, aborted).ConfigureAwait(false) : null);
        deployment = CooldownScope.Usable(deployment is { Length: > MaxDeploymentNameLength } ? null : deployment);
        RequestTelemetry.DeploymentResolved(context, deployment);

        // Route by what each backend serves and holds: its deployments (Proxy:Backends:{i}:Deployments), and the
        // objects the request names (only the backend holding them can answer).
        var eligible = _objects.ServingBackends(deployment);
        if (eligible is not null && Array.IndexOf(eligible, true) < 0)
        {
            Log.DeploymentNotServed(_logger, deployment!);
            await ErrorResponse.WriteAsync(context, ProxyOutcome.DeploymentNotFound,
                $"The API deployment '{deployment}' does not exist on any backend of the proxy (Proxy:Backends:{{i}}:Deployments).").ConfigureAwait(false);
            return null;
        }

        var route = await _objects.RouteAsync(context.Request, path, body, aborted).ConfigureAwait(false);
        if (route.Owner is { } owner)
        {
            eligible = new bool[_options.Backends.Count];
            eligible[owner] = true;
            Log.ObjectRouted(_logger, route.Holder!, _options.Backends[owner].Name);
        }

        var model = path.IsV1 && deployment is not null && _objects.HasDeploymentMaps
            ? await ObjectRouter.ModelLocationAsync(body, aborted).ConfigureAwait(false)
            : default;
        var cost = CostOf(context.Request, body);
        var plan = await PlanAsync(deployment, eligible, cost, aborted).ConfigureAwait(false);
        return new RoutedRequest(deployment, eligible, route, model, plan, cost);
    }

    /// <summary>
    /// Claims the next turn and plans over what this instance knows now: a backend cooling for the request (a throttled
    /// window that the request's cost does not fit, or a failure) is left out, one whose last report says the request
    /// does not fit is tried last.
    /// </summary>
    public async ValueTask<AttemptPlan> PlanAsync(string? deployment, bool[]? eligible, long? cost, CancellationToken cancellationToken)
    {
        var claim = await _state.ClaimAsync(cancellationToken).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var cooldowns = claim.Cooldowns.Count == 0 ? _noCooldowns : CooldownLookup.ForEach(claim.Cooldowns, _options.Backends, deployment);
        bool[]? strained = null;
        if (cost is not null)
        {
            var scope = CooldownScope.Of(deployment);
            for (var i = 0; i < _options.Backends.Count; i++)
            {
                var fit = BackendFit.Of(cooldowns[i], _headroom.Of(_options.Backends[i].Name, scope), cost, now);
                if (fit == Fit.Strained)
                {
                    (strained ??= new bool[_options.Backends.Count])[i] = true;
                }
                else if (fit == Fit.Open && cooldowns[i] is { } cooling && cooling.Until > now)
                {
                    // A throttled window that still takes this request: not cooling for it.
                    var open = cooldowns == _noCooldowns ? new Cooldown?[_options.Backends.Count] : (Cooldown?[])cooldowns;
                    open[i] = null;
                    cooldowns = open;
                }
            }
        }

        var plan = AttemptPlanner.Plan(_options.Backends, cooldowns, claim.Turn, now, eligible, strained);
        if (plan.Panic)
        {
            Log.Panic(_logger, deployment ?? CooldownScope.NoDeployment, _options.Backends[plan.Attempts[0]].Name);
        }

        return plan;
    }

    /// <summary>The admission estimate of a JSON request held in memory (chat, completions, embeddings, responses); null otherwise.</summary>
    private static long? CostOf(HttpRequest request, RequestBody body) =>
        HttpMethods.IsPost(request.Method) && body.InMemory && body.Length > 0 && (request.ContentType ?? "").Contains("json", StringComparison.OrdinalIgnoreCase)
            ? RequestCost.FromJson(body.AsSequence())?.Tokens
            : null;

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
}
