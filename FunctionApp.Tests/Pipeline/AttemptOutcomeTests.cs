using AoaiProxy.Pipeline;

namespace AoaiProxy.Tests.Pipeline;

public class AttemptOutcomeTests
{
    [Theory]
    [InlineData(nameof(AttemptError.None), true, true, false)]
    [InlineData(nameof(AttemptError.Throttled), true, false, true)]
    [InlineData(nameof(AttemptError.FailureStatus), true, true, true)]
    [InlineData(nameof(AttemptError.NotStarted), true, false, true)]
    [InlineData(nameof(AttemptError.Transport), true, true, true)]
    [InlineData(nameof(AttemptError.DeadlineExceeded), true, true, false)]
    [InlineData(nameof(AttemptError.CallerGone), true, true, false)]
    [InlineData(nameof(AttemptError.Cooling), false, false, true)]
    [InlineData(nameof(AttemptError.NoCredential), false, false, true)]
    [InlineData(nameof(AttemptError.CallerBodyFailed), true, false, false)]
    public void Properties_EachError_SentMayHaveRunAndFailover(string error, bool sent, bool mayHaveRun, bool failover)
    {
        var outcome = new AttemptOutcome(0, Enum.Parse<AttemptError>(error));

        Assert.Equal(sent, outcome.Sent);
        Assert.Equal(mayHaveRun, outcome.MayHaveRun);
        Assert.Equal(failover, outcome.AllowsFailover);
    }

    [Theory]
    [InlineData(500, true)]
    [InlineData(502, true)]
    [InlineData(504, true)]
    [InlineData(408, true)]
    [InlineData(503, false)]
    public void MayHaveRun_FailureStatus_OnlyA503IsARefusal(int status, bool mayHaveRun)
    {
        Assert.Equal(mayHaveRun, new AttemptOutcome(0, AttemptError.FailureStatus, status).MayHaveRun);
    }

    [Fact]
    public void Properties_ObjectNotHeld_NotRunAndFailsOver()
    {
        var outcome = new AttemptOutcome(0, AttemptError.ObjectNotHeld, 404);

        Assert.True(outcome.Sent);
        Assert.False(outcome.MayHaveRun);
        Assert.True(outcome.AllowsFailover);
    }
}
