using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using AoaiProxy.Observability;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>
/// Large request bodies over real HTTP: an announced body over the in-memory threshold streams through the first attempt
/// as it arrives (RequestBody.ReceiveAsync), and failover still replays it byte for byte.
/// </summary>
public sealed class UploadEndToEndTests
{
    private const string UploadPath = "openai/deployments/whisper/audio/transcriptions?api-version=2024-10-21";
    private const int MiB = 1024 * 1024;

    [Fact]
    public async Task ProxyAsync_UploadStillArriving_ReachesTheBackendBeforeTheCallerSendsTheRest()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var payload = BodyBytes.Random(12 * MiB);

        // The caller holds back all but its first MiB until the backend has received body bytes: only a proxy that sends
        // while receiving gets past this gate (one that reads the whole body first would wait for ever).
        using var content = new GatedUpload(payload, MiB, () => backends[0].FirstBodyBytes.Task.WaitAsync(Wait.Patience));
        using var response = await proxy.Client.PostAsync(UploadPath, content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(backends[0].Requests.Single().Body));
    }

    /// <summary>
    /// Over HTTP/2 (as Azure OpenAI is reached) the request body is sent while the response is awaited, so the first
    /// attempt's content may still be pulling from the caller when its 429 arrives and the next attempt starts.
    /// </summary>
    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task ProxyAsync_FirstBackendStopsMidUpload_NextGetsTheByteIdenticalBody(bool throttles, bool http2)
    {
        await using var a = await FakeOpenAIBackend.StartAsync("a", http2);
        await using var b = await FakeOpenAIBackend.StartAsync("b", http2);
        await using var proxy = await ProxyTestHost.StartAsync([a, b], services: http2 ? TestCertificate.TrustInProxy : null);
        var payload = BodyBytes.Random(12 * MiB);
        var gaveUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.BeforeBody = GiveUpAfterAMiB(throttles, gaveUp);

        // The rest of the body arrives only after the first backend gave up: the second attempt replays what was
        // received and then reads the rest from the caller itself.
        using var content = new GatedUpload(payload, 6 * MiB, () => gaveUp.Task.WaitAsync(Wait.Patience));
        using var response = await proxy.Client.PostAsync(UploadPath, content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("b", response.Headers.GetValues("x-proxy-backend").Single());
        Assert.Equal(http2 ? "HTTP/2" : "HTTP/1.1", response.Headers.GetValues("x-fake-protocol").Single());
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(b.Requests.Single().Body));
    }

    /// <summary>
    /// With one possible backend a 429 in the middle of a streamed upload is the answer, with its wait: there is no other
    /// backend to replay the body to, over HTTP/1.1 or HTTP/2.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ProxyAsync_OnlyBackendThrottlesMidUpload_CallerGets429WithRetryAfter(bool http2)
    {
        await using var a = await FakeOpenAIBackend.StartAsync("a", http2);
        await using var proxy = await ProxyTestHost.StartAsync([a], ProxyTestHost.NoWaiting, http2 ? TestCertificate.TrustInProxy : null);
        var payload = BodyBytes.Random(12 * MiB);
        var gaveUp = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        a.BeforeBody = GiveUpAfterAMiB(throttles: true, gaveUp);

        using var content = new GatedUpload(payload, 6 * MiB, () => gaveUp.Task.WaitAsync(Wait.Patience));
        using var response = await proxy.Client.PostAsync(UploadPath, content);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Equal("1", response.Headers.GetValues("x-proxy-attempts").Single());
    }

    [Fact]
    public async Task ProxyAsync_CallerAbortsMidUpload_NoBackendBlamedAndRotationContinues()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var metrics = new MetricsRecorder(proxy.Services.GetRequiredService<ProxyMetrics>().Meter);
        var payload = BodyBytes.Random(12 * MiB);

        using var content = new GatedUpload(payload, 6 * MiB, async () =>
        {
            await backends[0].FirstBodyBytes.Task.WaitAsync(Wait.Patience);
            throw new IOException("The caller went away mid-upload.");
        });
        await Assert.ThrowsAsync<HttpRequestException>(() => proxy.Client.PostAsync(UploadPath, content));
        await Wait.UntilAsync(() => metrics.Of(MetricNames.Instruments.Requests).Count == 1, "the request counted as ended");

        // Nothing against the backend: no transport failure, timeout, cooldown or unexpected failure of the proxy.
        string[] blaming = ["AttemptTransportFailed", "CoolingDown", "UnexpectedFailure", "AttemptDeadlineExceeded", "AttemptNotStarted", "FailureRateReached"];
        Assert.All(blaming, name => Assert.Empty(proxy.Logs.Named(name)));
        Assert.Empty(metrics.Of(MetricNames.Instruments.CooldownsStarted));
        Assert.Empty(backends[0].Requests);
        var servedBy = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var next = await proxy.Client.PostAsync(UploadPath, new ByteArrayContent(BodyBytes.Random(100)));
            servedBy.Add(next.Headers.GetValues("x-proxy-backend").Single());
        }

        Assert.Equal(2, servedBy.Count(n => n == "a"));
    }

    [Fact]
    public async Task ProxyAsync_UploadWithoutContentLength_ReadWholeAndReplayedOnFailover()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Throttle();
        var payload = BodyBytes.Random(6 * MiB);

        // Chunked: the proxy cannot know the length, so it reads the whole body first as before.
        using var content = new GatedUpload(payload, MiB, () => Task.CompletedTask, announceLength: false);
        using var response = await proxy.Client.PostAsync(UploadPath, content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(content.Headers.ContentLength);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(backends[0].Requests.Single().Body));
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(backends[1].Requests.Single().Body));
    }

    /// <summary>
    /// The engine sets the body limit on each request it handles (Proxy:MaxRequestBodyBytes, 100 MiB by default), not on
    /// the server: a body above Kestrel's own default of 30,000,000 bytes still reaches the backend whole.
    /// </summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task ProxyAsync_BodyAboveTheServersDefaultLimit_ReachesTheBackendWhole(bool announceLength)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var payload = BodyBytes.Random(31 * MiB);

        using var content = new GatedUpload(payload, MiB, () => Task.CompletedTask, announceLength);
        using var response = await proxy.Client.PostAsync(UploadPath, content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(backends[0].Requests.Single().Body));
    }

    [Fact]
    public async Task ProxyAsync_V1BodyOverThreshold_ReadWholeForItsModelAndServed()
    {
        // v1 names the deployment in the body's "model": such a body is read whole before routing, never streamed.
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var json = "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" + new string('x', 5 * MiB) + "\"}]}";
        var payload = Encoding.UTF8.GetBytes(json);
        using var content = new ByteArrayContent(payload);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");

        using var response = await proxy.Client.PostAsync("openai/v1/chat/completions", content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(payload, backends[0].Requests.Single().Body);
    }


    /// <summary>A backend that reads about a MiB of the upload, then answers 429 early or drops the connection.</summary>
    private static Func<HttpContext, Task<bool>> GiveUpAfterAMiB(bool throttles, TaskCompletionSource gaveUp) => async context =>
    {
        var buffer = new byte[64 * 1024];
        var read = 0;
        while (read < MiB)
        {
            read += await context.Request.Body.ReadAsync(buffer);
        }

        if (throttles)
        {
            await FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "30000" })(context, null!);
        }
        else
        {
            context.Abort();
        }

        gaveUp.TrySetResult();
        return true;
    };

    /// <summary>A caller's upload: its first part, then <paramref name="beforeRest"/>, then the rest.</summary>
    private sealed class GatedUpload(byte[] payload, int firstPart, Func<Task> beforeRest, bool announceLength = true) : HttpContent
    {
        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(payload.AsMemory(0, firstPart));
            await stream.FlushAsync();
            await beforeRest();
            await stream.WriteAsync(payload.AsMemory(firstPart));
        }

        protected override bool TryComputeLength(out long length)
        {
            length = payload.Length;
            return announceLength;
        }
    }
}
