using System.Globalization;
using AoaiProxy.Answers;
using AoaiProxy.Configuration;
using AoaiProxy.Logging;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace AoaiProxy.Pipeline;

/// <summary>
/// Cross-origin access for browser callers (Proxy:Cors:AllowedOrigins). A browser sends an OPTIONS preflight without
/// credentials before a cross-origin call that carries an api-key or Authorization header, so the preflight must be
/// answered before caller authentication (it would get 401 otherwise). The decisions are ASP.NET Core's own
/// <see cref="CorsService"/> (origin matching, preflight and actual-request headers, Vary): the hosts own their pipelines
/// (the Functions worker has no CORS middleware of ours), so the engine calls the service directly, as CorsMiddleware does.
/// </summary>
/// <remarks>
/// No origins configured: no CORS header is ever written and preflights go through the normal pipeline (today's
/// behaviour). Whenever a request carries Origin, Access-Control-* headers relayed from a backend are dropped, so only the
/// proxy's configuration decides which pages may read an answer.
/// </remarks>
internal sealed class CrossOriginPolicy
{
    /// <summary>How long a browser may cache a preflight answer (Chromium caps it at 2 hours).</summary>
    public static readonly TimeSpan PreflightMaxAge = TimeSpan.FromMinutes(10);

    /// <summary>
    /// Response headers a page may read besides the CORS-safelisted ones: the proxy's own and the rate-limit headers the
    /// OpenAI SDKs use to back off (Retry-After is not safelisted either).
    /// </summary>
    public static readonly string[] ExposedHeaders =
    [
        ProxyHeaders.Backend, ProxyHeaders.Attempts, ProxyHeaders.RetryAfterMs, HeaderNames.RetryAfter, ProxyHeaders.ListIncomplete, ProxyHeaders.ListRequestIds, ProxyHeaders.WaitMs,
        "x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens", "x-ratelimit-limit-requests",
        "x-ratelimit-limit-tokens", "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens",
    ];

    /// <summary>Methods Azure OpenAI's API uses; GET, HEAD and POST need no listing but are named for clarity.</summary>
    private static readonly string[] AllowedMethods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

    private const string AccessControlPrefix = "Access-Control-";

    private readonly CorsPolicy? _policy;
    private readonly CorsService _cors;
    private readonly ILogger<CrossOriginPolicy> _logger;

    public CrossOriginPolicy(Configuration.ProxyOptions options, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggers);
        _policy = Build(options.AllowedOrigins);
        _cors = new CorsService(Options.Create(new CorsOptions()), loggers);
        _logger = loggers.CreateLogger<CrossOriginPolicy>();
    }

    /// <summary>What the proxy does with a request before authenticating it.</summary>
    internal enum Action
    {
        /// <summary>Not a cross-origin request, or CORS is not configured: nothing to do.</summary>
        None,

        /// <summary>A cross-origin request: drop relayed Access-Control-* headers and add the proxy's when the origin is allowed.</summary>
        DecorateResponse,

        /// <summary>A preflight: answer 204 at once (with CORS headers only for an allowed origin).</summary>
        AnswerPreflight,
    }

    /// <summary>
    /// Pure decision from the method, the presence of Origin and Access-Control-Request-Method, and whether origins are
    /// configured (as CorsMiddleware decides).
    /// </summary>
    internal static Action Decide(bool configured, string method, bool hasOrigin, bool hasRequestMethod) =>
        !hasOrigin ? Action.None
        : configured && HttpMethods.IsOptions(method) && hasRequestMethod ? Action.AnswerPreflight
        : Action.DecorateResponse;

    /// <summary>
    /// Applies the policy at the very start of a request. Returns true when the request was a preflight and has been
    /// answered (nothing else may run for it).
    /// </summary>
    public bool AnsweredPreflight(HttpContext context)
    {
        var request = context.Request;
        var action = Decide(_policy is not null, request.Method, request.Headers.ContainsKey(HeaderNames.Origin),
            request.Headers.ContainsKey(HeaderNames.AccessControlRequestMethod));
        switch (action)
        {
            case Action.AnswerPreflight:
                var result = _cors.EvaluatePolicy(context, _policy!);
                _cors.ApplyResult(result, context.Response);
                Log.CorsPreflightAnswered(_logger, request.Headers.Origin.ToString(), result.IsOriginAllowed);
                context.Response.StatusCode = StatusCodes.Status204NoContent;
                Observability.RequestTelemetry.PreflightAnswered(context);
                return true;
            case Action.DecorateResponse:
                // Headers are settled just before they are sent: after the relay copied the backend's and after any error
                // answer of the proxy's own, so both carry the same CORS headers.
                context.Response.OnStarting(static state =>
                {
                    var (self, ctx) = ((CrossOriginPolicy, HttpContext))state;
                    self.Decorate(ctx);
                    return Task.CompletedTask;
                }, (this, context));
                return false;
            default:
                return false;
        }
    }

    private void Decorate(HttpContext context)
    {
        var headers = context.Response.Headers;
        List<string>? relayed = null;
        foreach (var header in headers)
        {
            if (header.Key.StartsWith(AccessControlPrefix, StringComparison.OrdinalIgnoreCase))
            {
                (relayed ??= []).Add(header.Key);
            }
        }

        if (relayed is not null)
        {
            foreach (var name in relayed)
            {
                headers.Remove(name);
            }
        }

        if (_policy is not null)
        {
            _cors.ApplyResult(_cors.EvaluatePolicy(context, _policy), context.Response);
        }
    }

    /// <summary>The policy for the configured origins; null (CORS off) when none are configured.</summary>
    internal static CorsPolicy? Build(IReadOnlyList<string> origins)
    {
        if (origins.Count == 0)
        {
            return null;
        }

        var builder = new CorsPolicyBuilder()
            .AllowAnyHeader()
            .WithMethods(AllowedMethods)
            .WithExposedHeaders(ExposedHeaders)
            .SetPreflightMaxAge(PreflightMaxAge);
        return (origins.Count == 1 && origins[0] == AllowedOriginsReader.AnyOrigin ? builder.AllowAnyOrigin() : builder.WithOrigins([.. origins])).Build();
    }
}
