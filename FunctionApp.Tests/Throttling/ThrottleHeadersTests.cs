using System.Globalization;
using AoaiProxy.Throttling;

namespace AoaiProxy.Tests.Throttling;

public class ThrottleHeadersTests
{
    /// <summary>The clamp for absurd waits (ThrottleHeaders.Ceiling); callers cap far below it.</summary>
    private const double CeilingSeconds = 24 * 60 * 60;

    private const string Huge = "1e300";

    private static readonly DateTimeOffset Now = new(2025, 1, 15, 12, 0, 0, TimeSpan.Zero);

    private static readonly string Overflowing = "1" + new string('0', 400);

    public static TheoryData<string, double?> RetryAfterMsCases => new()
    {
        { "1500", 1.5 },
        { "1", 0.001 },
        { " 20 ", 0.02 },
        { "+250", 0.25 },
        { "1062.5", 1.0625 },
        { "0.5", 0.0005 },
        { "86400000", CeilingSeconds },
        { "86400001", CeilingSeconds },
        { Huge, CeilingSeconds },
        { Overflowing, CeilingSeconds },
        { "0", null },
        { "0.0", null },
        { "-1", null },
        { "-1500", null },
        { "abc", null },
        { "12ms", null },
        { "1,500", null },
        { "", null },
        { "   ", null },
        { "NaN", null },
        { "Infinity", null },
        { "-Infinity", null },
        { "∞", null },
    };

    [Theory]
    [MemberData(nameof(RetryAfterMsCases))]
    public void RequestedDelay_RetryAfterMs_ParsedOrIgnored(string value, double? expectedSeconds)
    {
        var delay = ThrottleHeaders.RequestedDelay(new ThrottleHeaderValues { RetryAfterMs = value }, Now);

        AssertSeconds(expectedSeconds, delay);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("garbage")]
    [InlineData("NaN")]
    [InlineData("Infinity")]
    [InlineData(null)]
    public void RequestedDelay_RetryAfterMsUnusable_FallsThroughToRetryAfter(string? retryAfterMs)
    {
        var delay = ThrottleHeaders.RequestedDelay(new ThrottleHeaderValues { RetryAfterMs = retryAfterMs, RetryAfter = "7" }, Now);

        Assert.Equal(TimeSpan.FromSeconds(7), delay);
    }

    public static TheoryData<string, double?> RetryAfterCases => new()
    {
        { "7", 7 },
        { " 7 ", 7 },
        { "1.5", 1.5 },
        { "86400", CeilingSeconds },
        { "999999999", CeilingSeconds },
        { Huge, CeilingSeconds },
        { Overflowing, CeilingSeconds },
        { "0", null },
        { "-3", null },
        { "abc", null },
        { "5x", null },
        { "", null },
        { "NaN", null },
        { "Infinity", null },
        { "Wed, 15 Jan 2025 12:00:30 GMT", 30 },
        { "  Wed, 15 Jan 2025 12:00:30 GMT  ", 30 },
        { "Wednesday, 15-Jan-25 12:00:30 GMT", 30 },
        { "Wed Jan 15 12:00:30 2025", 30 },
        { "Sat Feb  1 12:00:00 2025", CeilingSeconds },
        { "Wed, 15 Jan 2025 12:00:00 GMT", null },
        { "Wed, 15 Jan 2025 11:59:59 GMT", null },
        { "Tue, 14 Jan 2025 12:00:30 GMT", null },
        { "Thu, 16 Jan 2025 12:00:00 GMT", CeilingSeconds },
        { "Fri, 31 Dec 2100 23:59:59 GMT", CeilingSeconds },
        { "Wed, 15 Jan 2025 12:00:61 GMT", null },
        { "Wed, 32 Jan 2025 12:00:30 GMT", null },

        // Not HTTP dates; a lenient date parser would fill the missing parts from the machine's clock.
        { "12:00:30", null },
        { "23:59", null },
        { "1 2", null },
        { "1/2", null },
        { "3 4 5", null },
        { "2025-01-15T12:00:30Z", null },
    };

