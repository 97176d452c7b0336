using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>The engine over real HTTP with fake Azure OpenAI backends on loopback, one proxy instance.</summary>
public sealed class ProxyEndToEndTests
{
    [Fact]
    public async Task ProxyAsync_ManySequentialRequests_SpreadsEvenlyOverThreeBackends()
    {
        await using var backends = await FakeBackends.StartAsync("east", "west", "north");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        for (var i = 0; i < 90; i++)
        {
            using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("""{"messages":[]}"""));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.All(backends.All, b => Assert.Equal(30, b.RequestCount));
    }

    [Fact]
    public async Task ProxyAsync_Served_CarriesBackendAndAttemptHeadersAndBackendHeaders()
    {
        await using var backends = await FakeBackends.StartAsync("only");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal("only", response.Headers.GetValues("x-proxy-backend").Single());
        Assert.Equal("1", response.Headers.GetValues("x-proxy-attempts").Single());
        Assert.Equal("only", response.Headers.GetValues("x-fake-backend").Single());
    }

    public static TheoryData<string, string, double> ThrottleHeaderForms() => new()
    {
        { "retry-after-ms", "2000", 2 },
        { "Retry-After", "3", 3 },
        { "Retry-After", "date+4", 4 },
        { "x-ratelimit-reset-requests", "5s", 5 },
        { "x-ratelimit-reset-tokens", "1m0s", 60 },
        { "x-none", "", 10 },
    };

