using AoaiProxy.Configuration;
using AoaiProxy.Logging;
using AoaiProxy.Observability;
using AoaiProxy.State;
using AoaiProxy.Throttling;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Pipeline;

/// <summary>
/// The one place that turns what happened to a backend into its health, as YARP's passive health policy reads the
/// forwarder's error: an attempt's outcome, a relay's end or a list page becomes cooldowns (shared through
/// <see cref="SharedState"/>), failure-rate samples (<see cref="FailureRate"/>), metrics and the attempt's log line.
/// Every path that calls a backend (the failover loop, the list fan-out, the relay) reports here and nowhere else.
/// </summary>
internal sealed class BackendHealth
{
    private readonly ProxyOptions _options;
    private readonly SharedState _state;
    private readonly FailureRate _failures;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ProxyMetrics? _metrics;
    private readonly HeadroomBook _headroom;
    private readonly WaitRoom? _waits;

    public BackendHealth(
        ProxyOptions options, SharedState state, FailureRate failures, HeadroomBook headroom, TimeProvider time, ILogger<BackendHealth> logger,
        ProxyMetrics? metrics = null, WaitRoom? waits = null)
    {
        _waits = waits;
        _options = options;
        _state = state;
        _failures = failures;
        _headroom = headroom;
        _time = time;
        _logger = logger;
        _metrics = metrics;
    }

    /// <summary>
    /// How long an answer's report of what its deployment has left is taken to describe the window when no 429 has named
    /// the deployment's window boundaries yet: Azure OpenAI enforces its limits over windows of 1 or 10 seconds.
    /// </summary>
    internal static readonly TimeSpan ReportHorizon = TimeSpan.FromSeconds(10);

