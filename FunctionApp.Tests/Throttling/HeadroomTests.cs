using AoaiProxy.Throttling;

namespace AoaiProxy.Tests.Throttling;

public class HeadroomTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 8, 12, 0, 0, TimeSpan.Zero);
    private static readonly DateTimeOffset WindowEnd = Now.AddSeconds(10);

    [Fact]
    public void TokensLeft_NothingReported_UnknownAndEverythingFits()
    {
        var headroom = new Headroom().Send(5000).Next;

        Assert.Null(headroom.TokensLeft(Now));
        Assert.True(headroom.Fits(1_000_000, Now));
    }

    [Fact]
    public void TokensLeft_Report_LessWhatWasSentAfterTheReportingRequest()
    {
        var (headroom, first) = new Headroom().Send(1000);
        (headroom, _) = headroom.Send(400);
        (headroom, _) = headroom.Send(300);

        // The first request's answer came last: the two sent after it were admitted after it, so they count against it.
        headroom = headroom.Report(first, tokens: 5000, requests: 50, WindowEnd, Now);

        Assert.Equal(4300, headroom.TokensLeft(Now));
        Assert.Equal(48, headroom.RequestsLeft(Now));
        Assert.True(headroom.Fits(4300, Now));
        Assert.False(headroom.Fits(4301, Now));
    }

    [Fact]
    public void Report_FromARequestSentBeforeTheAnchorsOne_KeepsTheFresherAnchor()
    {
        var (headroom, early) = new Headroom().Send(1000);
        (headroom, var late) = headroom.Send(1000);
        headroom = headroom.Report(late, tokens: 2000, requests: null, WindowEnd, Now);

        headroom = headroom.Report(early, tokens: 3000, requests: null, WindowEnd, Now);

        Assert.Equal(2000, headroom.TokensLeft(Now));
    }

    [Fact]
    public void Report_AnchorExpired_AnyReportReplacesIt()
    {
        var (headroom, early) = new Headroom().Send(1000);
        (headroom, var late) = headroom.Send(1000);
        headroom = headroom.Report(late, tokens: 2000, requests: null, Now.AddSeconds(1), Now);

        headroom = headroom.Report(early, tokens: 9000, requests: null, Now.AddSeconds(12), Now.AddSeconds(2));

        Assert.Equal(8000, headroom.TokensLeft(Now.AddSeconds(2)));
    }

    [Theory]
    [InlineData(9, true)]
    [InlineData(10, false)]
    [InlineData(11, false)]
    public void TokensLeft_PastTheReportsWindow_Unknown(int secondsLater, bool known)
    {
        var (headroom, ticket) = new Headroom().Send(100);
        headroom = headroom.Report(ticket, tokens: 0, requests: 0, WindowEnd, Now);

        Assert.Equal(known, headroom.TokensLeft(Now.AddSeconds(secondsLater)) is not null);
        Assert.Equal(!known, headroom.Fits(500, Now.AddSeconds(secondsLater)));
    }

    [Theory]
    // Capacity: the most one window was seen to hold, an admitted report plus its request's estimate.
    [InlineData(true, 7000, 3000, 10_000)]
    // A 429's request was not charged: what is left is all the window shows.
    [InlineData(false, 7000, 3000, 7000)]
    public void Report_Capacity_ReportPlusTheAdmittedRequestsEstimate(bool admitted, long left, long cost, long capacity)
    {
        var (headroom, ticket) = new Headroom().Send(cost);

        headroom = headroom.Report(ticket, left, null, WindowEnd, Now, admitted);

        Assert.Equal(capacity, headroom.Capacity);
    }

    [Fact]
    public void Report_429_ItsOwnCostIsNotCountedAgainstWhatIsLeft()
    {
        var (headroom, refused) = new Headroom().Send(3000);

        headroom = headroom.Report(refused, tokens: 1200, requests: 10, WindowEnd, Now, admitted: false);

        Assert.Equal(1200, headroom.TokensLeft(Now));
        Assert.True(headroom.Fits(1200, Now));
    }

    [Fact]
    public void NewWindow_CapacityKnown_ItsShareUntilAnAnswerReports()
    {
        var (headroom, ticket) = new Headroom().Send(2000);
        headroom = headroom.Report(ticket, tokens: 98_000, requests: null, WindowEnd, Now);

        headroom = headroom.NewWindow(share: 0.5, until: WindowEnd.AddSeconds(2));
        Assert.Equal(50_000, headroom.TokensLeft(WindowEnd));

        (headroom, var first) = headroom.Send(10_000);
        Assert.Equal(40_000, headroom.TokensLeft(WindowEnd));
        headroom = headroom.Report(first, tokens: 85_000, requests: null, WindowEnd.AddSeconds(10), WindowEnd);
        Assert.Equal(85_000, headroom.TokensLeft(WindowEnd));
    }

    [Fact]
    public void RequestsToTake_ReportFromTheBlindBurst_OneRequestBeyondItUntilALaterOneReports()
    {
        var (headroom, ticket) = new Headroom().Send(1000);
        headroom = headroom.Report(ticket, tokens: 99_000, requests: 99, WindowEnd, Now);
        headroom = headroom.NewWindow(share: 0.5, until: WindowEnd.AddSeconds(2));
        (headroom, var first) = headroom.Send(1000);
        (headroom, var last) = headroom.Send(1000);

        // The burst's last answer reports half the window left: the other instances' bursts may be admitted after it.
        headroom = headroom.Report(last, tokens: 50_000, requests: 50, WindowEnd.AddSeconds(10), WindowEnd);
        Assert.Equal(1, headroom.RequestsToTake(WindowEnd, 0.5));
        (headroom, var probe) = headroom.Send(1000);
        Assert.Equal(0, headroom.RequestsToTake(WindowEnd, 0.5));

        // An earlier answer of the burst changes nothing; the answer to the request after it reports the window again.
        headroom = headroom.Report(first, tokens: 60_000, requests: 60, WindowEnd.AddSeconds(10), WindowEnd);
        Assert.Equal(0, headroom.RequestsToTake(WindowEnd, 0.5));
        headroom = headroom.Report(probe, tokens: 20_000, requests: 20, WindowEnd.AddSeconds(10), WindowEnd);
        Assert.Equal(10, headroom.RequestsToTake(WindowEnd, 0.5));
    }

    [Fact]
    public void RequestsToTake_FirstAnswerOfTheBurstLeavesLittle_TheReportBoundsIt()
    {
        var (headroom, ticket) = new Headroom().Send(1000);
        headroom = headroom.Report(ticket, tokens: 99_000, requests: 99, WindowEnd, Now);
        headroom = headroom.NewWindow(share: 0.5, until: WindowEnd.AddSeconds(2));
        (headroom, var first) = headroom.Send(1000);
        (headroom, _) = headroom.Send(1000);

        headroom = headroom.Report(first, tokens: 1000, requests: 1, WindowEnd.AddSeconds(10), WindowEnd);

        Assert.Equal(0, headroom.RequestsToTake(WindowEnd, 0.5));
    }

    [Fact]
    public void NewWindow_CapacityUnknown_OneRequestProbesIt()
    {
        var headroom = new Headroom().Send(2000).Next.NewWindow(share: 0.5, until: WindowEnd);

        Assert.True(headroom.Fits(1_000_000, Now));
        headroom = headroom.Send(1_000_000).Next;
        Assert.False(headroom.Fits(1, Now));
    }

    [Theory]
    // seconds from now to the window end a 429 named, seconds later the question is asked, the window end expected
    [InlineData(4, 0, 4)]
    [InlineData(4, 3.5, 4)]
    [InlineData(4, 4, 8)]
    [InlineData(4, 9, 12)]
    public void WindowEndAfter_FromTheBoundaryA429NamedAndTheWindowLength(double end, double later, double expected)
    {
        var headroom = new Headroom().Throttled(Now.AddSeconds(end), Now);

        Assert.Equal(Now.AddSeconds(expected), headroom.WindowEndAfter(Now.AddSeconds(later)));
    }

    [Fact]
    public void WindowEndAfter_No429Yet_Unknown()
    {
        Assert.Null(new Headroom().WindowEndAfter(Now));
    }

    [Fact]
    public void Throttled_ShorterWaitLater_WindowLengthIsTheLongestSeenAndCapped()
    {
        var headroom = new Headroom().Throttled(Now.AddSeconds(9), Now).Throttled(Now.AddSeconds(10), Now.AddSeconds(8));

        Assert.Equal(TimeSpan.FromSeconds(9), headroom.WindowLength);
        Assert.Equal(Now.AddSeconds(10), headroom.WindowEnd);
        Assert.Equal(Headroom.MaxWindowLength, new Headroom().Throttled(Now.AddMinutes(5), Now).WindowLength);
    }
}