    [Theory]
    [MemberData(nameof(RetryAfterCases))]
    public void RequestedDelay_RetryAfter_SecondsOrHttpDate(string value, double? expectedSeconds)
    {
        var delay = ThrottleHeaders.RequestedDelay(new ThrottleHeaderValues { RetryAfter = value }, Now);

        AssertSeconds(expectedSeconds, delay);
    }

    [Theory]
    [InlineData(-3600)]
    [InlineData(-1)]
    [InlineData(0)]
    public void RequestedDelay_RetryAfterDateNotInFuture_FallsThroughToResetHeaders(int offsetSeconds)
    {
        var values = new ThrottleHeaderValues
        {
            RetryAfter = HttpDate(Now.AddSeconds(offsetSeconds)),
            ResetRequests = "2s",
        };

        var delay = ThrottleHeaders.RequestedDelay(values, Now);

        Assert.Equal(TimeSpan.FromSeconds(2), delay);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(45, 45)]
    [InlineData(3600, 3600)]
    public void RequestedDelay_RetryAfterDateInFuture_RemainingTime(int offsetSeconds, double expectedSeconds)
    {
        var delay = ThrottleHeaders.RequestedDelay(new ThrottleHeaderValues { RetryAfter = HttpDate(Now.AddSeconds(offsetSeconds)) }, Now);

        AssertSeconds(expectedSeconds, delay);
    }

    [Theory]
    [InlineData("500", "7", "9s", "11s", 0.5)]
    [InlineData("9000", "1", null, null, 9)]
    [InlineData("500", null, "9s", null, 0.5)]
    [InlineData(null, "7", "9s", "11s", 7)]
    [InlineData(null, "20", null, "1s", 20)]
    [InlineData(null, "Wed, 15 Jan 2025 12:00:30 GMT", null, "11s", 30)]
    [InlineData("bad", "bad", "9s", null, 9)]
    [InlineData("0", "0", null, "11s", 11)]
    public void RequestedDelay_SeveralSources_MsThenRetryAfterThenReset(
        string? retryAfterMs, string? retryAfter, string? resetRequests, string? resetTokens, double expectedSeconds)
    {
        var values = new ThrottleHeaderValues(retryAfterMs, retryAfter, resetRequests, resetTokens, RemainingRequests: null, RemainingTokens: null);

        var delay = ThrottleHeaders.RequestedDelay(values, Now);

        AssertSeconds(expectedSeconds, delay);
    }

    [Theory]
    [InlineData("12", 12)]
    [InlineData("1.5", 1.5)]
    [InlineData("20ms", 0.02)]
    [InlineData("1s", 1)]
    [InlineData("6m0s", 360)]
    [InlineData("1h2m3.5s", 3723.5)]
    public void RequestedDelay_OnlyOneReset_UsesIt(string value, double expectedSeconds)
    {
        var requestsOnly = ThrottleHeaders.RequestedDelay(new ThrottleHeaderValues { ResetRequests = value }, Now);
        var tokensOnly = ThrottleHeaders.RequestedDelay(new ThrottleHeaderValues { ResetTokens = value }, Now);

        AssertSeconds(expectedSeconds, requestsOnly);
        AssertSeconds(expectedSeconds, tokensOnly);
    }

    [Theory]
    // The exhausted count picks its reset (requests reset in 2 s, tokens in 10 s, so the choice is visible)...
    [InlineData("2s", "10s", "0", "5000", 2)]
    [InlineData("2s", "10s", " 0 ", "5000", 2)]
    [InlineData("2s", "10s", "0", null, 2)]
    [InlineData("10s", "2s", "5", "0", 2)]
    [InlineData("10s", "2s", null, "0", 2)]
    // ...both or neither exhausted (or the counts missing or unreadable): the longer...
    [InlineData("2s", "10s", "0", "0", 10)]
    [InlineData("10s", "2s", "0", "0", 10)]
    [InlineData("2s", "10s", "5", "5000", 10)]
    [InlineData("10s", "2s", "5", "5000", 10)]
    [InlineData("1m", "59s", "5", "5000", 60)]
    [InlineData("3", "3s", "5", "5000", 3)]
    [InlineData("2s", "10s", null, null, 10)]
    [InlineData("2s", "10s", "none", "none", 10)]
    // ...and an unusable reset never wins, whatever the counts say.
    [InlineData("abc", "4s", "0", "0", 4)]
    [InlineData("4s", "5x", "0", "0", 4)]
    [InlineData("", "4s", "0", "0", 4)]
    [InlineData("0s", "4s", "0", "5000", 4)]
    [InlineData("4s", "-1", "5", "0", 4)]
    public void RequestedDelay_BothResets_ExhaustedOneElseLonger(
        string resetRequests, string resetTokens, string? remainingRequests, string? remainingTokens, double expectedSeconds)
    {
        var values = new ThrottleHeaderValues(RetryAfterMs: null, RetryAfter: null, resetRequests, resetTokens, remainingRequests, remainingTokens);

        var delay = ThrottleHeaders.RequestedDelay(values, Now);

        AssertSeconds(expectedSeconds, delay);
    }

