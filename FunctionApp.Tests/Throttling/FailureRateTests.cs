using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Throttling;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AoaiProxy.Tests.Throttling;

public sealed class FailureRateTests : IAsyncDisposable
{
    private const string Key = "a/gpt-4o";
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 1, 15, 12, 0, 0, TimeSpan.Zero));
    private readonly ProxyOptions _options = new()
    {
        FailureRatio = 0.5,
        FailureMinimumRequests = 4,
        FailureSamplingDuration = TimeSpan.FromSeconds(30),
        FailureCooldown = TimeSpan.FromSeconds(5),
    };

    private readonly SharedState _state;
    private readonly FailureRate _rate;

    public FailureRateTests()
    {
        _state = SharedStateParts.Create(new InMemoryStateStore(), _options, _time, NullLogger<SharedState>.Instance).View;
        _rate = new FailureRate(_options, _state, _time, NullLogger<FailureRate>.Instance);
    }

    [Fact]
    public async Task RecordAsync_OneFailure_CoolsNothing()
    {
        await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure);

        Assert.Empty(_state.Cooldowns);
    }

    [Fact]
    public async Task RecordAsync_FailuresBelowMinimumThroughput_CoolsNothing()
    {
        for (var i = 0; i < 3; i++)
        {
            await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure);
        }

        Assert.Empty(_state.Cooldowns);
    }

    [Fact]
    public async Task RecordAsync_RatioReachedAtMinimumThroughput_CoolsThatKeyForTheFailureCooldown()
    {
        await _rate.RecordAsync("a", "gpt-4o", HealthSample.Success);
        await _rate.RecordAsync("a", "gpt-4o", HealthSample.Success);
        await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure);
        await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure);

        var cooldown = Assert.Single(_state.Cooldowns);
        Assert.Equal(Key, cooldown.Key);
        Assert.Equal(new Cooldown(_time.GetUtcNow() + _options.FailureCooldown, CooldownReason.Failed), cooldown.Value);
    }

    [Fact]
    public async Task RecordAsync_SuccessesDiluteFailures_CoolsNothing()
    {
        for (var i = 0; i < 7; i++)
        {
            await _rate.RecordAsync("a", "gpt-4o", HealthSample.Success);
        }

        for (var i = 0; i < 3; i++)
        {
            await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure);
        }

        Assert.Empty(_state.Cooldowns);
    }

    [Fact]
    public async Task RecordAsync_FailuresSpreadBeyondSamplingWindow_CoolsNothing()
    {
        for (var i = 0; i < 4; i++)
        {
            await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure);
            _time.Advance(TimeSpan.FromSeconds(31));
            await _rate.RecordAsync("a", "gpt-4o", HealthSample.Success);
        }

        Assert.Empty(_state.Cooldowns);
    }

    [Fact]
    public async Task RecordAsync_TimeoutsOpenTheCircuit_CoolsAsTimedOut()
    {
        for (var i = 0; i < 4; i++)
        {
            await _rate.RecordAsync("a", "gpt-4o", HealthSample.TimedOut);
        }

        Assert.Equal(CooldownReason.TimedOut, _state.Cooldowns[Key].Reason);
    }

    [Fact]
    public async Task RecordAsync_FailureAfterBreak_CoolsAgain()
    {
        for (var i = 0; i < 4; i++)
        {
            await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure);
        }

        _time.Advance(_options.FailureCooldown + TimeSpan.FromSeconds(1));
        await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure);

        Assert.Equal(_time.GetUtcNow() + _options.FailureCooldown, _state.Cooldowns[Key].Until);
    }

    [Fact]
    public async Task RecordAsync_OtherKey_Independent()
    {
        for (var i = 0; i < 4; i++)
        {
            await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure);
        }

        await _rate.RecordAsync("a", "other", HealthSample.Failure);

        Assert.Equal([Key], _state.Cooldowns.Keys);
    }

    public ValueTask DisposeAsync() => _state.DisposeAsync();
}
