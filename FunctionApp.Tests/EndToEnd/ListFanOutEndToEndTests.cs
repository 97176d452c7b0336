using System.Net;
using System.Text.Json;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using OpenAI.Files;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>
/// A list request (GET files, batches...) goes to every backend and the pages come back as one merged list, over real
/// sockets: compressed pages decoded within a bound, a cooling backend named as missing, and the merge kept off the
/// socket threads.
/// </summary>
public sealed class ListFanOutEndToEndTests
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

    [Fact]
    public async Task ListFiles_FilesOnEveryBackend_OneMergedListWithAllOfThem()
    {
        await using var backends = await FakeObjectStore.StartBackendsAsync("a", "b", "c");

        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var files = SdkClient.For(proxy).GetOpenAIFileClient();
        var uploaded = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            uploaded.Add((await files.UploadFileAsync(BinaryData.FromString("{}\n"), "input.jsonl", FileUploadPurpose.Batch)).Value.Id);
        }

        var listed = await files.GetFilesAsync();

        Assert.Equal(uploaded.Order(StringComparer.Ordinal), listed.Value.Select(f => f.Id).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// A caller that accepts gzip (the Python SDK's httpx does by default) gets each backend's page
    /// compressed; the merged list must be built from the decoded pages, not relayed as one backend's gzip bytes
    /// labelled plain JSON.
    /// </summary>
    [Fact]
    public async Task ListFiles_BackendsCompressTheirPages_OneMergedPlainJsonList()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        foreach (var backend in backends.All)
        {
            var page = System.Text.Encoding.UTF8.GetBytes(
                $$"""{"object":"list","data":[{"id":"file-{{backend.Name}}","object":"file","created_at":1}],"has_more":false}""");
            backend.Handler = async (context, _) =>
            {
                using var compressed = new MemoryStream();
                await using (var gzip = new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.Fastest, leaveOpen: true))
                {
                    await gzip.WriteAsync(page);
                }

                context.Response.ContentType = "application/json";
                context.Response.Headers.ContentEncoding = "gzip";
                await context.Response.Body.WriteAsync(compressed.ToArray());
            };
        }

        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var request = new HttpRequestMessage(HttpMethod.Get, "openai/v1/files");
        request.Headers.AcceptEncoding.ParseAdd("gzip");

        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(response.Content.Headers.ContentEncoding);
        using var list = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(["file-a", "file-b"], list.RootElement.GetProperty("data").EnumerateArray().Select(f => f.GetProperty("id").GetString()).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task ListFiles_OneBackendCooling_ListOfTheOthersNamingTheMissingOne()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var objects = backends.All.Select(FakeObjectStore.Serve).ToArray();
        objects[0].Seed("file-a0", "files");
        backends[1].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "20000" });
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        using var first = await proxy.Client.GetAsync("openai/files?api-version=2024-10-21");
        using var second = await proxy.Client.GetAsync("openai/files?api-version=2024-10-21");

        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal("b", second.Headers.GetValues("x-proxy-list-incomplete").Single());
        Assert.Equal("a", second.Headers.GetValues("x-proxy-backend").Single());
        Assert.Contains("file-a0", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(1, backends[1].RequestCount);
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
