using System.Collections.Concurrent;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using Polly;
using Polly.CircuitBreaker;

namespace AoaiProxy.Throttling;

/// <summary>What one finished attempt says about a backend's health.</summary>
internal enum HealthSample
{
    /// <summary>Answered and relayed to the end.</summary>
    Success,

    /// <summary>A failover status, a transport failure or a stream that broke off.</summary>
    Failure,

    /// <summary>No response headers before the request's deadline.</summary>
    TimedOut,
}

/// <summary>
/// Failure cooldowns on evidence, as YARP's transport failure rate policy: a backend (per deployment, or backend-wide for
/// connection failures) cools only when, within <see cref="ProxyOptions.FailureSamplingDuration"/>, at least
/// <see cref="ProxyOptions.FailureMinimumRequests"/> attempts were made and <see cref="ProxyOptions.FailureRatio"/> of them
/// failed. One bad request (a body that makes Azure answer 500) therefore cools nothing.
/// <para>
/// The arithmetic is Polly.Core's circuit breaker (failure ratio, minimum throughput, sampling duration, break), one per
/// cooldown key. It is fed outcomes rather than wrapped around the attempt: an attempt's verdict is known only after its
/// relay ends (a stream that breaks off counts), and routing must skip the backend on every instance, so an opened circuit
/// is returned as a cooldown of the break duration, which the caller shares. After the break the breaker is half-open: the
/// next recorded outcome closes it or opens it again (another cooldown).
/// </para>
/// </summary>
internal sealed class FailureRate
{
    /// <summary>
    /// Keys include deployments that callers name (a v1 "model" is any string), so the set is bounded: when full it starts
    /// over. Forgetting samples only delays a cooldown, it never causes one.
    /// </summary>
    internal const int MaxTrackedKeys = 4096;

    /// <summary>Where the breaker's OnOpened leaves the cooldown it opened, for the recording call to return.</summary>
    private static readonly ResiliencePropertyKey<Cooldown> Opened = new("aoaiproxy.failure-rate.opened");

    /// <summary>
    /// By backend and scope (a deployment, <see cref="CooldownScope.NoDeployment"/>, or <see cref="CooldownKeys.AnyDeployment"/>
    /// for the backend as a whole): a pair rather than the cooldown key's string, which every recorded success would
    /// otherwise build (twice per request) only to look it up.
    /// </summary>
    private readonly ConcurrentDictionary<(string Backend, string Scope), ResiliencePipeline<HealthSample>> _breakers = new();
    private readonly ProxyOptions _options;
    private readonly TimeProvider _time;

    public FailureRate(ProxyOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
    }

    /// <summary>
    /// Counts one outcome for <paramref name="backend"/> in <paramref name="scope"/> (its cooldown key is
    /// <c>CooldownKeys.For(backend, scope)</c>) and returns the cooldown to record when this outcome reached the ratio.
    /// </summary>
    /// <param name="backend">The backend's name.</param>
    /// <param name="scope">A deployment, <see cref="CooldownScope.NoDeployment"/>, or <see cref="CooldownKeys.AnyDeployment"/> (the whole backend).</param>
    /// <param name="sample">The outcome.</param>
    public async ValueTask<Cooldown?> RecordAsync(string backend, string scope, HealthSample sample)
    {
        var key = (backend, string.IsNullOrEmpty(scope) ? CooldownKeys.AnyDeployment : scope);
        if (!_breakers.TryGetValue(key, out var breaker))
        {
            if (_breakers.Count >= MaxTrackedKeys)
            {
                _breakers.Clear();
            }

            breaker = _breakers.GetOrAdd(key, static (_, self) => self.Create(), this);
        }

        var context = ResilienceContextPool.Shared.Get();
        try
        {
            // While the circuit is open the outcome is a BrokenCircuitException, returned rather than thrown: the
            // sample is not needed then, the shared cooldown already keeps requests away.
            await breaker.ExecuteOutcomeAsync(
                static (_, s) => ValueTask.FromResult(Outcome.FromResult(s)), context, sample).ConfigureAwait(false);
            if (!context.Properties.TryGetValue(Opened, out var opened) || opened == default)
            {
                return null;
            }

            // The pooled context must not carry it into another recording.
            context.Properties.Set(Opened, default(Cooldown));
            return opened;
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private ResiliencePipeline<HealthSample> Create() =>
        new ResiliencePipelineBuilder<HealthSample>
        {
            TimeProvider = _time,
        }
        .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HealthSample>
        {
            FailureRatio = _options.FailureRatio,
            MinimumThroughput = _options.FailureMinimumRequests,
            SamplingDuration = _options.FailureSamplingDuration,
            BreakDuration = _options.FailureCooldown,
            ShouldHandle = static args => ValueTask.FromResult(args.Outcome.Result != HealthSample.Success),
            OnOpened = args =>
            {
                // Runs within the execution that opened the circuit, before RecordAsync returns.
                var reason = args.Outcome.Result == HealthSample.TimedOut ? CooldownReason.TimedOut : CooldownReason.Failed;
                args.Context.Properties.Set(Opened, new Cooldown(_time.GetUtcNow() + args.BreakDuration, reason));
                return ValueTask.CompletedTask;
            },
        })
        .Build();
}
