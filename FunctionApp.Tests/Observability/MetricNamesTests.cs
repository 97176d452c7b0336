using AoaiProxy.Answers;
using AoaiProxy.Observability;
using AoaiProxy.State;

namespace AoaiProxy.Tests.Observability;

public sealed class MetricNamesTests
{
    [Theory]
    [InlineData(nameof(CooldownReason.Throttled), "throttled")]
    [InlineData(nameof(CooldownReason.TimedOut), "timedOut")]
    [InlineData(nameof(CooldownReason.Failed), "failed")]
    public void CooldownReasonsOf_Reason_TheDocumentedValue(string reason, string expected)
    {
        Assert.Equal(expected, MetricNames.CooldownReasons.Of(Enum.Parse<CooldownReason>(reason)));
    }

    [Theory]
    [InlineData(nameof(ProxyOutcome.Relayed), "served")]
    [InlineData(nameof(ProxyOutcome.CallerGone), "cancelled")]
    [InlineData(nameof(ProxyOutcome.Throttled), "throttled")]
    [InlineData(nameof(ProxyOutcome.BackendsTimedOut), "timed_out")]
    [InlineData(nameof(ProxyOutcome.BackendsFailed), "failed")]
    [InlineData(nameof(ProxyOutcome.ProxyFailure), "failed")]
    [InlineData(nameof(ProxyOutcome.AuthenticationUnavailable), "unavailable")]
    [InlineData(nameof(ProxyOutcome.ProxyIdentityUnavailable), "unavailable")]
    [InlineData(nameof(ProxyOutcome.NotProxied), "refused")]
    [InlineData(nameof(ProxyOutcome.DeploymentNotFound), "refused")]
    [InlineData(nameof(ProxyOutcome.InvalidPath), "refused")]
    [InlineData(nameof(ProxyOutcome.MethodNotAllowed), "refused")]
    [InlineData(nameof(ProxyOutcome.BodyTooLarge), "refused")]
    [InlineData(nameof(ProxyOutcome.BadRequest), "refused")]
    [InlineData(nameof(ProxyOutcome.Unauthenticated), "refused")]
    [InlineData(nameof(ProxyOutcome.Forbidden), "refused")]
    public void OutcomesOf_EveryOutcome_ItsDocumentedLabel(string outcome, string label)
    {
        Assert.Equal(label, MetricNames.Outcomes.Of(Enum.Parse<ProxyOutcome>(outcome)));
    }

    [Fact]
    public void OutcomesOf_EveryOutcome_HasARow()
    {
        var rows = typeof(MetricNamesTests).GetMethod(nameof(OutcomesOf_EveryOutcome_ItsDocumentedLabel))!
            .GetCustomAttributes(typeof(InlineDataAttribute), false).Cast<InlineDataAttribute>()
            .Select(a => (string)a.GetData(null!).Single()[0]!);

        Assert.Equal(Enum.GetNames<ProxyOutcome>().Order(), rows.Order());
    }
}
