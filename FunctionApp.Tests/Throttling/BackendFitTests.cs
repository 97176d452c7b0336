using AoaiProxy.State;
using AoaiProxy.Throttling;

namespace AoaiProxy.Tests.Throttling;

public class BackendFitTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 8, 12, 0, 0, TimeSpan.Zero);

    public static TheoryData<string, long?, long?, string> Fits => new()
    {
        // cooldown ("-" none, "t<headroom>" throttled, "t" throttled without headroom, "f" failed), tokens this instance
        // counts left (null: nothing known), the request's cost (null: no estimate), the fit
        { "-", null, 2000L, nameof(Fit.Open) },
        { "-", 5000L, 2000L, nameof(Fit.Open) },
        { "-", 1500L, 2000L, nameof(Fit.Strained) },
        { "-", 1500L, null, nameof(Fit.Open) },
        { "t", null, 2000L, nameof(Fit.Cooling) },
        { "t3000", null, 2000L, nameof(Fit.Open) },
        { "t3000", null, 4000L, nameof(Fit.Cooling) },
        { "t3000", null, null, nameof(Fit.Cooling) },
        // Of the 429's report and this instance's count since, the lower holds.
        { "t3000", 1000L, 2000L, nameof(Fit.Cooling) },
        { "t1000", 5000L, 2000L, nameof(Fit.Cooling) },
        { "t", 5000L, 2000L, nameof(Fit.Open) },
        { "f", 5000L, 2000L, nameof(Fit.Cooling) },
    };

    [Theory]
    [MemberData(nameof(Fits))]
    public void Of_CooldownHeadroomAndCost_TheBackendsFit(string cooldown, long? counted, long? cost, string fit)
    {
        Cooldown? active = cooldown switch
        {
            "-" => null,
            "f" => new Cooldown(Now.AddSeconds(5), CooldownReason.Failed),
            "t" => new Cooldown(Now.AddSeconds(5), CooldownReason.Throttled),
            _ => new Cooldown(Now.AddSeconds(5), CooldownReason.Throttled, long.Parse(cooldown[1..], System.Globalization.CultureInfo.InvariantCulture)),
        };
        var headroom = new Headroom();
        if (counted is { } left)
        {
            var (sent, ticket) = headroom.Send(0);
            headroom = sent.Report(ticket, left, null, Now.AddSeconds(10), Now);
        }

        Assert.Equal(Enum.Parse<Fit>(fit), BackendFit.Of(active, headroom, cost, Now));
    }

    [Fact]
    public void Of_CooldownOver_OnlyTheHeadroomCounts()
    {
        var over = new Cooldown(Now, CooldownReason.Throttled);

        Assert.Equal(Fit.Open, BackendFit.Of(over, default, 2000, Now));
    }

    [Fact]
    public void Of_ThrottledWindowWithNoRequestsLeft_CoolingWhateverTheTokens()
    {
        var (sent, ticket) = new Headroom().Send(0);
        var headroom = sent.Report(ticket, tokens: 50_000, requests: 0, Now.AddSeconds(10), Now);

        Assert.Equal(Fit.Cooling, BackendFit.Of(new Cooldown(Now.AddSeconds(5), CooldownReason.Throttled, 50_000), headroom, 100, Now));
    }
}
