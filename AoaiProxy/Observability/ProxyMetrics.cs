using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using AoaiProxy.Answers;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Observability;

/// <summary>
/// The engine's one <see cref="Meter"/> and one recording method per event of the request flow (names in
/// <see cref="MetricNames"/>). The pipeline calls these where the event happens (one line each); nothing here decides
/// anything about a request. Exporters (Application Insights, Prometheus, OTLP) subscribe by
/// <see cref="MetricNames.MeterName"/>.
/// </summary>
internal sealed class ProxyMetrics : IDisposable
{
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
    private readonly Counter<long> _waits;
    private readonly Histogram<double> _waitDuration;
    private readonly TimeProvider _time;
    private readonly BackendActivity _backends;
    private readonly DeploymentLabels _deployments = new();

    public ProxyMetrics(
        IMeterFactory meters, ProxyOptions options, SharedState state, StoreActivity store, BackendActivity backends, TimeProvider time,
        IWaitingRequests? waiting = null)
    {
        ArgumentNullException.ThrowIfNull(meters);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(store);
        _time = time;
        _backends = backends;
        _meter = meters.Create(MetricNames.MeterName);
        _requests = _meter.CreateCounter<long>(MetricNames.Instruments.Requests, "{request}", "Requests by outcome, deployment and answered status.");
        _attempts = _meter.CreateCounter<long>(MetricNames.Instruments.Attempts, "{attempt}", "Attempts by backend, deployment and the backend's status (or timeout, transport_error).");
        _failovers = _meter.CreateCounter<long>(MetricNames.Instruments.Failovers, "{failover}", "Attempts that followed a failed attempt of the same request, by the backend failed over to.");
        _cooldownsStarted = _meter.CreateCounter<long>(MetricNames.Instruments.CooldownsStarted, "{cooldown}", "Cooldowns started by this instance, by backend, deployment and reason.");
        _headersDuration = _meter.CreateHistogram(MetricNames.Instruments.HeadersDuration, "s", "Time from sending an attempt to the backend's response headers.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _firstByteDuration = _meter.CreateHistogram(MetricNames.Instruments.FirstByteDuration, "s", "Time from sending an attempt to the first body byte relayed.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        ProxyGauges.Register(_meter, options, state, store, time, waiting);
        _waits = _meter.CreateCounter<long>(MetricNames.Instruments.Waits, "{request}", "Requests that waited for a throttled deployment's next window, by deployment and how the wait ended.");
        _waitDuration = _meter.CreateHistogram(MetricNames.Instruments.WaitDuration, "s", "How long requests waited for a throttled deployment's next window, by deployment and how the wait ended.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _relayFailures = _meter.CreateCounter<long>(MetricNames.Instruments.RelayFailures, "{relay}", "Relays ended by the backend's fault after the response started, by backend and reason (broken, stalled).");
        _tokens = _meter.CreateCounter<long>(MetricNames.Instruments.Tokens, "{token}", "Tokens reported in the responses' usage, by backend, deployment, caller and type.");
    }

    /// <summary>The meter (tests listen to this instance, not to every meter of the name).</summary>
    internal Meter Meter => _meter;

    /// <summary>An attempt got response headers from <paramref name="backend"/>.</summary>
    public void AttemptCompleted(HttpContext context, string backend, string? deployment, int attempt, int status, long started)
    {
        var elapsed = _time.GetElapsedTime(started);
        if (context.Features.Get<RequestTelemetry>() is { } telemetry)
        {
            telemetry.AttemptStarted = started;
        }

        if (DeploymentLabels.Proves(status))
        {
            _deployments.Learn(deployment);
        }

        var tags = new TagList { { MetricNames.Tags.Backend, backend }, { MetricNames.Tags.Deployment, _deployments.Of(deployment) } };
        _headersDuration.Record(elapsed.TotalSeconds, tags);
        CountAttempt(backend, deployment, attempt, StatusText(status));
        _backends.Record(backend, throttled: status == StatusCodes.Status429TooManyRequests, failed: status >= StatusCodes.Status500InternalServerError || status == StatusCodes.Status408RequestTimeout);
    }

    /// <summary>An attempt got no response headers within the timeout.</summary>
    public void AttemptTimedOut(string backend, string? deployment, int attempt)
    {
        // A name that exists nowhere is answered 404 at once: one that times out is taken as real (the bound still holds).
        _deployments.Learn(deployment);
        CountAttempt(backend, deployment, attempt, MetricNames.AttemptStatuses.Timeout);
        _backends.Record(backend, throttled: false, failed: true);
    }

    /// <summary>An attempt failed in transport before any response.</summary>
    public void AttemptFailed(string backend, string? deployment, int attempt)
    {
        _deployments.Learn(deployment);
        CountAttempt(backend, deployment, attempt, MetricNames.AttemptStatuses.TransportError);
        _backends.Record(backend, throttled: false, failed: true);
    }

    /// <summary>This instance started a cooldown.</summary>
    public void CooldownStarted(string backend, string? deployment, CooldownReason reason) =>
        _cooldownsStarted.Add(1, new TagList
        {
            { MetricNames.Tags.Backend, backend }, { MetricNames.Tags.Deployment, _deployments.Of(deployment) }, { MetricNames.Tags.Reason, MetricNames.CooldownReasons.Of(reason) },
        });

    /// <summary>The first body bytes of the relayed answer are about to be written to the caller.</summary>
    public void FirstByte(HttpContext context, string backend)
    {
        if (context.Features.Get<RequestTelemetry>() is { AttemptStarted: { } started } telemetry)
        {
            telemetry.AttemptStarted = null;
            _firstByteDuration.Record(_time.GetElapsedTime(started).TotalSeconds,
                new TagList { { MetricNames.Tags.Backend, backend }, { MetricNames.Tags.Deployment, _deployments.Of(telemetry.Deployment) } });
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
        var deployment = _deployments.Of(telemetry?.Deployment);
        // A caller that went away, whatever was under way (an aborted relay included), is the caller's.
        var outcome = context.RequestAborted.IsCancellationRequested ? MetricNames.Outcomes.Cancelled : MetricNames.Outcomes.Of(telemetry?.Outcome ?? ProxyOutcome.Relayed);
        _requests.Add(1, new TagList { { MetricNames.Tags.Outcome, outcome }, { MetricNames.Tags.Deployment, deployment }, { MetricNames.Tags.Status, StatusText(status) } });

        // Only the answer to a POST (the request that made the model work) spends tokens. A GET reads back what was
        // counted when it was made (a stored response or chat completion, polling a background response, a list of them,
        // a batch's output file with a usage per line): counting those would count the same tokens again at every read.
        if (HttpMethods.IsPost(context.Request.Method) && telemetry is { Backend: { } backend, Usage.Usage: { } usage })
        {
            var caller = telemetry.Caller ?? MetricNames.AnonymousCaller;
            AddTokens(usage.PromptTokens, MetricNames.TokenTypes.Prompt, backend, deployment, caller);
            AddTokens(usage.CompletionTokens, MetricNames.TokenTypes.Completion, backend, deployment, caller);
            AddTokens(usage.TotalTokens, MetricNames.TokenTypes.Total, backend, deployment, caller);
        }

        telemetry?.Usage.Dispose();
    }

    /// <summary>A request's wait for a throttled deployment's next window ended (a <see cref="MetricNames.WaitResults"/> value).</summary>
    public void WaitEnded(string? deployment, string result, TimeSpan waited)
    {
        var tags = new TagList { { MetricNames.Tags.Deployment, _deployments.Of(deployment) }, { MetricNames.Tags.Result, result } };
        _waits.Add(1, tags);
        _waitDuration.Record(waited.TotalSeconds, tags);
    }

    /// <summary>A relay the backend ended badly (a <see cref="MetricNames.RelayFailureReasons"/> value).</summary>
    public void RelayFailed(string backend, string reason) =>
        _relayFailures.Add(1, new KeyValuePair<string, object?>(MetricNames.Tags.Backend, backend), new KeyValuePair<string, object?>(MetricNames.Tags.Reason, reason));

    public void Dispose() => _meter.Dispose();

    private void CountAttempt(string backend, string? deployment, int attempt, string status)
    {
        var deploymentTag = _deployments.Of(deployment);
        _attempts.Add(1, new TagList { { MetricNames.Tags.Backend, backend }, { MetricNames.Tags.Deployment, deploymentTag }, { MetricNames.Tags.Status, status } });
        if (attempt > 1)
        {
            _failovers.Add(1, new TagList { { MetricNames.Tags.Backend, backend }, { MetricNames.Tags.Deployment, deploymentTag } });
        }
    }

    private void AddTokens(long? count, string type, string backend, string deployment, string caller)
    {
        if (count is { } n and >= 0)
        {
            _tokens.Add(n, new TagList
            {
                { MetricNames.Tags.Backend, backend }, { MetricNames.Tags.Deployment, deployment }, { MetricNames.Tags.Caller, caller }, { MetricNames.Tags.TokenType, type },
            });
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
