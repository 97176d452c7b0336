using System.Net;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Throttling;

namespace AoaiProxy.Tests.Throttling;

public class CooldownPolicyTests
{
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
}
