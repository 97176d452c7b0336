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
