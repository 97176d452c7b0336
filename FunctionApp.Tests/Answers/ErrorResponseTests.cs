using AoaiProxy.Answers;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace AoaiProxy.Tests.Answers;

public sealed class ErrorResponseTests
{
    public static TheoryData<string, int, string> Answers() => new()
    {
        { nameof(ProxyOutcome.NotProxied), 404, "NotFound" },
        { nameof(ProxyOutcome.DeploymentNotFound), 404, "DeploymentNotFound" },
        { nameof(ProxyOutcome.InvalidPath), 400, "InvalidPath" },
        { nameof(ProxyOutcome.MethodNotAllowed), 405, "MethodNotAllowed" },
        { nameof(ProxyOutcome.BodyTooLarge), 413, "RequestBodyTooLarge" },
        { nameof(ProxyOutcome.BadRequest), 400, "BadRequest" },
        { nameof(ProxyOutcome.Unauthenticated), 401, "401" },
        { nameof(ProxyOutcome.Forbidden), 403, "PermissionDenied" },
        { nameof(ProxyOutcome.AuthenticationUnavailable), 503, "AuthenticationUnavailable" },
        { nameof(ProxyOutcome.ProxyIdentityUnavailable), 503, "ProxyIdentityUnavailable" },
        { nameof(ProxyOutcome.Throttled), 429, "429" },
        { nameof(ProxyOutcome.BackendsFailed), 502, "BackendsUnavailable" },
        { nameof(ProxyOutcome.BackendsTimedOut), 504, "BackendsTimedOut" },
        { nameof(ProxyOutcome.ProxyFailure), 502, "ProxyError" },
    };

    [Theory]
    [MemberData(nameof(Answers))]
    public async Task WriteAsync_Outcome_ItsStatusAndAzureErrorWithTheMessage(string outcome, int status, string code)
    {
        var (context, body) = Context();

        await ErrorResponse.WriteAsync(context, Enum.Parse<ProxyOutcome>(outcome), "What happened.");

        Assert.Equal(status, context.Response.StatusCode);
        Assert.Equal("application/json", context.Response.ContentType);
        Assert.Equal(body.Length, context.Response.ContentLength);
        Assert.Equal((code, "What happened."), AzureError.Of(Text(body)));
    }

    [Fact]
    public void WriteAsync_EveryOutcomeWithAStatus_CoveredByTheAnswersTable()
    {
        var writing = Enum.GetValues<ProxyOutcome>().Where(o => ProxyOutcomes.StatusCode(o) != 0).Select(o => o.ToString());

        Assert.Equal(writing.Order(StringComparer.Ordinal), Answers().Select(row => (string)row[0]).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task WriteAsync_MessageWithQuotesAndNonAscii_JsonEscapedAndReadBackExactly()
    {
        var (context, body) = Context();
        const string message = "The \"model\" \\ é </script>\nnext line";

        await ErrorResponse.WriteAsync(context, ProxyOutcome.BadRequest, message);

        Assert.Equal(message, AzureError.Of(Text(body)).Message);
    }

    [Theory]
    [InlineData(1_000_000, "1", "100")]
    [InlineData(10_000_000, "1", "1000")]
    [InlineData(12_345_678, "2", "1235")]
    [InlineData(1, "1", "1")]
    [InlineData(599_990_000, "60", "59999")]
    public async Task WriteAsync_WithAWait_RetryAfterInWholeSecondsAndMillisecondsRoundedUp(long waitTicks, string seconds, string milliseconds)
    {
        var (context, _) = Context();

        await ErrorResponse.WriteAsync(context, ProxyOutcome.Throttled, "Wait.", TimeSpan.FromTicks(waitTicks));

        Assert.Equal(seconds, context.Response.Headers.RetryAfter.ToString());
        Assert.Equal(milliseconds, context.Response.Headers[ProxyHeaders.RetryAfterMs].ToString());
    }

    [Theory]
    [InlineData(null)]
    [InlineData(0L)]
    [InlineData(-10_000_000L)]
    public async Task WriteAsync_NoPositiveWait_NoRetryAfterHeaders(long? waitTicks)
    {
        var (context, _) = Context();

        await ErrorResponse.WriteAsync(context, ProxyOutcome.Throttled, "Wait.", waitTicks is { } t ? TimeSpan.FromTicks(t) : null);

        Assert.False(context.Response.Headers.ContainsKey("Retry-After"));
        Assert.False(context.Response.Headers.ContainsKey(ProxyHeaders.RetryAfterMs));
    }

    [Fact]
    public async Task WriteAsync_Head_StatusHeadersAndLengthButNoBody()
    {
        var (get, getBody) = Context();
        var (head, headBody) = Context();
        head.Request.Method = HttpMethods.Head;

        await ErrorResponse.WriteAsync(get, ProxyOutcome.NotProxied, "Not here.");
        await ErrorResponse.WriteAsync(head, ProxyOutcome.NotProxied, "Not here.");

        Assert.Equal(404, head.Response.StatusCode);
        Assert.Equal("application/json", head.Response.ContentType);
        Assert.Equal(getBody.Length, head.Response.ContentLength);
        Assert.Equal(0, headBody.Length);
    }

    [Fact]
    public async Task WriteAsync_ResponseAlreadyStarted_WritesAndNotesNothing()
    {
        var (context, body) = Context();
        var outcome = new OutcomeFeature();
        context.Features.Set<IRequestOutcomeFeature>(outcome);
        context.Features.Set<IHttpResponseFeature>(new StartedResponse());
        context.Response.StatusCode = StatusCodes.Status200OK;

        await ErrorResponse.WriteAsync(context, ProxyOutcome.ProxyFailure, "Too late.", TimeSpan.FromSeconds(5));

        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        Assert.Empty(context.Response.Headers);
        Assert.Equal(0, body.Length);
        Assert.Null(outcome.Outcome);
    }

    [Fact]
    public async Task WriteAsync_RequestWithAnOutcomeFeature_NotesTheOutcome()
    {
        var (context, _) = Context();
        var outcome = new OutcomeFeature();
        context.Features.Set<IRequestOutcomeFeature>(outcome);

        await ErrorResponse.WriteAsync(context, ProxyOutcome.BackendsTimedOut, "Timed out.");

        Assert.Equal(ProxyOutcome.BackendsTimedOut, outcome.Outcome);
    }

    private static (DefaultHttpContext Context, MemoryStream Body) Context()
    {
        var body = new MemoryStream();
        var context = new DefaultHttpContext();
        context.Request.Method = HttpMethods.Post;
        context.Response.Body = body;
        return (context, body);
    }

    private static string Text(MemoryStream body) => System.Text.Encoding.UTF8.GetString(body.ToArray());

    private sealed class OutcomeFeature : IRequestOutcomeFeature
    {
        public ProxyOutcome? Outcome { get; set; }
    }

    /// <summary>A response whose headers went out already (the relay began).</summary>
    private sealed class StartedResponse : HttpResponseFeature
    {
        public override bool HasStarted => true;
    }
}