    [Theory]
    [MemberData(nameof(ThrottleHeaderForms))]
    public async Task ProxyAsync_Backend429WithHeaderForm_FailsOverAndSkipsItUntilCooldownEnds(string header, string value, double expectedSeconds)
    {
        var clock = new ManualTimeProvider();
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, services: s => s.AddSingleton<TimeProvider>(clock));
        if (value.StartsWith("date+", StringComparison.Ordinal))
        {
            value = (clock.GetUtcNow() + TimeSpan.FromSeconds(double.Parse(value[5..], CultureInfo.InvariantCulture))).ToString("r", CultureInfo.InvariantCulture);
        }

        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { [header] = value });

        // Turn 0 goes to "a", which throttles: the same request is served by "b" at once.
        using (var first = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}")))
        {
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);
            Assert.Equal("b", first.Headers.GetValues("x-proxy-backend").Single());
            Assert.Equal("2", first.Headers.GetValues("x-proxy-attempts").Single());
        }

        backends[0].Handler = null;
        backends[0].ClearRequests();
        clock.Advance(TimeSpan.FromSeconds(expectedSeconds) - TimeSpan.FromMilliseconds(50));
        for (var i = 0; i < 6; i++)
        {
            using var during = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
            Assert.Equal("b", during.Headers.GetValues("x-proxy-backend").Single());
        }

        Assert.Equal(0, backends[0].RequestCount);

        clock.Advance(TimeSpan.FromMilliseconds(100));
        var servedBy = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var after = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
            servedBy.Add(after.Headers.GetValues("x-proxy-backend").Single());
        }

        Assert.Contains("a", servedBy);
    }

    [Fact]
    public async Task ProxyAsync_ThrottleOnOneDeployment_OtherDeploymentsOfThatBackendStillServed()
    {
        var clock = new ManualTimeProvider();
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, services: s => s.AddSingleton<TimeProvider>(clock));
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "30000" });
        using (await proxy.Client.PostAsync("openai/v1/chat/completions", JsonBody.Of("""{"model":"gpt-4o","messages":[]}"""))) { }

        backends[0].Handler = null;
        var servedBy = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var other = await proxy.Client.PostAsync("openai/v1/chat/completions", JsonBody.Of("""{"model":"text-embedding-3-small","messages":[]}"""));
            servedBy.Add(other.Headers.GetValues("x-proxy-backend").Single());
        }

        for (var i = 0; i < 4; i++)
        {
            using var same = await proxy.Client.PostAsync("openai/v1/chat/completions", JsonBody.Of("""{"model":"gpt-4o","messages":[]}"""));
            Assert.Equal("b", same.Headers.GetValues("x-proxy-backend").Single());
        }

        Assert.Equal(2, servedBy.Count(n => n == "a"));
    }

    [Fact]
    public async Task ProxyAsync_AllBackendsThrottled_Answers429WithShortestRetryAfter()
    {
        var clock = new ManualTimeProvider();
        await using var backends = await FakeBackends.StartAsync("a", "b", "c");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, ProxyTestHost.NoWaiting, s => s.AddSingleton<TimeProvider>(clock));
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "7000" });
        backends[1].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["Retry-After"] = "4" });
        backends[2].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "2500" });

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal("3", response.Headers.GetValues("Retry-After").Single());
        Assert.Equal("2500", response.Headers.GetValues("retry-after-ms").Single());
        Assert.Equal("3", response.Headers.GetValues("x-proxy-attempts").Single());
        var error = await AzureError.OfAsync(response);
        Assert.Equal("429", error.Code);
        Assert.Contains("gpt-4o", error.Message, StringComparison.Ordinal);

        // Every backend is now cooling: the next request is answered without touching any of them.
        foreach (var b in backends.All)
        {
            b.ClearRequests();
        }

        clock.Advance(TimeSpan.FromSeconds(1));
        using var next = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
        Assert.Equal(HttpStatusCode.TooManyRequests, next.StatusCode);
        Assert.Equal("2", next.Headers.GetValues("Retry-After").Single());
        Assert.Equal("1500", next.Headers.GetValues("retry-after-ms").Single());
        Assert.All(backends.All, b => Assert.Equal(0, b.RequestCount));
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(504)]
    [InlineData(408)]
    public async Task ProxyAsync_BackendFailureStatus_FailsOverToNext(int status)
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Json(status, new { error = new { code = "Boom", message = "failed" } });

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("b", response.Headers.GetValues("x-proxy-backend").Single());
        Assert.Equal(1, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_BackendClosesConnection_FailsOverToNext()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.CloseConnection();

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("b", response.Headers.GetValues("x-proxy-backend").Single());
    }

    [Fact]
    public async Task ProxyAsync_BackendUnreachable_FailsOverToNext()
    {
        await using var backends = await FakeBackends.StartAsync("b");
        var settings = ProxyTestHost.SettingsFor(backends.All);
        settings["Proxy:Backends:1:Name"] = "down";
        settings["Proxy:Backends:1:Endpoint"] = "http://127.0.0.1:1/";
        await using var proxy = await ProxyTestHost.StartAsync(settings);

        for (var i = 0; i < 4; i++)
        {
            using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task ProxyAsync_EveryBackendFails_Answers502WithAzureErrorBody()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Json(500, new { error = "x" });
        backends[1].Handler = FakeResponses.CloseConnection();

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var error = await AzureError.OfAsync(response);
        Assert.Equal("BackendsUnavailable", error.Code);
        Assert.Contains("a: 500", error.Message, StringComparison.Ordinal);
        Assert.Contains("b: transport error", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProxyAsync_DeadlinePassesBeforeHeaders_Answers504()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:RequestTimeoutSeconds"] = "0.3");
        foreach (var b in backends.All)
        {
            b.Handler = async (context, _) => await Task.Delay(TimeSpan.FromSeconds(10), context.RequestAborted);
        }

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("BackendsTimedOut", (await AzureError.OfAsync(response)).Code);
    }

    [Fact]
    public async Task ProxyAsync_StreamedEvents_EachChunkReachesCallerBeforeBackendSendsNext()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var chunks = new[] { "one", "two", "three", "[DONE]" };
        var gates = chunks.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        backends[0].Handler = FakeResponses.Sse(chunks, i => gates[i].Task.WaitAsync(Wait.Patience));

        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("""{"stream":true}""") };
        using var response = await proxy.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        for (var i = 0; i < chunks.Length; i++)
        {
            // The backend is still holding chunk i+1 back: this line can only arrive if chunk i was relayed unbuffered.
            var line = await reader.ReadLineAsync().WaitAsync(Wait.Patience);
            Assert.Equal("data: " + chunks[i], line);
            Assert.Equal("", await reader.ReadLineAsync().WaitAsync(Wait.Patience));
            gates[i].TrySetResult();
        }

        Assert.Null(await reader.ReadLineAsync().WaitAsync(Wait.Patience));
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(5 * 1024 * 1024)]
    public async Task ProxyAsync_FailoverReplaysBody_ByteIdentical(int size)
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Throttle();
        var payload = BodyBytes.Random(size);
        using var content = new ByteArrayContent(payload);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");

        using var response = await proxy.Client.PostAsync("openai/deployments/whisper/audio/transcriptions?api-version=2024-10-21", content);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(payload, backends[0].Requests.Single().Body);
        Assert.Equal(payload, backends[1].Requests.Single().Body);
    }

    [Fact]
    public async Task ProxyAsync_MultipartUpload_PassesThroughUnchanged()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var form = new MultipartFormDataContent("proxy-test-boundary");
        var audio = Enumerable.Range(0, 4096).Select(i => (byte)i).ToArray();
        form.Add(new ByteArrayContent(audio), "file", "speech.wav");
        form.Add(new StringContent("whisper"), "model");
        var expected = await form.ReadAsByteArrayAsync();

        using var response = await proxy.Client.PostAsync("openai/deployments/whisper/audio/transcriptions?api-version=2024-10-21", form);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = backends[0].Requests.Single();
        Assert.Equal(expected, received.Body);
        Assert.Equal("multipart/form-data; boundary=\"proxy-test-boundary\"", received.Headers["Content-Type"]);
    }

    [Fact]
    public async Task ProxyAsync_Headers_ForwardsEndToEndAndDropsHopByHop()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("{}") };
        request.Headers.Add("api-key", "caller-key");
        request.Headers.Add("x-ms-client-request-id", "abc");
        request.Headers.Add("Connection", "x-drop-me");
        request.Headers.Add("x-drop-me", "1");
        request.Headers.Add("Proxy-Authorization", "Basic Zm9v");

        using var response = await proxy.Client.SendAsync(request);

        var received = backends[0].Requests.Single();
        Assert.Equal("caller-key", received.Headers["api-key"]);
        Assert.Equal("abc", received.Headers["x-ms-client-request-id"]);
        Assert.False(received.Headers.ContainsKey("x-drop-me"));
        Assert.False(received.Headers.ContainsKey("Proxy-Authorization"));
        Assert.Equal(backends[0].Endpoint.Authority, received.Headers["Host"]);
        Assert.Equal("/" + ProxyTestHost.ChatPath, received.PathAndQuery);
    }

    [Fact]
    public async Task ProxyAsync_ClientErrorFromBackend_RelayedUnchangedWithoutFailover()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Json(400, new { error = new { code = "content_filter", message = "filtered" } }, new Dictionary<string, string> { ["x-custom"] = "kept" });

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("kept", response.Headers.GetValues("x-custom").Single());
        Assert.Equal("content_filter", (await AzureError.OfAsync(response)).Code);
        Assert.Equal(0, backends[1].RequestCount);
    }

    [Theory]
    [InlineData("/openai/../admin")]
    [InlineData("/openai/%2e%2e/admin")]
    [InlineData("/openai/deployments/x/..%2f..%2fadmin")]
    [InlineData("/openai/a%5c..%5cadmin")]
    [InlineData("/openai/%252e%252e/admin")]
    public async Task ProxyAsync_TargetLeavingOpenAi_Answers400AndReachesNoBackend(string target)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        var (status, text) = await RawHttp.SendAsync(proxy.BaseAddress, "GET", target);

        Assert.Equal(400, status);
        Assert.Contains("\"code\":\"InvalidPath\"", text, StringComparison.Ordinal);
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_TargetOutsideOpenAi_Answers404()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        using var response = await proxy.Client.GetAsync("admin");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("NotFound", (await AzureError.OfAsync(response)).Code);
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_BodyOverLimit_Answers413BeforeAnyBackend()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:MaxRequestBodyBytes"] = "1000");

        using var declared = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, new ByteArrayContent(new byte[2000]));
        using var chunked = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = new StreamContent(new MemoryStream(new byte[2000])) };
        chunked.Headers.TransferEncodingChunked = true;
        using var streamed = await proxy.Client.SendAsync(chunked);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, declared.StatusCode);
        Assert.Equal("RequestBodyTooLarge", (await AzureError.OfAsync(declared)).Code);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, streamed.StatusCode);
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_UnknownMethod_Answers405()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        using var response = await proxy.Client.SendAsync(new HttpRequestMessage(new HttpMethod("BREW"), ProxyTestHost.ChatPath));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_CallerDisconnectsMidStream_CancelsUpstreamAndBlamesNoBackend()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var upstreamCancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        backends[0].Handler = async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: first\n\n");
            await context.Response.Body.FlushAsync();
            try
            {
                await Task.Delay(Wait.Patience, context.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                upstreamCancelled.TrySetResult();
            }
        };

        using (var client = new HttpClient { BaseAddress = proxy.BaseAddress })
        {
            using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("{}") }, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.Equal("data: first", await reader.ReadLineAsync().WaitAsync(Wait.Patience));
        }

        await upstreamCancelled.Task.WaitAsync(Wait.Patience);
        backends[0].Handler = null;
        var servedBy = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var next = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
            servedBy.Add(next.Headers.GetValues("x-proxy-backend").Single());
        }

        Assert.Equal(2, servedBy.Count(n => n == "a"));
    }

    [Fact]
    public async Task ProxyAsync_EachAttempt_IsLoggedWithBackendDeploymentStatusAndDuration()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Throttle();

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        var attempts = proxy.Logs.Named("AttemptCompleted").ToList();
        Assert.Equal(2, attempts.Count);
        // The failover is visible at the production default (Information); the served attempt only at Debug.
        var throttled = Assert.Single(attempts, e => e.Message.Contains("backend a", StringComparison.Ordinal));
        Assert.Contains("gpt-4o", throttled.Message, StringComparison.Ordinal);
        Assert.Contains("429", throttled.Message, StringComparison.Ordinal);
        Assert.Equal(LogLevel.Information, throttled.Level);
        var served = Assert.Single(attempts, e => e.Message.Contains("backend b", StringComparison.Ordinal));
        Assert.Contains("200", served.Message, StringComparison.Ordinal);
        Assert.Equal(LogLevel.Debug, served.Level);
    }

    [Fact]
    public async Task ProxyAsync_ServedAtFirstAttempt_LogsNothingAtInformationOrAbove()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        // The first request also waits for the shared state's start-up, which logs once at Information.
        using var warmUp = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
        var before = proxy.Logs.Entries.Count;
        var attemptsBefore = proxy.Logs.Named("AttemptCompleted").Count();

        using var first = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
        using var second = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        var lines = proxy.Logs.Entries.Skip(before).ToList();
        Assert.Equal(2, proxy.Logs.Named("AttemptCompleted").Count() - attemptsBefore);
        Assert.All(lines.Where(LogCapture.IsEngine), e => Assert.Equal(LogLevel.Debug, e.Level));
    }

    [Fact]
    public async Task ProxyAsync_UnexpectedFailureInsideTheProxy_Answers502InAzureShapeNotAnEmpty500()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        // As during shutdown: the shared state is gone while a request still arrives.
        await proxy.Services.GetRequiredService<AoaiProxy.State.SharedState>().DisposeAsync();
        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal("ProxyError", (await AzureError.OfAsync(response)).Code);
        Assert.Single(proxy.Logs.Named("UnexpectedFailure"));
        Assert.Equal(0, backends[0].RequestCount);
    }
}
