using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using AoaiProxy.Answers;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Observability;

/// <summary>
/// The engine's one <see cref="Meter"/>: every instrument, name and tag in one place, and one recording method per event
/// of the request flow. The pipeline calls these where the event happens (one line each); nothing here decides anything
/// about a request. Exporters (Application Insights, Prometheus, OTLP) subscribe by <see cref="MeterName"/>.
/// </summary>
internal sealed class ProxyMetrics : IDisposable
{
    /// <summary>The meter's name; hosts add it to their OpenTelemetry metrics pipeline.</summary>
    public const string MeterName = "AoaiProxy";

    /// <summary>Instrument names (OpenTelemetry style: dotted, lower case; Prometheus turns them into aoaiproxy_*).</summary>
    public static class Names
    {
        public const string Requests = "aoaiproxy.requests";
        public const string Attempts = "aoaiproxy.attempts";
        public const string Failovers = "aoaiproxy.failovers";
        public const string CooldownsStarted = "aoaiproxy.cooldowns.started";
        public const string CooldownsActive = "aoaiproxy.cooldowns.active";
        public const string HeadersDuration = "aoaiproxy.backend.headers.duration";
        public const string FirstByteDuration = "aoaiproxy.backend.first_byte.duration";
        public const string StoreOperations = "aoaiproxy.store.operations";
        public const string StoreLostRaces = "aoaiproxy.store.lost_races";
        public const string LocalStateRequests = "aoaiproxy.requests.local_state";
        public const string Tokens = "aoaiproxy.tokens";

        /// <summary>Relays that the backend ended badly after the caller had the headers: broken off, or stalled past the idle timeout.</summary>
        public const string RelayFailures = "aoaiproxy.relay.failures";
    }

    /// <summary>Tag names. <c>backend</c>, <c>deployment</c> and <c>status</c> become the Prometheus labels of the same name.</summary>
    public static class Tags
    {
        public const string Backend = "backend";
        public const string Deployment = "deployment";
        public const string Status = "status";
        public const string Outcome = "outcome";
        public const string Reason = "reason";
        public const string Caller = "caller";
        public const string TokenType = "type";
        public const string Kind = "kind";
        public const string Result = "result";
    }

    /// <summary>Values of <see cref="Tags.Outcome"/> on <see cref="Names.Requests"/>.</summary>
    public static class Outcomes
    {
        public const string Served = "served";
        public const string Throttled = "throttled";
        public const string Failed = "failed";
        public const string TimedOut = "timed_out";
        public const string Refused = "refused";
        public const string Unavailable = "unavailable";
        public const string Cancelled = "cancelled";
    }

    /// <summary>Values of <see cref="Tags.Status"/> on <see cref="Names.Attempts"/> when no HTTP status came back.</summary>
    public static class AttemptStatuses
    {
        public const string Timeout = "timeout";
        public const string TransportError = "transport_error";
    }

    /// <summary>Values of <see cref="Tags.TokenType"/> on <see cref="Names.Tokens"/>.</summary>
    public static class TokenTypes
    {
        public const string Prompt = "prompt";
        public const string Completion = "completion";
        public const string Total = "total";
    }

    /// <summary><see cref="Tags.Reason"/> on <see cref="Names.RelayFailures"/>: the body broke off.</summary>
    public const string Broken = "broken";

    /// <summary><see cref="Tags.Reason"/> on <see cref="Names.RelayFailures"/>: nothing for the idle timeout.</summary>
    public const string Stalled = "stalled";

    /// <summary>The <see cref="Tags.Deployment"/> value when the request named none (e.g. GET /openai/models).</summary>
    public const string NoDeployment = CooldownKeys.AnyDeployment;

    /// <summary>
    /// The <see cref="Tags.Deployment"/> value of a deployment no backend has answered for (yet), and of any deployment
    /// beyond <see cref="MaxDeploymentLabels"/>. Parenthesized: no Azure deployment name can take it.
    /// </summary>
    public const string OtherDeployment = "(other)";

    /// <summary>
    /// How many deployment names at most become label values. The name comes from the caller's URL or body, so without a
    /// bound a client looping over made-up names would make a new series of every deployment-tagged instrument each time
    /// (memory in this process, cost in Application Insights, an unreadable /metrics); a proxy serves tens at most.
    /// </summary>
    internal const int MaxDeploymentLabels = 100;

    /// <summary>The <see cref="Tags.Caller"/> value when no caller authentication is configured.</summary>
    public const string AnonymousCaller = "anonymous";

