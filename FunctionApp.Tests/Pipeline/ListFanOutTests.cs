using System.Text.Json;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.Pipeline;

public sealed class ListFanOutTests
{
    /// <summary>
    /// With inline socket completions (the standalone host's default) the backends' answers arrive on an epoll thread and
    /// the request continues there. Decoding and merging the pages (a files list is up to 10,000 items per backend, parsed,
    /// cloned, sorted and written again) is CPU work that must not run on that thread, which serves every other connection
    /// of its share: the merged page is written from elsewhere.
    /// </summary>
    [Fact]
    public async Task ListAsync_PagesArriveOnASocketThread_MergedOffThatThread()
    {
        using var socket = new SocketThread();
        await using var backends = await FakeBackends.StartAsync("a", "b");
        for (var i = 0; i < backends.All.Count; i++)
        {
            var page = $$"""{"object":"list","data":[{"id":"file-{{i}}","object":"file","created_at":{{100 + i}}}],"has_more":false}""";
            backends[i].Handler = (context, _) =>
            {
                context.Response.ContentType = "application/json";
                return context.Response.WriteAsync(page);
            };
        }

        await using var proxy = await ProxyTestHost.StartAsync(backends.All, services: services =>
            services.AddSingleton(sp => new BackendClient(sp.GetRequiredService<ProxyOptions>(), handler => handler.ConnectCallback = socket.ConnectAsync)));
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        context.Request.Path = "/openai/files";
        context.Request.QueryString = new QueryString("?api-version=2024-10-21");
        var caller = new RecordingBody(socket);
        context.Response.Body = caller;

        await proxy.Services.GetRequiredService<IAzureOpenAIProxy>().ProxyAsync(context);

        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        using var merged = JsonDocument.Parse(caller.ToArray());
        Assert.Equal(["file-1", "file-0"], merged.RootElement.GetProperty("data").EnumerateArray().Select(f => f.GetProperty("id").GetString()));
        Assert.True(socket.Completions > 0);
        Assert.NotEmpty(caller.WritesOnSocketThread);
        Assert.DoesNotContain(true, caller.WritesOnSocketThread);
    }

    /// <summary>
    /// A backend whose page is a decompression bomb (half a megabyte that inflates to 512 MiB): decoding it for the merge
    /// stops at Proxy:MaxDecodedBodyBytes, the caller gets a 502 in Azure's shape naming that backend, and the proxy's
    /// memory never holds the inflated page.
    /// </summary>
    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public async Task ListAsync_OnePageIsABomb_502NamingThatBackendWithinTheDecodedLimit(string encoding)
    {
        var bomb = Compression.Bomb(encoding);
        await using var backends = await FakeBackends.StartAsync("a", "b");
        backends[0].Handler = (context, _) =>
        {
            context.Response.ContentType = "application/json";
            return context.Response.WriteAsync("""{"object":"list","data":[{"id":"file-a","object":"file","created_at":1}],"has_more":false}""");
        };
        backends[1].Handler = (context, _) =>
        {
            context.Response.ContentType = "application/json";
            context.Response.Headers.ContentEncoding = encoding;
            return context.Response.Body.WriteAsync(bomb).AsTask();
        };
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:MaxDecodedBodyBytes"] = "1048576");
        using var request = new HttpRequestMessage(HttpMethod.Get, "openai/v1/files");
        request.Headers.AcceptEncoding.ParseAdd(encoding);

        var allocated = GC.GetTotalAllocatedBytes(precise: true);
        using var response = await proxy.Client.SendAsync(request);
        var body = await response.Content.ReadAsByteArrayAsync();
        var used = GC.GetTotalAllocatedBytes(precise: true) - allocated;

        Assert.Equal(System.Net.HttpStatusCode.BadGateway, response.StatusCode);
        using var error = JsonDocument.Parse(body);
        Assert.Equal("BackendsUnavailable", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Contains("Backend 'b'", error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Contains("Proxy:MaxDecodedBodyBytes", error.RootElement.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);

        // The whole process (other tests run alongside): without the limit the page alone would be 512 MiB, twice over while
        // it grew. With it: the bomb's compressed bytes, at most a MiB decoded, and the rest of the request.
        Assert.InRange(used, 0, Compression.BombZeros / 4);
    }

    /// <summary>The caller's response body: records whether each write was issued on the socket thread.</summary>
    private sealed class RecordingBody(SocketThread socket) : MemoryStream
    {
        public List<bool> WritesOnSocketThread { get; } = [];

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            WritesOnSocketThread.Add(socket.IsCurrent);
            return base.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }
}
