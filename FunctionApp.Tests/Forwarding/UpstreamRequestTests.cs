using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Routing;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Tests.Forwarding;

public sealed class UpstreamRequestTests
{
    private static readonly BackendOptions Backend = new("a", new Uri("https://a.openai.azure.com/gateway/"), 1, 1);
    private static readonly ProxyPath Path = new("/openai/files/file-1?api-version=2024-10-21", null, false);

    [Fact]
    public async Task Create_BodylessRequestWithContentHeaders_EmptyContentCarriesThem()
    {
        var caller = new DefaultHttpContext().Request;
        caller.Method = "DELETE";
        caller.Headers.ContentType = "application/json";
        caller.Headers.ContentLanguage = "de";
        await using var body = await EmptyBodyAsync();

        using var upstream = UpstreamRequest.Create(caller, Backend, Path, body, hasBody: false, BackendCredential.PassThrough);

        Assert.NotNull(upstream.Content);
        Assert.Equal("application/json", upstream.Content.Headers.ContentType?.ToString());
        Assert.Equal(["de"], upstream.Content.Headers.ContentLanguage);
        Assert.Equal(0, upstream.Content.Headers.ContentLength);
        Assert.Equal("https://a.openai.azure.com/gateway/openai/files/file-1?api-version=2024-10-21", upstream.RequestUri!.AbsoluteUri);
    }

    [Fact]
    public async Task Create_BodylessRequestWithoutContentHeaders_NoContent()
    {
        var caller = new DefaultHttpContext().Request;
        caller.Method = "GET";
        caller.Headers["x-ms-client-request-id"] = "abc";
        await using var body = await EmptyBodyAsync();

        using var upstream = UpstreamRequest.Create(caller, Backend, Path, body, hasBody: false, BackendCredential.PassThrough);

        Assert.Null(upstream.Content);
        Assert.Equal(["abc"], upstream.Headers.GetValues("x-ms-client-request-id"));
    }

    /// <summary>With no activity for the request, the proxy's own span id still goes under the caller's trace.</summary>
    [Fact]
    public async Task Create_NoCurrentActivity_CallersTraceparentReplacedByAChildSpan()
    {
        Assert.Null(System.Diagnostics.Activity.Current);
        var caller = new DefaultHttpContext().Request;
        caller.Method = "POST";
        caller.Headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        caller.Headers["tracestate"] = "caller=1";
        await using var body = await EmptyBodyAsync();

        using var upstream = UpstreamRequest.Create(caller, Backend, Path, body, hasBody: false, BackendCredential.PassThrough);

        var sent = Assert.Single(upstream.Headers.GetValues("traceparent"));
        Assert.StartsWith("00-0af7651916cd43dd8448eb211c80319c-", sent, StringComparison.Ordinal);
        Assert.DoesNotContain("b7ad6b7169203331", sent, StringComparison.Ordinal);
        Assert.Equal(["caller=1"], upstream.Headers.GetValues("tracestate"));
    }

    /// <summary>
    /// W3C Trace Context, processing model: a tracestate without a traceparent "MUST be discarded", and one whose
    /// traceparent could not be parsed is deleted with the restart, so no tracestate goes on next to a trace it does not
    /// belong to.
    /// </summary>
    [Theory]
    [InlineData(null)]
    [InlineData("00-00000000000000000000000000000000-b7ad6b7169203331-01")]
    [InlineData("garbage")]
    public async Task Create_NoCurrentActivityNoValidCallerTraceparent_NewTraceWithoutTheCallersTracestate(string? traceparent)
    {
        Assert.Null(System.Diagnostics.Activity.Current);
        var caller = new DefaultHttpContext().Request;
        caller.Method = "POST";
        if (traceparent is not null)
        {
            caller.Headers["traceparent"] = traceparent;
        }

        caller.Headers["tracestate"] = "caller=1";
        await using var body = await EmptyBodyAsync();

        using var upstream = UpstreamRequest.Create(caller, Backend, Path, body, hasBody: false, BackendCredential.PassThrough);

        Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-00$", Assert.Single(upstream.Headers.GetValues("traceparent")));
        Assert.False(upstream.Headers.Contains("tracestate"));
    }

    /// <summary>With an activity, HttpClient's propagation (TraceContextPropagator) replaces the header: it is copied as is here.</summary>
    [Fact]
    public async Task Create_CurrentActivity_TraceparentLeftToHttpClientsPropagation()
    {
        using var activity = new System.Diagnostics.Activity("in").SetIdFormat(System.Diagnostics.ActivityIdFormat.W3C).Start();
        var caller = new DefaultHttpContext().Request;
        caller.Method = "POST";
        caller.Headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        await using var body = await EmptyBodyAsync();

        using var upstream = UpstreamRequest.Create(caller, Backend, Path, body, hasBody: false, BackendCredential.PassThrough);

        Assert.Equal(["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"], upstream.Headers.GetValues("traceparent"));
    }

    [Theory]
    [InlineData("x-ms-invocation-id")]
    [InlineData("X-Original-Host")]
    [InlineData("X-Forwarded-For")]
    [InlineData("X-ARR-LOG-ID")]
    [InlineData("X-MS-CLIENT-PRINCIPAL-ID")]
    [InlineData("X-MS-TOKEN-AAD-ID-TOKEN")]
    [InlineData("Cookie")]
    public async Task Create_PlatformHeader_NotCopied(string name)
    {
        var caller = new DefaultHttpContext().Request;
        caller.Method = "GET";
        caller.Headers[name] = "v";
        await using var body = await EmptyBodyAsync();

        using var upstream = UpstreamRequest.Create(caller, Backend, Path, body, hasBody: false, BackendCredential.PassThrough);

        Assert.False(upstream.Headers.Contains(name));
        Assert.Null(upstream.Content);
    }

    private static async Task<RequestBody> EmptyBodyAsync() => (await RequestBody.ReadAsync(Stream.Null, 1, CancellationToken.None)).Body!;
}
