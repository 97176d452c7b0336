using AoaiProxy.Affinity;
using AoaiProxy.Pipeline;

namespace AoaiProxy.Tests.Pipeline;

public class AttemptOutcomeTests
{
    [Theory]
    [InlineData(nameof(AttemptError.None), true, true, false)]
    [InlineData(nameof(AttemptError.Throttled), true, false, true)]
    [InlineData(nameof(AttemptError.FailureStatus), true, true, true)]
    [InlineData(nameof(AttemptError.NotFinal), true, true, true)]
    [InlineData(nameof(AttemptError.NotStarted), true, false, true)]
    [InlineData(nameof(AttemptError.Transport), true, true, true)]
    [InlineData(nameof(AttemptError.DeadlineExceeded), true, true, false)]
    [InlineData(nameof(AttemptError.DeadlineWaitingForCaller), true, true, false)]
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

    [Theory]
    [InlineData(nameof(RequestKind.Inference), nameof(AttemptError.FailureStatus), 500, false, true)]
    [InlineData(nameof(RequestKind.Inference), nameof(AttemptError.Transport), 0, false, true)]
    [InlineData(nameof(RequestKind.Inference), nameof(AttemptError.DeadlineExceeded), 0, false, false)]
    [InlineData(nameof(RequestKind.Read), nameof(AttemptError.FailureStatus), 500, false, true)]
    [InlineData(nameof(RequestKind.Stateful), nameof(AttemptError.FailureStatus), 500, false, false)]
    [InlineData(nameof(RequestKind.Stateful), nameof(AttemptError.FailureStatus), 500, true, true)]
    [InlineData(nameof(RequestKind.Stateful), nameof(AttemptError.FailureStatus), 503, false, true)]
    [InlineData(nameof(RequestKind.Stateful), nameof(AttemptError.Throttled), 429, false, true)]
    [InlineData(nameof(RequestKind.Stateful), nameof(AttemptError.NotStarted), 0, false, true)]
    [InlineData(nameof(RequestKind.Stateful), nameof(AttemptError.Transport), 0, false, false)]
    [InlineData(nameof(RequestKind.Stateful), nameof(AttemptError.Cooling), 0, false, true)]
    [InlineData(nameof(RequestKind.Stateful), nameof(AttemptError.CallerGone), 0, true, false)]
    public void AllowsNext_KindAndReplaySetting_StatefulMovesOnOnlyWhenNothingRan(string kind, string error, int status, bool replayStateful, bool expected)
    {
        var outcome = new AttemptOutcome(0, Enum.Parse<AttemptError>(error), status);

        Assert.Equal(expected, outcome.AllowsNext(Enum.Parse<RequestKind>(kind), replayStateful));
    }
}
