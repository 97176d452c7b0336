using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Throttling;
using Microsoft.Extensions.Time.Testing;

namespace AoaiProxy.Tests.Throttling;

public sealed class FailureRateTests
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

    private readonly FailureRate _rate;

    /// <summary>The cooldowns the recordings returned, by cooldown key, as the caller shares them.</summary>
    private readonly Dictionary<string, Cooldown> _opened = [];

    public FailureRateTests()
    {
        _rate = new FailureRate(_options, _time);
    }

    [Fact]
    public async Task RecordAsync_OneFailure_CoolsNothing()
    {
        await RecordAsync("a", "gpt-4o", HealthSample.Failure);

        Assert.Empty(_opened);
    }

    [Fact]
    public async Task RecordAsync_FailuresBelowMinimumThroughput_CoolsNothing()
    {
        for (var i = 0; i < 3; i++)
        {
            await RecordAsync("a", "gpt-4o", HealthSample.Failure);
        }

        Assert.Empty(_opened);
    }

    [Fact]
    public async Task RecordAsync_RatioReachedAtMinimumThroughput_CoolsThatKeyForTheFailureCooldown()
    {
        await RecordAsync("a", "gpt-4o", HealthSample.Success);
        await RecordAsync("a", "gpt-4o", HealthSample.Success);
        await RecordAsync("a", "gpt-4o", HealthSample.Failure);
        await RecordAsync("a", "gpt-4o", HealthSample.Failure);

        var cooldown = Assert.Single(_opened);
        Assert.Equal(Key, cooldown.Key);
        Assert.Equal(new Cooldown(_time.GetUtcNow() + _options.FailureCooldown, CooldownReason.Failed), cooldown.Value);
    }

    [Fact]
    public async Task RecordAsync_SuccessesDiluteFailures_CoolsNothing()
    {
        for (var i = 0; i < 7; i++)
        {
            await RecordAsync("a", "gpt-4o", HealthSample.Success);
        }

        for (var i = 0; i < 3; i++)
        {
            await RecordAsync("a", "gpt-4o", HealthSample.Failure);
        }

        Assert.Empty(_opened);
    }

    [Fact]
    public async Task RecordAsync_FailuresSpreadBeyondSamplingWindow_CoolsNothing()
    {
        for (var i = 0; i < 4; i++)
        {
            await RecordAsync("a", "gpt-4o", HealthSample.Failure);
            _time.Advance(TimeSpan.FromSeconds(31));
            await RecordAsync("a", "gpt-4o", HealthSample.Success);
        }

        Assert.Empty(_opened);
    }

    [Fact]
    public async Task RecordAsync_TimeoutsOpenTheCircuit_CoolsAsTimedOut()
    {
        for (var i = 0; i < 4; i++)
        {
            await RecordAsync("a", "gpt-4o", HealthSample.TimedOut);
        }

        Assert.Equal(CooldownReason.TimedOut, _opened[Key].Reason);
    }

    [Fact]
    public async Task RecordAsync_FailureAfterBreak_CoolsAgain()
    {
        for (var i = 0; i < 4; i++)
        {
            await RecordAsync("a", "gpt-4o", HealthSample.Failure);
        }

        _time.Advance(_options.FailureCooldown + TimeSpan.FromSeconds(1));
        await RecordAsync("a", "gpt-4o", HealthSample.Failure);

        Assert.Equal(_time.GetUtcNow() + _options.FailureCooldown, _opened[Key].Until);
    }

    [Fact]
    public async Task RecordAsync_OtherKey_Independent()
    {
        for (var i = 0; i < 4; i++)
        {
            await RecordAsync("a", "gpt-4o", HealthSample.Failure);
        }

        await RecordAsync("a", "other", HealthSample.Failure);

        Assert.Equal([Key], _opened.Keys);
    }

    [Fact]
    public async Task RecordAsync_SampleThatOpensTheCircuit_ReturnsItsCooldownOnce()
    {
        for (var i = 0; i < 3; i++)
        {
            Assert.Null(await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure));
        }

        Assert.Equal(new Cooldown(_time.GetUtcNow() + _options.FailureCooldown, CooldownReason.Failed),
            await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure));
        Assert.Null(await _rate.RecordAsync("a", "gpt-4o", HealthSample.Failure));
        Assert.Null(await _rate.RecordAsync("b", "gpt-4o", HealthSample.Success));
    }

    private async Task RecordAsync(string backend, string scope, HealthSample sample)
    {
        if (await _rate.RecordAsync(backend, scope, sample) is { } cooldown)
        {
            _opened[CooldownKeys.For(backend, scope)] = cooldown;
        }
    }
}