    // Buckets in seconds: Azure OpenAI headers arrive from ~100 ms (short chats) to tens of seconds (long prompts).
    private static readonly double[] DurationBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120];

    private static readonly string[] StatusTexts = CreateStatusTexts();

    private readonly Meter _meter;
    private readonly Counter<long> _requests;
    private readonly Counter<long> _attempts;
    private readonly Counter<long> _failovers;
    private readonly Counter<long> _cooldownsStarted;
    private readonly Histogram<double> _headersDuration;
    private readonly Histogram<double> _firstByteDuration;
    private readonly Counter<long> _tokens;
    private readonly Counter<long> _relayFailures;
    private readonly TimeProvider _time;

    // Deployments a backend has answered for (see DeploymentLabel); the count is kept apart so that checking the bound
    // does not lock every bucket of the dictionary.
    private readonly ConcurrentDictionary<string, byte> _deployments = new(StringComparer.Ordinal);
    private int _deploymentCount;

    public ProxyMetrics(IMeterFactory meters, ProxyOptions options, SharedState state, StoreActivity store, BackendActivity backends, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(store);
        _time = time;
        Backends = backends;
        _meter = meters.Create(MeterName);
        _requests = _meter.CreateCounter<long>(Names.Requests, "{request}", "Requests by outcome, deployment and answered status.");
        _attempts = _meter.CreateCounter<long>(Names.Attempts, "{attempt}", "Attempts by backend, deployment and the backend's status (or timeout, transport_error).");
        _failovers = _meter.CreateCounter<long>(Names.Failovers, "{failover}", "Attempts that followed a failed attempt of the same request, by the backend failed over to.");
        _cooldownsStarted = _meter.CreateCounter<long>(Names.CooldownsStarted, "{cooldown}", "Cooldowns started by this instance, by backend, deployment and reason.");
        _meter.CreateObservableGauge(Names.CooldownsActive, () => ActiveCooldowns(options, state, time.GetUtcNow()), "{cooldown}",
            "Cooldowns in force in this instance's view, by backend and reason.");
        _headersDuration = _meter.CreateHistogram(Names.HeadersDuration, "s", "Time from sending an attempt to the backend's response headers.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _firstByteDuration = _meter.CreateHistogram(Names.FirstByteDuration, "s", "Time from sending an attempt to the first body byte relayed.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _meter.CreateObservableCounter(Names.StoreOperations, store.Observe, "{operation}", "Shared state store operations by kind and result.");
        _meter.CreateObservableCounter(Names.StoreLostRaces, () => state.Counters.LostRaces, "{race}",
            "Compare-and-swap writes to the store that lost to another instance.");
        _meter.CreateObservableCounter(Names.LocalStateRequests, () => state.Counters.LocalClaims, "{request}",
            "Requests routed with a turn of this instance alone (the store gave none in time).");
        _relayFailures = _meter.CreateCounter<long>(Names.RelayFailures, "{relay}", "Relays ended by the backend's fault after the response started, by backend and reason (broken, stalled).");
        _tokens = _meter.CreateCounter<long>(Names.Tokens, "{token}", "Tokens reported in the responses' usage, by backend, deployment, caller and type.");
    }

    /// <summary>The meter (tests listen to this instance, not to every meter of the name).</summary>
    internal Meter Meter => _meter;

    /// <summary>Per-backend totals and per-minute series for the status page.</summary>
    public BackendActivity Backends { get; }

    /// <summary>Starts a request's telemetry; <see cref="RequestCompleted"/> reads it back.</summary>
    public static void RequestStarted(HttpContext context) => context.Features.Set(new RequestTelemetry());

    /// <summary>Remembers who the caller is, for token usage: an Entra object id or app id, or <c>key:N</c> for client key N.</summary>
    public static void CallerIdentified(HttpContext context, CallerCheck caller)
    {
        if (context.Features.Get<RequestTelemetry>() is { } telemetry)
        {
            telemetry.Caller = CallerLabel(caller);
        }
    }

    /// <summary>The request was a CORS preflight and has been answered: it is not counted among the requests.</summary>
    public static void PreflightAnswered(HttpContext context)
    {
        if (context.Features.Get<RequestTelemetry>() is { } telemetry)
        {
            telemetry.Preflight = true;
        }
    }

    /// <summary>Remembers the deployment the request is for (null: none named).</summary>
    public static void DeploymentResolved(HttpContext context, string? deployment)
    {
        if (context.Features.Get<RequestTelemetry>() is { } telemetry)
        {
            telemetry.Deployment = deployment;
        }
    }

    /// <summary>An attempt got response headers from <paramref name="backend"/>.</summary>
    public void AttemptCompleted(HttpContext context, string backend, string? deployment, int attempt, int status, long started)
    {
        var elapsed = _time.GetElapsedTime(started);
        if (context.Features.Get<RequestTelemetry>() is { } telemetry)
        {
            telemetry.AttemptStarted = started;
        }

        // A caller's mistake (above all 404 DeploymentNotFound, what Azure answers for a name it does not have) teaches
        // nothing; any other answer comes from a backend that has the deployment, whose name is a label from now on.
        if (status is < StatusCodes.Status400BadRequest or >= StatusCodes.Status500InternalServerError
            or StatusCodes.Status408RequestTimeout or StatusCodes.Status429TooManyRequests)
        {
            Learn(deployment);
        }

        var tags = new TagList { { Tags.Backend, backend }, { Tags.Deployment, DeploymentLabel(deployment) } };
        _headersDuration.Record(elapsed.TotalSeconds, tags);
        CountAttempt(backend, deployment, attempt, StatusText(status));
        Backends.Record(backend, throttled: status == StatusCodes.Status429TooManyRequests, failed: status >= StatusCodes.Status500InternalServerError || status == StatusCodes.Status408RequestTimeout);
    }

    /// <summary>An attempt got no response headers within the timeout.</summary>
    public void AttemptTimedOut(string backend, string? deployment, int attempt)
    {
        // A name that exists nowhere is answered 404 at once: one that times out is taken as real (the bound still holds).
        Learn(deployment);
        CountAttempt(backend, deployment, attempt, AttemptStatuses.Timeout);
        Backends.Record(backend, throttled: false, failed: true);
    }

    /// <summary>An attempt failed in transport before any response.</summary>
    public void AttemptFailed(string backend, string? deployment, int attempt)
    {
        Learn(deployment);
        CountAttempt(backend, deployment, attempt, AttemptStatuses.TransportError);
        Backends.Record(backend, throttled: false, failed: true);
    }

    /// <summary>This instance started a cooldown.</summary>
    public void CooldownStarted(string backend, string? deployment, CooldownReason reason) =>
        _cooldownsStarted.Add(1, new TagList { { Tags.Backend, backend }, { Tags.Deployment, DeploymentLabel(deployment) }, { Tags.Reason, ReasonText(reason) } });

    /// <summary>
    /// The relay starts for <paramref name="backend"/>; the returned reader watches the relayed bytes for the usage object
    /// (decoding a compressed answer up to <paramref name="maxDecodedBytes"/>).
    /// </summary>
    public static TokenUsageReader RelayStarted(HttpContext context, string backend, long maxDecodedBytes)
    {
        var telemetry = context.Features.Get<RequestTelemetry>();
        if (telemetry is not null)
        {
            telemetry.Backend = backend;

            // The relay has copied the backend's headers: a compressed answer is decoded for the scan.
            telemetry.Usage.UseEncoding(context.Response.Headers.ContentEncoding.ToString(), maxDecodedBytes);
        }

        return telemetry?.Usage ?? new TokenUsageReader();
    }

    /// <summary>The first body bytes of the relayed answer are about to be written to the caller.</summary>
    public void FirstByte(HttpContext context, string backend)
    {
        if (context.Features.Get<RequestTelemetry>() is { AttemptStarted: { } started } telemetry)
        {
            telemetry.AttemptStarted = null;
            _firstByteDuration.Record(_time.GetElapsedTime(started).TotalSeconds,
                new TagList { { Tags.Backend, backend }, { Tags.Deployment, DeploymentLabel(telemetry.Deployment) } });
        }
    }

    /// <summary>The request is over: counts it by outcome, and the tokens its answer reported.</summary>
    public void RequestCompleted(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var telemetry = context.Features.Get<RequestTelemetry>();
        if (telemetry is { Preflight: true })
        {
            return;
        }

        var status = context.Response.StatusCode;
        var deployment = DeploymentLabel(telemetry?.Deployment);
        var outcome = OutcomeOf(context, status);
        _requests.Add(1, new TagList { { Tags.Outcome, outcome }, { Tags.Deployment, deployment }, { Tags.Status, StatusText(status) } });

        // Only the answer to a POST (the request that made the model work) spends tokens. A GET reads back what was
        // counted when it was made (a stored response or chat completion, polling a background response, a list of them,
        // a batch's output file with a usage per line): counting those would count the same tokens again at every read.
        if (HttpMethods.IsPost(context.Request.Method) && telemetry is { Backend: { } backend, Usage.Usage: { } usage })
        {
            var caller = telemetry.Caller ?? AnonymousCaller;
            AddTokens(usage.PromptTokens, TokenTypes.Prompt, backend, deployment, caller);
            AddTokens(usage.CompletionTokens, TokenTypes.Completion, backend, deployment, caller);
            AddTokens(usage.TotalTokens, TokenTypes.Total, backend, deployment, caller);
        }

        telemetry?.Usage.Dispose();
    }

    /// <summary>A relay the backend ended badly (<see cref="Broken"/> or <see cref="Stalled"/>).</summary>
    public void RelayFailed(string backend, string reason) =>
        _relayFailures.Add(1, new KeyValuePair<string, object?>(Tags.Backend, backend), new KeyValuePair<string, object?>(Tags.Reason, reason));

    public void Dispose() => _meter.Dispose();

    /// <summary>The tag value for a caller: ids only, never a key or a token.</summary>
    internal static string CallerLabel(CallerCheck caller)
    {
        if (caller.ClientKeyIndex is { } key)
        {
            return "key:" + key.ToString(CultureInfo.InvariantCulture);
        }

        return caller.Caller switch
        {
            { ObjectId: { Length: > 0 } oid } => oid,
            { AppId: { Length: > 0 } app } => app,
            _ => AnonymousCaller,
        };
    }

    /// <summary>
    /// The <see cref="Tags.Deployment"/> value: the name once a backend has answered for it other than with a caller's
    /// error (<see cref="AttemptCompleted"/>), up to <see cref="MaxDeploymentLabels"/> names; otherwise
    /// <see cref="OtherDeployment"/>, so that names that exist nowhere never become series.
    /// </summary>
    internal string DeploymentLabel(string? deployment) =>
        deployment is null or NoDeployment ? NoDeployment : _deployments.ContainsKey(deployment) ? deployment : OtherDeployment;

    internal static string ReasonText(CooldownReason reason) => reason switch
    {
        CooldownReason.Throttled => "throttled",
        CooldownReason.TimedOut => "timedOut",
        _ => "failed",
    };

    private static string OutcomeOf(HttpContext context, int status)
    {
        if (context.RequestAborted.IsCancellationRequested)
        {
            return Outcomes.Cancelled;
        }

        // A relayed answer names its backend; everything else was written by the proxy itself.
        if (context.Response.Headers.ContainsKey(ProxyHeaders.Backend))
        {
            return Outcomes.Served;
        }

        return status switch
        {
            StatusCodes.Status429TooManyRequests => Outcomes.Throttled,
            StatusCodes.Status504GatewayTimeout => Outcomes.TimedOut,
            StatusCodes.Status503ServiceUnavailable => Outcomes.Unavailable,
            >= 500 => Outcomes.Failed,
            >= 400 => Outcomes.Refused,
            _ => Outcomes.Served,
        };
    }

    private void Learn(string? deployment)
    {
        if (deployment is null || _deployments.ContainsKey(deployment) || Volatile.Read(ref _deploymentCount) >= MaxDeploymentLabels)
        {
            return;
        }

        // Two racing first answers may pass the bound by one or two: a bound, not an exact count.
        if (_deployments.TryAdd(deployment, 0))
        {
            Interlocked.Increment(ref _deploymentCount);
        }
    }

    private void CountAttempt(string backend, string? deployment, int attempt, string status)
    {
        var deploymentTag = DeploymentLabel(deployment);
        _attempts.Add(1, new TagList { { Tags.Backend, backend }, { Tags.Deployment, deploymentTag }, { Tags.Status, status } });
        if (attempt > 1)
        {
            _failovers.Add(1, new TagList { { Tags.Backend, backend }, { Tags.Deployment, deploymentTag } });
        }
    }

    private void AddTokens(long? count, string type, string backend, string deployment, string caller)
    {
        if (count is { } n and >= 0)
        {
            _tokens.Add(n, new TagList { { Tags.Backend, backend }, { Tags.Deployment, deployment }, { Tags.Caller, caller }, { Tags.TokenType, type } });
        }
    }

    private static IEnumerable<Measurement<long>> ActiveCooldowns(ProxyOptions options, SharedState state, DateTimeOffset now)
    {
        var counts = new Dictionary<(string Backend, string Reason), long>();
        foreach (var backend in options.Backends)
        {
            foreach (var reason in (ReadOnlySpan<CooldownReason>)[CooldownReason.Throttled, CooldownReason.Failed, CooldownReason.TimedOut])
            {
                counts[(backend.Name, ReasonText(reason))] = 0;
            }
        }

        foreach (var view in CooldownView.Of(options, state.Cooldowns, now))
        {
            counts[(view.Backend, ReasonText(view.Reason))] += 1;
        }

        foreach (var ((backend, reason), count) in counts)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>(Tags.Backend, backend), new KeyValuePair<string, object?>(Tags.Reason, reason));
        }
    }

    private static string StatusText(int status) =>
        (uint)status < (uint)StatusTexts.Length ? StatusTexts[status] : status.ToString(CultureInfo.InvariantCulture);

    private static string[] CreateStatusTexts()
    {
        // Tag values as cached strings: no allocation per measurement.
        var texts = new string[600];
        for (var i = 0; i < texts.Length; i++)
        {
            texts[i] = i.ToString(CultureInfo.InvariantCulture);
        }

        return texts;
    }
}
