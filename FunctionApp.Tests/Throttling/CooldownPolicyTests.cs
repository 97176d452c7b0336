using System.Net;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Throttling;

namespace AoaiProxy.Tests.Throttling;

public class CooldownPolicyTests
{
    // CooldownReason is internal, so a public test method takes it as an int.
    private const int Throttled = (int)CooldownReason.Throttled;
    private const int Failed = (int)CooldownReason.Failed;
    private const int TimedOut = (int)CooldownReason.TimedOut;

    private static readonly DateTimeOffset Now = new(2025, 1, 15, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData(HttpStatusCode.TooManyRequests, true)]
    [InlineData(HttpStatusCode.RequestTimeout, true)]
    [InlineData(HttpStatusCode.InternalServerError, true)]
    [InlineData(HttpStatusCode.BadGateway, true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, true)]
    [InlineData(HttpStatusCode.GatewayTimeout, true)]
    [InlineData(HttpStatusCode.OK, false)]
    [InlineData(HttpStatusCode.Created, false)]
    [InlineData(HttpStatusCode.BadRequest, false)]
    [InlineData(HttpStatusCode.Unauthorized, false)]
    [InlineData(HttpStatusCode.Forbidden, false)]
    [InlineData(HttpStatusCode.NotFound, false)]
    [InlineData(HttpStatusCode.RequestEntityTooLarge, false)]
    [InlineData(HttpStatusCode.NotImplemented, false)]
    [InlineData(HttpStatusCode.HttpVersionNotSupported, false)]
    public void IsFailover_Status_TrueForThrottlingAndServerFailures(HttpStatusCode status, bool expected)
    {
        Assert.Equal(expected, CooldownPolicy.IsFailover(status));
    }

    [Theory]
    [InlineData(null, 10)]
    [InlineData(0.5, 0.5)]
    [InlineData(3.0, 3)]
    [InlineData(60.0, 60)]
    [InlineData(61.0, 60)]
    [InlineData(86400.0, 60)]
    public void ForThrottle_Requested_UsedElseDefaultAndCapped(double? requestedSeconds, double expectedSeconds)
    {
        var options = new ProxyOptions { DefaultThrottleCooldown = TimeSpan.FromSeconds(10), MaxCooldown = TimeSpan.FromSeconds(60) };
        var requested = requestedSeconds is { } s ? TimeSpan.FromSeconds(s) : (TimeSpan?)null;

        var cooldown = CooldownPolicy.ForThrottle(requested, Now, options);

        Assert.Equal(new Cooldown(Now + TimeSpan.FromSeconds(expectedSeconds), CooldownReason.Throttled), cooldown);
    }

    [Fact]
    public void ForThrottle_DefaultAboveMax_Capped()
    {
        var options = new ProxyOptions { DefaultThrottleCooldown = TimeSpan.FromSeconds(90), MaxCooldown = TimeSpan.FromSeconds(30) };

        var cooldown = CooldownPolicy.ForThrottle(null, Now, options);

        Assert.Equal(Now + TimeSpan.FromSeconds(30), cooldown.Until);
    }

    [Theory]
    [InlineData(10, Throttled, 5, Failed, 10, Throttled)]
    [InlineData(5, Failed, 10, Throttled, 10, Throttled)]
    [InlineData(10, Failed, 10, Throttled, 10, Failed)]
    [InlineData(-5, Throttled, 1, TimedOut, 1, TimedOut)]
    [InlineData(60, TimedOut, -1, Throttled, 60, TimedOut)]
    public void Merge_TwoCooldowns_KeepsTheLaterDeadline(
        int existingSeconds, int existingReason, int incomingSeconds, int incomingReason, int expectedSeconds, int expectedReason)
    {
        var existing = new Cooldown(Now.AddSeconds(existingSeconds), (CooldownReason)existingReason);
        var incoming = new Cooldown(Now.AddSeconds(incomingSeconds), (CooldownReason)incomingReason);

        var merged = CooldownPolicy.Merge(existing, incoming);

        Assert.Equal(new Cooldown(Now.AddSeconds(expectedSeconds), (CooldownReason)expectedReason), merged);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(-1_000_000, 0)]
    [InlineData(1, 1)]
    [InlineData(10_000, 1)]
    [InlineData(10_000_000, 1)]
    [InlineData(10_000_001, 2)]
    [InlineData(12_000_000, 2)]
    [InlineData(599_990_000, 60)]
    public void RetryAfterSeconds_Remaining_WholeSecondsRoundedUp(long remainingTicks, long expected)
    {
        Assert.Equal(expected, CooldownPolicy.RetryAfterSeconds(TimeSpan.FromTicks(remainingTicks)));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(-10_000, 0)]
    [InlineData(1, 1)]
    [InlineData(10_000, 1)]
    [InlineData(10_001, 2)]
    [InlineData(12_345_678, 1235)]
    [InlineData(10_000_000, 1000)]
    public void RetryAfterMilliseconds_Remaining_WholeMillisecondsRoundedUp(long remainingTicks, long expected)
    {
        Assert.Equal(expected, CooldownPolicy.RetryAfterMilliseconds(TimeSpan.FromTicks(remainingTicks)));
    }
}
