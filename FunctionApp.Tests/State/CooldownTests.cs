using AoaiProxy.State;

namespace AoaiProxy.Tests.State;

public class CooldownTests
{
    // CooldownReason is internal, so a public test method takes it as an int.
    private const int Throttled = (int)CooldownReason.Throttled;
    private const int Failed = (int)CooldownReason.Failed;
    private const int TimedOut = (int)CooldownReason.TimedOut;

    private static readonly DateTimeOffset Now = new(2025, 1, 15, 12, 0, 0, TimeSpan.Zero);

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

        var merged = Cooldown.Merge(existing, incoming);

        Assert.Equal(new Cooldown(Now.AddSeconds(expectedSeconds), (CooldownReason)expectedReason), merged);
    }
}
