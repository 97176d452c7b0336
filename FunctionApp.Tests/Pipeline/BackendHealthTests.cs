using AoaiProxy.Configuration;
using AoaiProxy.Observability;
using AoaiProxy.Pipeline;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using AoaiProxy.Throttling;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using M = AoaiProxy.Observability.MetricNames;

namespace AoaiProxy.Tests.Pipeline;

/// <summary>
/// <see cref="BackendHealth"/> is the one place an outcome becomes cooldowns, failure-rate samples, metrics and the
/// attempt's log line: each outcome and relay end against what it must (and must not) cause.
/// </summary>
public sealed class BackendHealthTests : IAsyncDisposable
{
    private const string Deployment = "gpt-4o";
    private const int MinimumRequests = 4;
    private readonly ManualTimeProvider _time = new();
    private readonly LogCapture _logs = new();
    private readonly ServiceProvider _services;
    private readonly BackendHealth _health;
    private readonly SharedState _state;
    private readonly MetricsRecorder _metrics;
    private readonly HttpContext _context = new DefaultHttpContext();

    public BackendHealthTests()
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(_time);
        services.AddLogging(logging => logging.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace));
        services.AddAzureOpenAIProxy(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Proxy:Backends:0:Endpoint"] = "https://a.openai.azure.com",
            ["Proxy:Backends:1:Endpoint"] = "https://b.openai.azure.com",
            ["Proxy:FailureRate:MinimumRequests"] = MinimumRequests.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }).Build());
        _services = services.BuildServiceProvider();
        _health = _services.GetRequiredService<BackendHealth>();
        _state = _services.GetRequiredService<SharedState>();
        _metrics = new MetricsRecorder(_services.GetRequiredService<ProxyMetrics>().Meter);
        RequestTelemetry.RequestStarted(_context);
    }

    private string A => _services.GetRequiredService<ProxyOptions>().Backends[0].Name;

    [Fact]
    public async Task AttemptEndedAsync_429WithRetryAfterMs_CoolsThatDeploymentForAsLongAsAsked()
    {
        await _health.AttemptEndedAsync(_context, Deployment, Throttled(retryAfterMs: "2500"));

        var cooldown = Assert.Single(_state.Cooldowns);
        Assert.Equal(CooldownKeys.For(A, Deployment), cooldown.Key);
        Assert.Equal(new Cooldown(_time.GetUtcNow().AddMilliseconds(2500), CooldownReason.Throttled), cooldown.Value);
        Assert.Equal(1, _metrics.Sum(M.Instruments.CooldownsStarted, (M.Tags.Backend, A), (M.Tags.Reason, "throttled")));
        Assert.Equal(1, _metrics.Sum(M.Instruments.Attempts, (M.Tags.Backend, A), (M.Tags.Status, "429")));
        Assert.Contains(_logs.Entries, e => e.EventId.Name == "CoolingDown" && e.Level == LogLevel.Information);
        Assert.Contains(_logs.Entries, e => e.EventId.Name == "AttemptCompleted" && e.Level == LogLevel.Information);
    }

    [Fact]
    public async Task AttemptEndedAsync_429OfARequestWithoutDeployment_CoolsOnlyThatScope()
    {
        await _health.AttemptEndedAsync(_context, null, Throttled(retryAfterMs: "1000"));

        Assert.Equal([CooldownKeys.For(A, CooldownScope.NoDeployment)], _state.Cooldowns.Keys);
    }

    [Fact]
    public async Task AttemptEndedAsync_Served_LogsAtDebugAndCoolsNothing()
    {
        await _health.AttemptEndedAsync(_context, Deployment, Outcome(AttemptError.None, 200));

        Assert.Empty(_state.Cooldowns);
        Assert.Contains(_logs.Entries, e => e.EventId.Name == "AttemptCompleted" && e.Level == LogLevel.Debug);
        Assert.Equal(1, _metrics.Sum(M.Instruments.Attempts, (M.Tags.Backend, A), (M.Tags.Status, "200")));
    }

    public static TheoryData<string, int, string> Failures => new()
    {
        // What fails, and which cooldown key the failure rate opens once it is reached.
        { nameof(AttemptError.FailureStatus), 500, "deployment" },
        { nameof(AttemptError.FailureStatus), 503, "deployment" },
        { nameof(AttemptError.NotStarted), 0, "backend" },
        { nameof(AttemptError.Transport), 0, "backend" },
        { nameof(AttemptError.DeadlineExceeded), 0, "deployment" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task AttemptEndedAsync_FailuresReachTheRatio_FailureRateCoolsTheirScope(string error, int status, string scope)
    {
        for (var i = 0; i < MinimumRequests; i++)
        {
            Assert.Empty(_state.Cooldowns);
            await _health.AttemptEndedAsync(_context, Deployment, Outcome(Enum.Parse<AttemptError>(error), status));
        }

        var cooldown = Assert.Single(_state.Cooldowns);
        Assert.Equal(scope == "backend" ? CooldownKeys.ForBackend(A) : CooldownKeys.For(A, Deployment), cooldown.Key);
        Assert.Equal(error == nameof(AttemptError.DeadlineExceeded) ? CooldownReason.TimedOut : CooldownReason.Failed, cooldown.Value.Reason);
        Assert.Contains(_logs.Entries, e => e.EventId.Name == "FailureRateReached" && e.Level == LogLevel.Warning);
    }

    [Theory]
    [InlineData(nameof(AttemptError.DeadlineWaitingForCaller))]
    [InlineData(nameof(AttemptError.CallerGone))]
    [InlineData(nameof(AttemptError.Cooling))]
    [InlineData(nameof(AttemptError.NoCredential))]
    public async Task AttemptEndedAsync_NotTheBackendsFault_NeverCools(string error)
    {
        for (var i = 0; i < 3 * MinimumRequests; i++)
        {
            await _health.AttemptEndedAsync(_context, Deployment, Outcome(Enum.Parse<AttemptError>(error)));
        }

        Assert.Empty(_state.Cooldowns);
        Assert.DoesNotContain(_logs.Entries, e => e.Category.StartsWith("AoaiProxy", StringComparison.Ordinal) && e.Level >= LogLevel.Warning
            && e.EventId.Name != "AttemptDeadlineExceeded");
    }

    [Fact]
    public async Task AttemptEndedAsync_SporadicResetsAmongAnswers_BackendWideRateCountsTheAnswers()
    {
        // Every answer proves the connection: three resets among many answers stay far under the ratio.
        for (var i = 0; i < 3; i++)
        {
            await _health.AttemptEndedAsync(_context, Deployment, Outcome(AttemptError.None, 200));
            await _health.AttemptEndedAsync(_context, Deployment, Outcome(AttemptError.Transport));
            await _health.AttemptEndedAsync(_context, Deployment, Outcome(AttemptError.None, 200));
        }

        Assert.Empty(_state.Cooldowns);
    }

    [Theory]
    [InlineData(nameof(RelayResult.BackendBroke), "broken")]
    [InlineData(nameof(RelayResult.BackendStalled), "stalled")]
    public async Task RelayEndedAsync_BackendEndedTheStreamBadly_CountedAndSampledAsFailure(string result, string reason)
    {
        for (var i = 0; i < MinimumRequests; i++)
        {
            await _health.RelayEndedAsync(0, Deployment, Enum.Parse<RelayResult>(result));
        }

        Assert.Equal(MinimumRequests, _metrics.Sum(M.Instruments.RelayFailures, (M.Tags.Backend, A), (M.Tags.Reason, reason)));
        Assert.Equal([CooldownKeys.For(A, Deployment)], _state.Cooldowns.Keys);
    }

    [Fact]
    public async Task RelayEndedAsync_CallerFailed_NobodyBlamed()
    {
        for (var i = 0; i < 3 * MinimumRequests; i++)
        {
            await _health.RelayEndedAsync(0, Deployment, RelayResult.CallerFailed);
        }

        Assert.Empty(_state.Cooldowns);
        Assert.Empty(_metrics.Of(M.Instruments.RelayFailures));
    }

    [Fact]
    public async Task PageReadAsync_GoodPages_DiluteFailuresOfTheirDeployment()
    {
        for (var i = 0; i < MinimumRequests; i++)
        {
            await _health.PageReadAsync(0, Deployment);
            await _health.PageReadAsync(0, Deployment);
            await _health.AttemptEndedAsync(_context, Deployment, Outcome(AttemptError.FailureStatus, 500));
        }

        Assert.Empty(_state.Cooldowns);
    }

    public async ValueTask DisposeAsync()
    {
        _metrics.Dispose();
        await _services.DisposeAsync();
    }

    private AttemptOutcome Outcome(AttemptError error, int status = 0) =>
        new(0, error, status) { Attempt = 1, Started = _time.GetTimestamp(), Elapsed = TimeSpan.FromMilliseconds(5), Detail = "detail" };

    private AttemptOutcome Throttled(string retryAfterMs) =>
        Outcome(AttemptError.Throttled, 429) with { Throttle = new ThrottleHeaderValues(retryAfterMs, null, null, null, null, null) };
}
