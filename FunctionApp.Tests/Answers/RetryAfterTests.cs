using AoaiProxy.Answers;

namespace AoaiProxy.Tests.Answers;

public class RetryAfterTests
{
    [Theory]
    [InlineData(0, 0)]
    [InlineData(-1_000_000, 0)]
    [InlineData(1, 1)]
    [InlineData(10_000, 1)]
    [InlineData(10_000_000, 1)]
    [InlineData(10_000_001, 2)]
    [InlineData(12_000_000, 2)]
    [InlineData(599_990_000, 60)]
    public void Seconds_Remaining_WholeSecondsRoundedUp(long remainingTicks, long expected)
    {
        Assert.Equal(expected, RetryAfter.Seconds(TimeSpan.FromTicks(remainingTicks)));
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(-10_000, 0)]
    [InlineData(1, 1)]
    [InlineData(10_000, 1)]
    [InlineData(10_001, 2)]
    [InlineData(12_345_678, 1235)]
    [InlineData(10_000_000, 1000)]
    public void Milliseconds_Remaining_WholeMillisecondsRoundedUp(long remainingTicks, long expected)
    {
        Assert.Equal(expected, RetryAfter.Milliseconds(TimeSpan.FromTicks(remainingTicks)));
    }
}
