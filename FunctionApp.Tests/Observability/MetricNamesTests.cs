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
}
