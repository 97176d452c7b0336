using System.Net;
using AoaiProxy.Throttling;

namespace AoaiProxy.Tests.Throttling;

public class ThrottleHeaderValuesTests
{
    [Fact]
    public void From_AllHeadersPresent_TakesTheirValuesAsSent()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        response.Headers.TryAddWithoutValidation("retry-after-ms", "1500");
        response.Headers.TryAddWithoutValidation("Retry-After", "2");
        response.Headers.TryAddWithoutValidation("x-ratelimit-reset-requests", "6m0s");
        response.Headers.TryAddWithoutValidation("x-ratelimit-reset-tokens", "20ms");
        response.Headers.TryAddWithoutValidation("x-ratelimit-remaining-requests", "0");
        response.Headers.TryAddWithoutValidation("x-ratelimit-remaining-tokens", "1200");

        var values = ThrottleHeaderValues.From(response);

        Assert.Equal(new ThrottleHeaderValues("1500", "2", "6m0s", "20ms", "0", "1200"), values);
    }

    [Theory]
    [InlineData("Retry-After", "not a date")]
    [InlineData("RETRY-AFTER-MS", "soon")]
    [InlineData("X-RateLimit-Reset-Tokens", "5x")]
    public void From_GarbageOrOtherCase_KeptForTheParserToJudge(string name, string value)
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        response.Headers.TryAddWithoutValidation(name, value);

        var values = ThrottleHeaderValues.From(response);

        Assert.Contains(value, new[] { values.RetryAfterMs, values.RetryAfter, values.ResetRequests, values.ResetTokens });
    }

    [Fact]
    public void From_SeveralValues_TakesTheFirst()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        response.Headers.TryAddWithoutValidation("retry-after-ms", ["100", "200"]);

        Assert.Equal("100", ThrottleHeaderValues.From(response).RetryAfterMs);
    }

    [Fact]
    public void From_NoThrottleHeaders_AllNull()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);

        Assert.Equal(default, ThrottleHeaderValues.From(response));
    }
}
