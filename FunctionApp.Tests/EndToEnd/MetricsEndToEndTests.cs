using System.Net;
using System.Net.Http.Headers;
using AoaiProxy.Observability;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using M = AoaiProxy.Observability.MetricNames;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>Each instrument of <see cref="ProxyMetrics"/>, measured through real requests to the engine on loopback.</summary>
public sealed class MetricsEndToEndTests
{
    [Fact]
    public async Task RequestCompleted_ServedJsonAnswer_CountsRequestAttemptDurationsAndTokensOfTheCaller()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s.Keys());
        using var metrics = Recorder(proxy);

        using var response = await SendAsync(proxy, AuthSettings.SecondClientKey);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, metrics.Sum(M.Instruments.Requests, (M.Tags.Outcome, "served"), (M.Tags.Deployment, "gpt-4o"), (M.Tags.Status, "200")));
        Assert.Equal(1, metrics.Sum(M.Instruments.Attempts, (M.Tags.Backend, "a"), (M.Tags.Deployment, "gpt-4o"), (M.Tags.Status, "200")));
        Assert.Single(metrics.Of(M.Instruments.HeadersDuration), m => m[M.Tags.Backend] == "a" && m.Value >= 0);
        Assert.Single(metrics.Of(M.Instruments.FirstByteDuration), m => m[M.Tags.Backend] == "a" && m.Value >= 0);
        Assert.Empty(metrics.Of(M.Instruments.Failovers));
        // The fake answers usage 5/3/8; the caller used the second client key: key:1, never the key itself.
        (string, string?)[] who = [(M.Tags.Backend, "a"), (M.Tags.Deployment, "gpt-4o"), (M.Tags.Caller, "key:1")];
        Assert.Equal(5, metrics.Sum(M.Instruments.Tokens, [.. who, (M.Tags.TokenType, "prompt")]));
        Assert.Equal(3, metrics.Sum(M.Instruments.Tokens, [.. who, (M.Tags.TokenType, "completion")]));
        Assert.Equal(8, metrics.Sum(M.Instruments.Tokens, [.. who, (M.Tags.TokenType, "total")]));
        Assert.DoesNotContain(metrics.All, m => m.Tags.Values.Any(v => v is not null && v.Contains(AuthSettings.SecondClientKey, StringComparison.Ordinal)));
    }

    [Fact]
    public async Task RequestCompleted_StreamWithIncludeUsage_CountsTheStreamsTokens()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = FakeResponses.Sse(
        [
            FakeResponses.ChunkJson("gpt-4o", "Hi"),
            """{"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":21,"completion_tokens":2,"total_tokens":23}}""",
            "[DONE]",
        ], _ => Task.CompletedTask);
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var metrics = Recorder(proxy);

        using var response = await SendAsync(proxy);
        await response.Content.ReadAsStringAsync();

        Assert.Equal(21, metrics.Sum(M.Instruments.Tokens, (M.Tags.TokenType, "prompt"), (M.Tags.Caller, M.AnonymousCaller)));
        Assert.Equal(23, metrics.Sum(M.Instruments.Tokens, (M.Tags.TokenType, "total")));
    }

    [Fact]
    public async Task RequestCompleted_ManyDistinctDeploymentNames_DeploymentLabelsStayBounded()
    {
        // The deployment comes from the caller's URL: a client looping over made-up names must not make a series each.
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var metrics = Recorder(proxy);

        for (var i = 0; i < 130; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"openai/deployments/made-up-{i}/chat/completions?api-version=2024-10-21")
            {
                Content = JsonBody.Of("""{"messages":[]}"""),
            };
            using var response = await proxy.Client.SendAsync(request);
        }

        foreach (var instrument in (string[])[M.Instruments.Requests, M.Instruments.Attempts, M.Instruments.HeadersDuration, M.Instruments.Tokens])
        {
            var labels = metrics.Of(instrument).Select(m => m[M.Tags.Deployment]).Distinct().Count();
            Assert.InRange(labels, 1, 101);
        }
    }

    [Fact]
    public async Task RequestCompleted_DeploymentNoBackendHas_NotADeploymentLabel()
    {
        // Azure answers 404 DeploymentNotFound for a name that exists nowhere: such names never become a series.
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = FakeResponses.Json(404, new { error = new { code = "DeploymentNotFound", message = "The API deployment for this resource does not exist." } });
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var metrics = Recorder(proxy);

        using var request = new HttpRequestMessage(HttpMethod.Post, "openai/deployments/typo-4o/chat/completions?api-version=2024-10-21")
        {
            Content = JsonBody.Of("""{"messages":[]}"""),
        };
        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.NotEmpty(metrics.Of(M.Instruments.Requests));
        Assert.DoesNotContain(metrics.All, m => m[M.Tags.Deployment] == "typo-4o");
    }

    [Fact]
    public async Task RequestCompleted_GetOfAStoredObjectWithUsage_CountsNoTokens()
    {
        // Reading back a stored response (or a batch's output file) spends no tokens: its usage was counted when made.
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = FakeResponses.Json(200, new { id = "resp_1", @object = "response", status = "completed", usage = new { input_tokens = 50, output_tokens = 7, total_tokens = 57 } });
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var metrics = Recorder(proxy);

        using var response = await proxy.Client.GetAsync("openai/v1/responses/resp_1");
        await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(metrics.Of(M.Instruments.Tokens));
    }

    [Fact]
    public async Task RequestCompleted_CorsPreflight_NotCountedAsAServedRequest()
    {
        // A browser sends a preflight before each cross-origin call (until it caches one): the proxy answers it itself,
        // nothing is proxied, so it must not add a "served" request next to the call it precedes.
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:Cors:AllowedOrigins:0"] = "https://chat.contoso.com");
        using var metrics = Recorder(proxy);

        using var preflight = new HttpRequestMessage(HttpMethod.Options, ProxyTestHost.ChatPath);
        preflight.Headers.Add("Origin", "https://chat.contoso.com");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "api-key, content-type");
        using var response = await proxy.Client.SendAsync(preflight);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(0, backends[0].RequestCount);
        Assert.Empty(metrics.Of(M.Instruments.Requests));
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("br")]
    public async Task RequestCompleted_CompressedJsonAnswer_CountsItsTokensAndRelaysTheBytesUnchanged(string encoding)
    {
        // The proxy passes the caller's Accept-Encoding on and relays the bytes as they are: a backend may compress.
        var json = """{"id":"c","object":"chat.completion","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":12,"completion_tokens":4,"total_tokens":16}}"""u8.ToArray();
        var compressed = new MemoryStream();
        await using (Stream encoder = encoding == "gzip" ? new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true)
            : new System.IO.Compression.BrotliStream(compressed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true))
        {
            await encoder.WriteAsync(json);
        }

        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = async (context, _) =>
        {
            context.Response.ContentType = "application/json";
            context.Response.Headers.ContentEncoding = encoding;
            await context.Response.Body.WriteAsync(compressed.ToArray());
        };
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var metrics = Recorder(proxy);

        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("""{"messages":[]}""") };
        request.Headers.AcceptEncoding.ParseAdd(encoding);
        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(compressed.ToArray(), await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(12, metrics.Sum(M.Instruments.Tokens, (M.Tags.TokenType, "prompt")));
        Assert.Equal(4, metrics.Sum(M.Instruments.Tokens, (M.Tags.TokenType, "completion")));
        Assert.Equal(16, metrics.Sum(M.Instruments.Tokens, (M.Tags.TokenType, "total")));
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public async Task RequestCompleted_CompressedBombAnswer_RelaysEveryByteAndCountsNoTokens(string encoding)
    {
        // Its usage object follows 512 MiB of zeros: the scan stops decoding at Proxy:MaxDecodedBodyBytes, the relay does not.
        var bomb = Compression.Bomb(encoding);
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = async (context, _) =>
        {
            context.Response.ContentType = "application/json";
            context.Response.Headers.ContentEncoding = encoding;
            await context.Response.Body.WriteAsync(bomb);
        };
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:MaxDecodedBodyBytes"] = "1048576");
        using var metrics = Recorder(proxy);

        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("""{"messages":[]}""") };
        request.Headers.AcceptEncoding.ParseAdd(encoding);
        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(bomb, await response.Content.ReadAsByteArrayAsync());
        await Wait.UntilAsync(() => metrics.Of(M.Instruments.Requests).Count > 0, "the request counted as ended");

        Assert.Equal(1, metrics.Sum(M.Instruments.Requests, (M.Tags.Outcome, "served"), (M.Tags.Status, "200")));
        Assert.Empty(metrics.Of(M.Instruments.Tokens));
    }

    [Fact]
    public async Task AttemptCompleted_ThrottledThenServedElsewhere_CountsFailoverCooldownAndActiveGauge()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after"] = "30" });
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:Backends:1:Priority"] = "2");
        using var metrics = Recorder(proxy);

        using var response = await SendAsync(proxy);

        Assert.Equal("b", response.Headers.GetValues("x-proxy-backend").Single());
        Assert.Equal(1, metrics.Sum(M.Instruments.Attempts, (M.Tags.Backend, "a"), (M.Tags.Status, "429")));
        Assert.Equal(1, metrics.Sum(M.Instruments.Attempts, (M.Tags.Backend, "b"), (M.Tags.Status, "200")));
        Assert.Equal(1, metrics.Sum(M.Instruments.Failovers, (M.Tags.Backend, "b"), (M.Tags.Deployment, "gpt-4o")));
        Assert.Equal(1, metrics.Sum(M.Instruments.CooldownsStarted, (M.Tags.Backend, "a"), (M.Tags.Deployment, "gpt-4o"), (M.Tags.Reason, "throttled")));

        metrics.Observe();
        Assert.Equal(1, metrics.Sum(M.Instruments.CooldownsActive, (M.Tags.Backend, "a"), (M.Tags.Reason, "throttled")));
        Assert.Equal(0, metrics.Sum(M.Instruments.CooldownsActive, (M.Tags.Backend, "b")));
    }

    [Theory]
    [InlineData(429, "throttled", "429")]
    [InlineData(500, "failed", "502")]
    public async Task RequestCompleted_EveryBackendFails_CountsTheExhaustedOutcome(int backendStatus, string outcome, string status)
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        foreach (var backend in backends.All)
        {
            backend.Handler = FakeResponses.Json(backendStatus, new { error = new { code = "x", message = "x" } });
        }

        await using var proxy = await ProxyTestHost.StartAsync(backends.All, ProxyTestHost.NoWaiting);
        using var metrics = Recorder(proxy);

        using var response = await SendAsync(proxy);

        Assert.Equal(status, ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1, metrics.Sum(M.Instruments.Requests, (M.Tags.Outcome, outcome), (M.Tags.Status, status), (M.Tags.Deployment, "gpt-4o")));
        Assert.Equal(2, metrics.Sum(M.Instruments.Attempts, (M.Tags.Status, backendStatus.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        Assert.Equal(1, metrics.Sum(M.Instruments.Failovers));
        Assert.Empty(metrics.Of(M.Instruments.Tokens));
    }

    [Fact]
    public async Task AttemptTimedOut_DeadlinePassed_CountsTimeoutAnd504ButNoCooldownWithoutEvidence()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = async (context, _) => await Task.Delay(TimeSpan.FromSeconds(30), context.RequestAborted);
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:RequestTimeoutSeconds"] = "1");
        using var metrics = Recorder(proxy);

        using var response = await SendAsync(proxy);

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal(1, metrics.Sum(M.Instruments.Attempts, (M.Tags.Backend, "a"), (M.Tags.Status, M.AttemptStatuses.Timeout)));
        Assert.Equal(0, metrics.Sum(M.Instruments.CooldownsStarted, (M.Tags.Backend, "a"), (M.Tags.Reason, "timedOut")));
        Assert.Equal(1, metrics.Sum(M.Instruments.Requests, (M.Tags.Outcome, "timed_out"), (M.Tags.Status, "504")));
    }

    [Fact]
    public async Task AttemptFailed_TransportError_CountsTransportErrorAndBackendWideCooldown()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = FakeResponses.CloseConnection();
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:FailureRate:MinimumRequests"] = "2");
        using var metrics = Recorder(proxy);

        // Failure cooldowns need evidence: the second dropped connection reaches the failure rate.
        using (await SendAsync(proxy)) { }
        using var response = await SendAsync(proxy);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(2, metrics.Sum(M.Instruments.Attempts, (M.Tags.Backend, "a"), (M.Tags.Status, M.AttemptStatuses.TransportError)));
        Assert.Equal(1, metrics.Sum(M.Instruments.CooldownsStarted, (M.Tags.Backend, "a"), (M.Tags.Deployment, M.NoDeployment), (M.Tags.Reason, "failed")));
    }

    [Fact]
    public async Task RequestCompleted_CallerWithoutCredentials_CountsRefusedWithoutAttempts()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s.Keys());
        using var metrics = Recorder(proxy);

        using var response = await SendAsync(proxy);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(1, metrics.Sum(M.Instruments.Requests, (M.Tags.Outcome, "refused"), (M.Tags.Status, "401"), (M.Tags.Deployment, M.NoDeployment)));
        Assert.Empty(metrics.Of(M.Instruments.Attempts));
    }

    [Fact]
    public async Task Observe_AfterARequest_ReportsStoreOperationsLostRacesAndLocalStateFromTheSharedState()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        using var metrics = Recorder(proxy);
        using (await SendAsync(proxy)) { }

        metrics.Observe();

        var counters = proxy.Services.GetRequiredService<AoaiProxy.State.SharedState>().Counters;
        Assert.True(metrics.Sum(M.Instruments.StoreOperations, (M.Tags.Kind, M.StoreKinds.Read), (M.Tags.Result, M.StoreResults.Ok)) >= 1);
        Assert.True(metrics.Sum(M.Instruments.StoreOperations, (M.Tags.Kind, M.StoreKinds.WriteCursor), (M.Tags.Result, M.StoreResults.Ok)) >= 1);
        Assert.Equal(counters.LostRaces, metrics.Sum(M.Instruments.StoreLostRaces));
        Assert.Equal(counters.LocalClaims, metrics.Sum(M.Instruments.LocalStateRequests));
    }

    private static MetricsRecorder Recorder(ProxyTestHost proxy) => new(proxy.Services.GetRequiredService<ProxyMetrics>().Meter);

    private static Task<HttpResponseMessage> SendAsync(ProxyTestHost proxy, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("""{"messages":[]}""") };
        if (key is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return proxy.Client.SendAsync(request);
    }
}