    /// <summary>An attempt ended (response headers, or a failure before them).</summary>
    /// <param name="context">The caller's request (its telemetry).</param>
    /// <param name="deployment">The request's deployment (null: none).</param>
    /// <param name="outcome">The attempt's outcome, as <see cref="BackendAttempt"/> returned it.</param>
    public async ValueTask AttemptEndedAsync(HttpContext context, string? deployment, AttemptOutcome outcome)
    {
        var backend = _options.Backends[outcome.Backend].Name;
        var label = deployment ?? CooldownScope.NoDeployment;
        var elapsedMs = (long)outcome.Elapsed.TotalMilliseconds;
        switch (outcome.Error)
        {
            case AttemptError.CallerGone:
                Log.CallerCancelled(_logger, outcome.Attempt, backend);
                return;

            case AttemptError.DeadlineExceeded or AttemptError.DeadlineWaitingForCaller:
                Log.AttemptDeadlineExceeded(_logger, outcome.Attempt, backend, label, elapsedMs, (long)_options.RequestTimeout.TotalMilliseconds);
                _metrics?.AttemptTimedOut(backend, deployment, outcome.Attempt);
                if (outcome.Error == AttemptError.DeadlineExceeded)
                {
                    await SampleAsync(backend, CooldownScope.Of(deployment), HealthSample.TimedOut).ConfigureAwait(false);
                }

                return;

            case AttemptError.NotStarted:
                // No connection: the backend never saw the request, and the fault is the backend's as a whole.
                Log.AttemptNotStarted(_logger, outcome.Attempt, backend, label, elapsedMs, outcome.Detail ?? "");
                _metrics?.AttemptFailed(backend, deployment, outcome.Attempt);
                await SampleAsync(backend, CooldownKeys.AnyDeployment, HealthSample.Failure).ConfigureAwait(false);
                return;

            case AttemptError.Transport:
                Log.AttemptTransportFailed(_logger, outcome.Attempt, backend, label, elapsedMs, outcome.Detail ?? "");
                _metrics?.AttemptFailed(backend, deployment, outcome.Attempt);
                await SampleAsync(backend, CooldownKeys.AnyDeployment, HealthSample.Failure).ConfigureAwait(false);
                return;
        }

        if (!outcome.Answered)
        {
            return;
        }

        // Any answer proves the connection: the backend-wide rate (fed by connection failures above) must count it too,
        // or a few sporadic resets among thousands of answers read as a 100% failure rate and cool every deployment.
        await SampleAsync(backend, CooldownKeys.AnyDeployment, HealthSample.Success).ConfigureAwait(false);
        Log.AttemptCompleted(_logger, outcome.Attempt, backend, label, outcome.Status, movesOn: outcome.Error != AttemptError.None, elapsedMs);
        _metrics?.AttemptCompleted(context, backend, deployment, outcome.Attempt, outcome.Status, outcome.Started);
        var now = _time.GetUtcNow();
        var scope = CooldownScope.Of(deployment);
        if (outcome.Error == AttemptError.Throttled)
        {
            // Exact, per 429: the backend says how long. Keyed by the request's scope, never backend-wide; what the window
            // still takes (its remaining tokens) goes with it, so that requests that fit are not kept from it.
            var cooldown = CooldownPolicy.ForThrottle(ThrottleHeaders.RequestedDelay(outcome.Throttle, now), now, _options) with
            {
                Headroom = outcome.Left.Requests is 0 ? null : outcome.Left.Tokens,
            };
            _state.RecordCooldown(CooldownScope.KeyFor(backend, deployment), cooldown);
            _headroom.Throttled(backend, scope, cooldown.Until, now);
            Report(backend, deployment, outcome, cooldown.Until, now);
            _metrics?.CooldownStarted(backend, deployment, cooldown.Reason);
            Log.CoolingDown(_logger, backend, deployment ?? CooldownScope.NoDeployment, Math.Round((cooldown.Until - now).TotalSeconds, 3), cooldown.Reason.ToString());
        }
        else
        {
            Report(backend, deployment, outcome, _headroom.Of(backend, scope).WindowEndAfter(now) ?? now + ReportHorizon, now);
            if (outcome.Error is AttemptError.FailureStatus or AttemptError.NotFinal)
            {
                await SampleAsync(backend, scope, HealthSample.Failure).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// What the answer said its deployment has left, counted from the request's place in the ledger; the requests waiting
    /// for the deployment look again.
    /// </summary>
    private void Report(string backend, string? deployment, in AttemptOutcome outcome, DateTimeOffset until, DateTimeOffset now)
    {
        var admitted = outcome.Error != AttemptError.Throttled;
        if (outcome.Ticket is { } ticket)
        {
            _headroom.Report(backend, CooldownScope.Of(deployment), ticket, outcome.Left.Tokens, outcome.Left.Requests, until, now, admitted);
        }

        _waits?.Answered(outcome.Backend, deployment, admitted);
    }

    /// <summary>A relayed answer ended: the attempt's verdict for the failure rate (a stream that broke off counts).</summary>
    public ValueTask RelayEndedAsync(int index, string? deployment, RelayResult result)
    {
        var backend = _options.Backends[index].Name;
        switch (result)
        {
            case RelayResult.Completed:
                return SampleAsync(backend, CooldownScope.Of(deployment), HealthSample.Success);
            case RelayResult.BackendBroke:
                _metrics?.RelayFailed(backend, MetricNames.RelayFailureReasons.Broken);
                return SampleAsync(backend, CooldownScope.Of(deployment), HealthSample.Failure);
            case RelayResult.BackendStalled:
                _metrics?.RelayFailed(backend, MetricNames.RelayFailureReasons.Stalled);
                return SampleAsync(backend, CooldownScope.Of(deployment), HealthSample.Failure);
            default:
                // The caller went away or stopped reading: nobody's fault but the caller's.
                return ValueTask.CompletedTask;
        }
    }

    /// <summary>A list page was read whole from a backend that answered well (a merged list's part).</summary>
    public ValueTask PageReadAsync(int index, string? deployment) =>
        SampleAsync(_options.Backends[index].Name, CooldownScope.Of(deployment), HealthSample.Success);

    /// <summary>Feeds the failure rate; a circuit it opens becomes a cooldown every instance honours.</summary>
    private async ValueTask SampleAsync(string backend, string scope, HealthSample sample)
    {
        if (await _failures.RecordAsync(backend, scope, sample).ConfigureAwait(false) is not { } cooldown)
        {
            return;
        }

        var key = CooldownKeys.For(backend, scope);
        _state.RecordCooldown(key, cooldown);
        _metrics?.CooldownStarted(backend, scope, cooldown.Reason);
        Log.FailureRateReached(_logger, key, _options.FailureRatio, _options.FailureMinimumRequests,
            _options.FailureCooldown.TotalSeconds, cooldown.Reason.ToString());
    }
}
