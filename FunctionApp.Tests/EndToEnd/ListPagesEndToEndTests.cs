using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>The first page of an object list: one backend's page as it came, or the pages merged with the headers a caller relies on.</summary>
public sealed class ListPagesEndToEndTests
{
    private const string Page = """{"object":"list","data":[{"id":"file-a","object":"file","created_at":1}],"has_more":false}""";

    private static readonly Dictionary<string, string> AzureHeaders = new()
    {
        ["apim-request-id"] = "apim-a",
        ["x-request-id"] = "req-a",
        ["x-ms-region"] = "East US 2",
        ["x-ratelimit-remaining-requests"] = "99",
        ["x-ratelimit-remaining-tokens"] = "9999",
        ["openai-processing-ms"] = "12.5",
        ["x-content-type-options"] = "nosniff",
    };

    [Theory]
    [InlineData("openai/files?api-version=2024-10-21")]
    [InlineData("openai/assistants?api-version=2025-03-01-preview")]
    [InlineData("openai/v1/files")]
    [InlineData("openai/v1/fine_tuning/jobs")]
    [InlineData("openai/v1/vector_stores")]
    public async Task ProxyAsync_OneBackend_ItsPageRelayedUnchangedBytesAndHeaders(string target)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = Answer(Page, AzureHeaders);
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        using var response = await proxy.Client.GetAsync(target);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(Page, await response.Content.ReadAsStringAsync());
        foreach (var (name, value) in AzureHeaders)
        {
            Assert.Equal(value, response.Headers.GetValues(name).Single());
        }

        Assert.Equal("a", response.Headers.GetValues("x-proxy-backend").Single());
    }

    [Fact]
    public async Task ProxyAsync_OneBackendCompressedPage_RelayedAsItCameStillCompressed()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var gzip = Gzip(Page);
        backends[0].Handler = async (context, _) =>
        {
            context.Response.ContentType = "application/json";
            context.Response.Headers.ContentEncoding = "gzip";
            await context.Response.Body.WriteAsync(gzip);
        };
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var request = new HttpRequestMessage(HttpMethod.Get, "openai/v1/files");
        request.Headers.AcceptEncoding.ParseAdd("gzip");

        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal("gzip", response.Content.Headers.ContentEncoding.Single());
        Assert.Equal(gzip, await response.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task ProxyAsync_PagesMerged_FirstBackendsHeadersEveryRequestIdAndNoFieldNoPageSent()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        backends[0].Handler = Answer(Page, AzureHeaders);
        backends[1].Handler = Answer("""{"object":"list","data":[{"id":"file-b","object":"file","created_at":2}],"has_more":false}""",
            new Dictionary<string, string> { ["apim-request-id"] = "apim-b", ["x-ms-region"] = "Sweden Central" });
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        using var response = await proxy.Client.GetAsync("openai/files?api-version=2024-10-21");
        using var merged = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(["file-b", "file-a"], merged.RootElement.GetProperty("data").EnumerateArray().Select(f => f.GetProperty("id").GetString()));
        Assert.Equal(["object", "data", "has_more"], merged.RootElement.EnumerateObject().Select(p => p.Name));
        var first = response.Headers.GetValues("x-proxy-backend").Single().Split(',')[0];
        Assert.Equal(first == "a" ? "apim-a" : "apim-b", response.Headers.GetValues("apim-request-id").Single());
        Assert.Equal(first == "a" ? "East US 2" : "Sweden Central", response.Headers.GetValues("x-ms-region").Single());
        var ids = response.Headers.GetValues("x-proxy-list-request-ids").Single();
        Assert.Contains("a=apim-a", ids, StringComparison.Ordinal);
        Assert.Contains("b=apim-b", ids, StringComparison.Ordinal);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
    }

    private static Func<HttpContext, RecordedRequest, Task> Answer(string body, IDictionary<string, string> headers) =>
        async (context, _) =>
        {
            foreach (var (name, value) in headers)
            {
                context.Response.Headers[name] = value;
            }

            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(body);
        };

    private static byte[] Gzip(string text)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest))
        {
            gzip.Write(Encoding.UTF8.GetBytes(text));
        }

        return buffer.ToArray();
    }
}
