using AoaiProxy.Observability;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Tests.Observability;

public sealed class StatusOutcomeTests
{
    [Theory]
    [InlineData(200, false, false, "served")]
    [InlineData(404, true, false, "served")]
    [InlineData(503, true, false, "served")]
    [InlineData(200, false, true, "cancelled")]
    [InlineData(429, false, false, "throttled")]
    [InlineData(504, false, false, "timed_out")]
    [InlineData(503, false, false, "unavailable")]
    [InlineData(502, false, false, "failed")]
    [InlineData(500, false, false, "failed")]
    [InlineData(401, false, false, "refused")]
    [InlineData(413, false, false, "refused")]
    [InlineData(204, false, false, "served")]
    public void OutcomeOf_Answer_Outcome(int status, bool relayed, bool callerGone, string expected)
    {
        var context = new DefaultHttpContext();
        if (relayed)
        {
            context.Response.Headers["x-proxy-backend"] = "a";
        }

        using var aborted = new CancellationTokenSource();
        context.RequestAborted = aborted.Token;
        if (callerGone)
        {
            aborted.Cancel();
        }

        Assert.Equal(expected, StatusOutcome.OutcomeOf(context, status));
    }
}
