using AoaiProxy.Configuration;
using AoaiProxy.Observability;
using Microsoft.Extensions.Time.Testing;

namespace AoaiProxy.Tests.Observability;

public sealed class BackendActivityTests
{
    private static readonly ProxyOptions Options = new()
    {
        Backends = [new BackendOptions("a", new Uri("https://a.openai.azure.com/"), 1, 1)],
    };

    [Fact]
    public void Record_AttemptsInTwoMinutes_CountedPerMinuteWithTheCurrentMinuteLast()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 10, 0, 30, TimeSpan.Zero));
        var activity = new BackendActivity(Options, clock);

        activity.Record("a", throttled: true, failed: false);
        clock.Advance(TimeSpan.FromMinutes(1));
        activity.Record("a", throttled: false, failed: false);
        activity.Record("a", throttled: false, failed: true);

        var counts = activity.Read("a");
        Assert.Equal((3, 1, 1), (counts.Requests, counts.Throttled, counts.Failures));
        Assert.Equal(BackendActivity.Minutes, counts.RequestsPerMinute.Length);
        Assert.Equal([1, 2], counts.RequestsPerMinute[^2..]);
        Assert.Equal([1, 0], counts.ThrottledPerMinute[^2..]);
        Assert.Equal(0, counts.RequestsPerMinute[..^2].Sum());
    }

    [Fact]
    public void Read_AfterTheWindow_OldMinutesAreGoneButTotalsStay()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 10, 0, 0, TimeSpan.Zero));
        var activity = new BackendActivity(Options, clock);
        activity.Record("a", throttled: true, failed: false);

        clock.Advance(TimeSpan.FromMinutes(BackendActivity.Minutes));
        activity.Record("a", throttled: false, failed: false);

        var counts = activity.Read("a");
        Assert.Equal(1, counts.RequestsPerMinute.Sum());
        Assert.Equal(0, counts.ThrottledPerMinute.Sum());
        Assert.Equal((2, 1), (counts.Requests, counts.Throttled));
    }

    [Fact]
    public void Record_UnknownBackend_IsIgnored()
    {
        var activity = new BackendActivity(Options, new FakeTimeProvider());

        activity.Record("nope", throttled: true, failed: true);

        Assert.Equal(0, activity.Read("a").Requests);
        Assert.Equal(0, activity.Read("nope").Requests);
    }
}
