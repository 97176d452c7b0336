using System.Buffers;
using System.Net;
using System.Net.Http.Headers;
using AoaiProxy.Benchmarks.Support;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;

namespace AoaiProxy.Benchmarks;

/// <summary>
/// One request, end to end over loopback HTTP/1.1 (real Kestrel on both sides): a client calling a fake Azure OpenAI
/// backend directly (the baseline of each category) versus the same call through the proxy engine (in-memory state).
/// Client, proxy and backends share one process, so Allocated counts all three (every thread), and the difference
/// between the rows of a category is what the proxy hop costs.
/// The Failover category compares a plain proxied call with one whose first backend answers 429 and whose second serves.
/// </summary>
/// <remarks>
/// 15 warm-up iterations (about 6 s) instead of the job's 3: with three servers in one process on 2 cores, tiered JIT
/// compilation of the Kestrel and HttpClient paths keeps speeding requests up for about 5 s, and with 3 warm-ups the
/// means still drifted by up to 2x within a run.
/// </remarks>
[MemoryDiagnoser]
[WarmupCount(15)]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class EndToEndBenchmarks
{
    private const int ReadBufferSize = 16 * 1024;
    private const string ApiKey = "benchmark-key";

    private static readonly MediaTypeHeaderValue Json = new("application/json");
    private static readonly MediaTypeHeaderValue Octets = new("application/octet-stream");

    private readonly List<IAsyncDisposable> _servers = [];
    private FakeAzureOpenAI _throttling = null!;
    private FakeAzureOpenAI _spare = null!;
    private HttpClient _direct = null!;
    private HttpClient _proxied = null!;
    private HttpClient _failover = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        var first = await Start(FakeAzureOpenAI.StartAsync("backend-a"));
        var second = await Start(FakeAzureOpenAI.StartAsync("backend-b"));
        var throttling = _throttling = await Start(FakeAzureOpenAI.StartAsync("throttling", FakeBehaviour.Throttle));
        var spare = _spare = await Start(FakeAzureOpenAI.StartAsync("spare"));

        // The usual set-up: two backends in one tier, rotated. The failover proxy always tries the throttling backend first.
        var proxy = await Start(ProxyServer.StartAsync([first, second]));
        var failover = await Start(ProxyServer.StartAsync([throttling, spare], priorities: [1, 2]));

        _direct = Client(first.Endpoint);
        _proxied = Client(proxy.BaseAddress);
        _failover = Client(failover.BaseAddress);

        // Measure only what was meant: every variant must succeed, and the failover one only on its second attempt.
        await Expect(_direct, Payloads.ChatPath, Payloads.ChatRequest, Json, Payloads.ChatResponse.Length, attempts: null);
        await Expect(_proxied, Payloads.ChatPath, Payloads.ChatRequest, Json, Payloads.ChatResponse.Length, attempts: "1");
        await Expect(_proxied, Payloads.StreamPath, Payloads.StreamRequest, Json, Payloads.SseChunks.Sum(c => c.Length), attempts: "1");
        await Expect(_proxied, Payloads.UploadPath, Payloads.Upload, Octets, Payloads.TranscriptionResponse.Length, attempts: "1");
        for (var i = 0; i < 3; i++)
        {
            await Expect(_failover, Payloads.ChatPath, Payloads.ChatRequest, Json, Payloads.ChatResponse.Length, attempts: "2");
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        // Every request through the failover proxy must have paid a 429 before being served (none planned around it).
        if (_throttling.Requests != _spare.Requests)
        {
            throw new InvalidOperationException(
                $"The throttling backend answered {_throttling.Requests} requests but the spare served {_spare.Requests}: not every request failed over.");
        }

        _direct.Dispose();
        _proxied.Dispose();
        _failover.Dispose();
        for (var i = _servers.Count - 1; i >= 0; i--)
        {
            await _servers[i].DisposeAsync();
        }
    }

    [Benchmark(Baseline = true, Description = "Chat 1 KB: direct")]
    [BenchmarkCategory("Chat")]
    public Task<long> ChatDirect() => SendAsync(_direct, Payloads.ChatPath, Payloads.ChatRequest, Json);

    [Benchmark(Description = "Chat 1 KB: proxied")]
    [BenchmarkCategory("Chat")]
    public Task<long> ChatProxied() => SendAsync(_proxied, Payloads.ChatPath, Payloads.ChatRequest, Json);

    [Benchmark(Baseline = true, Description = "Stream 50 SSE: direct")]
    [BenchmarkCategory("Stream")]
    public Task<long> StreamDirect() => SendAsync(_direct, Payloads.StreamPath, Payloads.StreamRequest, Json);

    [Benchmark(Description = "Stream 50 SSE: proxied")]
    [BenchmarkCategory("Stream")]
    public Task<long> StreamProxied() => SendAsync(_proxied, Payloads.StreamPath, Payloads.StreamRequest, Json);

    [Benchmark(Baseline = true, Description = "Upload 1 MiB: direct")]
    [BenchmarkCategory("Upload")]
    public Task<long> UploadDirect() => SendAsync(_direct, Payloads.UploadPath, Payloads.Upload, Octets);

    [Benchmark(Description = "Upload 1 MiB: proxied")]
    [BenchmarkCategory("Upload")]
    public Task<long> UploadProxied() => SendAsync(_proxied, Payloads.UploadPath, Payloads.Upload, Octets);

    [Benchmark(Baseline = true, Description = "Chat 1 KB: proxied, first backend serves")]
    [BenchmarkCategory("Failover")]
    public Task<long> FailoverBaseline() => SendAsync(_proxied, Payloads.ChatPath, Payloads.ChatRequest, Json);

    [Benchmark(Description = "Chat 1 KB: proxied, 429 then second backend")]
    [BenchmarkCategory("Failover")]
    public Task<long> FailoverAfter429() => SendAsync(_failover, Payloads.ChatPath, Payloads.ChatRequest, Json);

    /// <summary>Sends one POST, checks it succeeded and reads the whole body (as it arrives) into a pooled buffer.</summary>
    private static async Task<long> SendAsync(HttpClient client, string path, byte[] body, MediaTypeHeaderValue contentType)
    {
        using var response = await SendCoreAsync(client, path, body, contentType);
        return await DrainAsync(response);
    }

    private static async Task<HttpResponseMessage> SendCoreAsync(HttpClient client, string path, byte[] body, MediaTypeHeaderValue contentType)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = contentType;
        request.Headers.TryAddWithoutValidation("api-key", ApiKey);
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            response.Dispose();
            throw new InvalidOperationException($"POST {path} answered {(int)response.StatusCode}: the benchmark would measure an error.");
        }

        return response;
    }

    private static async Task<long> DrainAsync(HttpResponseMessage response)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
        try
        {
            var stream = await response.Content.ReadAsStreamAsync();
            await using (stream)
            {
                long total = 0;
                int read;
                while ((read = await stream.ReadAsync(buffer)) > 0)
                {
                    total += read;
                }

                return total;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task Expect(HttpClient client, string path, byte[] body, MediaTypeHeaderValue contentType, long length, string? attempts)
    {
        using var response = await SendCoreAsync(client, path, body, contentType);
        var seenAttempts = response.Headers.TryGetValues("x-proxy-attempts", out var values) ? values.FirstOrDefault() : null;
        var received = await DrainAsync(response);
        if (received != length || seenAttempts != attempts)
        {
            throw new InvalidOperationException(
                $"POST {path}: expected {length} bytes after {attempts ?? "no proxy"} attempt(s), got {received} bytes after {seenAttempts ?? "no proxy"}.");
        }
    }

    private static HttpClient Client(Uri baseAddress) => new(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false })
    {
        BaseAddress = baseAddress,
    };

    private async Task<T> Start<T>(Task<T> starting) where T : IAsyncDisposable
    {
        var server = await starting;
        _servers.Add(server);
        return server;
    }
}