    [Theory]
    [InlineData(null, null, null, null, null, null)]
    [InlineData(null, null, null, null, "0", "0")]
    [InlineData("x", "y", "z", "5x", "0", "0")]
    [InlineData("0", "0", "0", "0s", null, null)]
    [InlineData("-1", "Wed, 15 Jan 2025 11:00:00 GMT", "", " ", "0", "5")]
    public void RequestedDelay_NothingUsable_Null(
        string? retryAfterMs, string? retryAfter, string? resetRequests, string? resetTokens, string? remainingRequests, string? remainingTokens)
    {
        var values = new ThrottleHeaderValues(retryAfterMs, retryAfter, resetRequests, resetTokens, remainingRequests, remainingTokens);

        Assert.Null(ThrottleHeaders.RequestedDelay(values, Now));
    }

    public static TheoryData<string, double?> ResetDurationCases => new()
    {
        { "12", 12 },
        { "1.5", 1.5 },
        { "0.25", 0.25 },
        { "20ms", 0.02 },
        { "1500ms", 1.5 },
        { "1s", 1 },
        { "0.5s", 0.5 },
        { "6m0s", 360 },
        { "1m", 60 },
        { "2h", 7200 },
        { "1h2m3.5s", 3723.5 },
        { "1m30s500ms", 90.5 },
        { "0s1ms", 0.001 },
        { " 1s ", 1 },
        { "100000h", CeilingSeconds },
        { Huge, CeilingSeconds },
        { Overflowing, CeilingSeconds },
        { Overflowing + "h", CeilingSeconds },
        { "abc", null },
        { "5x", null },
        { "", null },
        { "   ", null },
        { "0", null },
        { "0s", null },
        { "0h0m0s", null },
        { "-1", null },
        { "-1s", null },
        { "s", null },
        { "ms", null },
        { "1.2.3s", null },
        { ".s", null },
        { "1s2", null },
        { "1 s", null },
        { "1S", null },
        { "1d", null },
        { "NaN", null },
        { "Infinity", null },
    };

    [Theory]
    [MemberData(nameof(ResetDurationCases))]
    public void TryResetDuration_Value_ParsedOrRefused(string value, double? expectedSeconds)
    {
        var parsed = ThrottleHeaders.TryResetDuration(value, out var duration);

        Assert.Equal(expectedSeconds.HasValue, parsed);
        AssertSeconds(expectedSeconds, parsed ? duration : null);
    }

    [Fact]
    public void TryResetDuration_Null_Refused()
    {
        Assert.False(ThrottleHeaders.TryResetDuration(null, out var duration));
        Assert.Equal(TimeSpan.Zero, duration);
    }

    private static string HttpDate(DateTimeOffset date) => date.ToString("r", CultureInfo.InvariantCulture);

    /// <summary>Compares to the microsecond: fractional seconds are not exact in binary floating point.</summary>
    private static void AssertSeconds(double? expectedSeconds, TimeSpan? actual)
    {
        if (expectedSeconds is not { } expected)
        {
            Assert.Null(actual);
            return;
        }

        Assert.NotNull(actual);
        Assert.Equal(expected, actual.Value.TotalSeconds, 6);
    }
}
