using AoaiProxy.Forwarding;

namespace AoaiProxy.Tests.Forwarding;

public class CallerWaitsTests
{
    [Fact]
    public void Start_EachAttempt_TakesTheNextNumber()
    {
        var waits = new CallerWaits();

        Assert.Equal(1, waits.Start());
        Assert.Equal(2, waits.Start());
        Assert.False(waits.WaitingForCaller);
    }

    [Fact]
    public void Cancelled_LatestAttempt_WaitingForCaller()
    {
        var waits = new CallerWaits();
        waits.Start();
        var latest = waits.Start();

        waits.Cancelled(latest);

        Assert.True(waits.WaitingForCaller);
    }

    [Fact]
    public void Start_AfterACancelledAttempt_TheNewOneIsNotWaitingForCaller()
    {
        var waits = new CallerWaits();
        waits.Cancelled(waits.Start());

        waits.Start();

        Assert.False(waits.WaitingForCaller);
    }

    [Fact]
    public void Cancelled_EarlierAttemptLate_DoesNotSpeakForTheOneInFlight()
    {
        var waits = new CallerWaits();
        var first = waits.Start();
        var second = waits.Start();
        waits.Cancelled(second);

        waits.Cancelled(first);

        Assert.True(waits.WaitingForCaller);
        waits.Start();
        waits.Cancelled(first);
        Assert.False(waits.WaitingForCaller);
    }
}
