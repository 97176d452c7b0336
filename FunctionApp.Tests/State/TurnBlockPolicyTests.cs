using AoaiProxy.State;

namespace AoaiProxy.Tests.State;

public sealed class TurnBlockPolicyTests
{
    [Theory]
    [InlineData(100, 10.0)]
    [InlineData(TurnBlockPolicy.MinLead, 0.0)]
    public void BlockToClaim_EnoughTurnsLeft_ClaimsNothing(long remaining, double rate)
    {
        Assert.Equal(0, TurnBlockPolicy.BlockToClaim(remaining, rate));
    }

    [Theory]
    [InlineData(0.0, TurnBlockPolicy.MinBlock)]
    [InlineData(100.0, 2000)]
    [InlineData(1e9, TurnBlockPolicy.MaxBlock)]
    public void BlockToClaim_RunningLow_SizedToTheHorizonWithinBounds(double rate, int expected)
    {
        Assert.Equal(expected, TurnBlockPolicy.BlockToClaim(0, rate));
    }

    [Fact]
    public void BlockToClaim_MoreClaimsWaitingThanTheRateCovers_GivesEachATurnAndKeepsTheLead()
    {
        // After idling the rate is measured over the quiet period: a burst of 500 sees about 1 claim per second.
        var size = TurnBlockPolicy.BlockToClaim(remaining: 4, claimsPerSecond: 1, waiting: 500);

        Assert.Equal(500 - 4 + TurnBlockPolicy.RefillBelow(1), size);
    }

    [Fact]
    public void BlockToClaim_WaitingClaimsThatTheTurnsLeftCover_ClaimsNothing()
    {
        Assert.Equal(0, TurnBlockPolicy.BlockToClaim(remaining: 100, claimsPerSecond: 1, waiting: 50));
    }
}
