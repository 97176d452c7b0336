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
    public void Properties_EachError_SentMayHaveRunAndFailover(string error, bool sent, bool mayHaveRun, bool failover)
    {
        var outcome = new AttemptOutcome(0, Enum.Parse<AttemptError>(error));

        Assert.Equal(sent, outcome.Sent);
        Assert.Equal(mayHaveRun, outcome.MayHaveRun);
        Assert.Equal(failover, outcome.AllowsFailover);
    }
}
