using System.Diagnostics;
using System.Diagnostics.Metrics;
using AoaiProxy.Observability;
using System.Net;
using System.Text;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>
/// Failure handling over real Kestrel and real sockets: the deadline and replay rule, failure cooldowns on evidence,
/// panic, the no-deployment throttle scope, stalled and broken streams, relay framing and header hygiene, HTTP/2 backends.
/// </summary>
public sealed class FailureHandlingEndToEndTests
{
    /// <summary>A backend that accepted the request and is merely slow is waited for, not cancelled and re-run elsewhere.</summary>
    [Fact]
    public async Task ProxyAsync_SlowBackendWithinDeadline_ServedByItWithoutReplay()
    {
        var clock = new ManualTimeProvider();
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(
            backends.All, s => s["Proxy:RequestTimeoutSeconds"] = "60", services => services.AddSingleton<TimeProvider>(clock));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        backends[0].Handler = async (context, request) =>
        {
            await release.Task.WaitAsync(Wait.Patience, context.RequestAborted);
            await FakeResponses.AzureLike("a")(context, request);
        };

        var call = proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
        await Wait.UntilAsync(() => backends[0].RequestCount == 1, "the request to reach backend a");

        // The backend takes until a millisecond before the request's deadline, on the proxy's clock: it is waited for.
        clock.Advance(TimeSpan.FromSeconds(60) - TimeSpan.FromMilliseconds(1));
        Assert.False(call.IsCompleted);
        release.SetResult();
        using var response = await call;

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("a", response.Headers.GetValues("x-proxy-backend").Single());
        Assert.Equal(0, backends[1].RequestCount);
    }

    /// <summary>
    /// Past the request's deadline the caller gets 504 after the one backend that had the request; it is not
    /// re-run (and billed) on the next one, and one timeout cools nothing.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_DeadlinePassesOnAcceptedRequest_504WithoutReplayOrCooldown()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:RequestTimeoutSeconds"] = "0.5");
        foreach (var b in backends.All)
        {
            b.Handler = async (context, _) => await Task.Delay(Wait.Patience, context.RequestAborted);
        }

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.GatewayTimeout, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("x-proxy-attempts").Single());
        Assert.Equal(1, backends.All.Sum(b => b.RequestCount));
        Assert.Empty(proxy.Services.GetRequiredService<SharedState>().Cooldowns);
    }

    /// <summary>A backend that provably never got the request (nothing listening) is failed over at once.</summary>
    [Fact]
    public async Task ProxyAsync_BackendRefusesConnection_FailsOverAsNotStarted()
    {
        await using var backends = await FakeBackends.StartAsync("b");
        var settings = new Dictionary<string, string?>
        {
            ["Proxy:Backends:0:Name"] = "down",
            ["Proxy:Backends:0:Endpoint"] = "http://127.0.0.1:1/",
            ["Proxy:Backends:0:Priority"] = "1",
            ["Proxy:Backends:1:Name"] = "b",
            ["Proxy:Backends:1:Endpoint"] = backends[0].Endpoint.ToString(),
            ["Proxy:Backends:1:Priority"] = "2",
        };
        await using var proxy = await ProxyTestHost.StartAsync(settings);

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("2", response.Headers.GetValues("x-proxy-attempts").Single());
        Assert.Single(proxy.Logs.Named("AttemptNotStarted"));
    }

    /// <summary>One request that makes a backend answer 500 cools nothing; the next, innocent request is served.</summary>
    [Fact]
    public async Task ProxyAsync_OneBad500_CoolsNothingAndNextRequestServed()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = async (context, request) =>
        {
            var poisoned = Encoding.UTF8.GetString(request.Body).Contains("poison", StringComparison.Ordinal);
            await (poisoned ? FakeResponses.Json(500, new { error = "boom" }) : FakeResponses.AzureLike("a"))(context, request);
        };

        using var bad = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("""{"poison":true}"""));
        using var good = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.BadGateway, bad.StatusCode);
        Assert.Equal(HttpStatusCode.OK, good.StatusCode);
        Assert.Empty(proxy.Services.GetRequiredService<SharedState>().Cooldowns);
    }

    /// <summary>
    /// Failures past the failure rate cool the backend for that deployment (shared), and when every candidate
    /// cools for failures one is tried anyway (panic) instead of answering 502 unseen.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_FailureRateReachedOnEveryBackend_CoolsThenPanicTriesOneAnyway()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:FailureRate:MinimumRequests"] = "2";
            s["Proxy:FailureRate:Ratio"] = "0.5";
            s["Proxy:Cooldown:FailureSeconds"] = "60";
        });
        foreach (var b in backends.All)
        {
            b.Handler = FakeResponses.Json(503, new { error = "down" });
        }

        // Each request tries both: two failures each reach the ratio at the minimum throughput.
        for (var i = 0; i < 2; i++)
        {
            using var failed = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
            Assert.Equal(HttpStatusCode.BadGateway, failed.StatusCode);
        }

        var cooldowns = proxy.Services.GetRequiredService<SharedState>().Cooldowns;
        Assert.Equal(CooldownReason.Failed, cooldowns[CooldownKeys.For("a", "gpt-4o")].Reason);
        Assert.Equal(CooldownReason.Failed, cooldowns[CooldownKeys.For("b", "gpt-4o")].Reason);
        foreach (var b in backends.All)
        {
            b.Handler = null;
        }

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(proxy.Logs.Named("Panic"));
    }

    /// <summary>
    /// A connection dropped before the answer is counted backend-wide, so the backend-wide rate counts the answers that
    /// backend gave too: a few sporadic resets among many served requests are not a 100% failure rate and do not cool the
    /// whole backend, for every deployment.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_FewTransportFailuresAmongManyServed_DoesNotCoolTheWholeBackend()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:Backends:0:Priority"] = "1";
            s["Proxy:Backends:1:Priority"] = "2";
            s["Proxy:FailureRate:MinimumRequests"] = "4";
            s["Proxy:FailureRate:Ratio"] = "0.5";
            s["Proxy:Cooldown:FailureSeconds"] = "60";
        });
        backends[0].Handler = async (context, request) =>
        {
            if (Encoding.UTF8.GetString(request.Body).Contains("reset", StringComparison.Ordinal))
            {
                context.Abort();
                return;
            }

            await FakeResponses.AzureLike("a")(context, request);
        };

        // Twelve requests to a, four of them dropped (failed over to b): a third failed, below the ratio of a half.
        for (var i = 0; i < 12; i++)
        {
            using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of(i % 3 == 2 ? """{"reset":true}""" : "{}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var next = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.False(proxy.Services.GetRequiredService<SharedState>().Cooldowns.ContainsKey(CooldownKeys.ForBackend("a")));
        Assert.Equal("a", next.Headers.GetValues("x-proxy-backend").Single());
    }

    /// <summary>A 429 on a request without a deployment does not make the backend's deployments look throttled.</summary>
    [Fact]
    public async Task ProxyAsync_ThrottleWithoutDeployment_DeploymentsOfThatBackendStillServed()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, ProxyTestHost.NoWaiting);
        backends[0].Handler = async (context, request) =>
        {
            var threads = request.PathAndQuery.Contains("/threads", StringComparison.Ordinal);
            await (threads ? FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after"] = "30" }) : FakeResponses.AzureLike("a"))(context, request);
        };

        using var throttled = await proxy.Client.PostAsync("openai/threads?api-version=2024-05-01-preview", JsonBody.Of("{}"));
        using var chat = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
        using var threadsAgain = await proxy.Client.PostAsync("openai/threads?api-version=2024-05-01-preview", JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.TooManyRequests, throttled.StatusCode);
        Assert.Equal(HttpStatusCode.OK, chat.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, threadsAgain.StatusCode);
        Assert.Equal(2, backends[0].RequestCount);
        Assert.False(proxy.Services.GetRequiredService<SharedState>().Cooldowns.ContainsKey(CooldownKeys.ForBackend("a")));
    }

    /// <summary>A backend that stalls mid-stream is cut after the idle timeout, logged, and counted against it.</summary>
    [Fact]
    public async Task ProxyAsync_BackendStallsMidStream_CutAfterIdleTimeoutAndCounted()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:RelayIdleTimeoutSeconds"] = "0.5";
            s["Proxy:FailureRate:MinimumRequests"] = "2";
            s["Proxy:FailureRate:Ratio"] = "1";
        });
        using var failures = new RelayFailureCounter(proxy);
        backends[0].Handler = async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: first\n\n");
            await context.Response.Body.FlushAsync();
            await Task.Delay(Wait.Patience, context.RequestAborted);
        };

        for (var i = 0; i < 2; i++)
        {
            using var response = await proxy.Client.SendAsync(
                new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("{}") }, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.Equal("data: first", await reader.ReadLineAsync().WaitAsync(Wait.Patience));
            await Assert.ThrowsAnyAsync<Exception>(() => reader.ReadToEndAsync().WaitAsync(Wait.Patience));
        }

        var state = proxy.Services.GetRequiredService<SharedState>();
        await Wait.UntilAsync(() => state.Cooldowns.ContainsKey(CooldownKeys.For("a", "gpt-4o")), "backend a's cooldown for gpt-4o");
        Assert.Equal(CooldownReason.Failed, state.Cooldowns[CooldownKeys.For("a", "gpt-4o")].Reason);
        Assert.Equal(2, proxy.Logs.Named("RelayIdleTimedOut").Count());
        Assert.Equal(["a/stalled", "a/stalled"], failures.Seen);
    }

    /// <summary>A body that breaks off mid-stream is logged and counted against the backend, not taken as served.</summary>
    [Fact]
    public async Task ProxyAsync_BackendBreaksMidStream_LoggedAndCounted()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:FailureRate:MinimumRequests"] = "2";
            s["Proxy:FailureRate:Ratio"] = "1";
        });
        using var failures = new RelayFailureCounter(proxy);
        var firstRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        backends[0].Handler = async (context, _) =>
        {
            context.Response.ContentType = "text/event-stream";
            await context.Response.WriteAsync("data: first\n\n");
            await context.Response.Body.FlushAsync();
            await firstRead.Task.WaitAsync(Wait.Patience);
            context.Abort();
        };

        for (var i = 0; i < 2; i++)
        {
            using var response = await proxy.Client.SendAsync(
                new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("{}") }, HttpCompletionOption.ResponseHeadersRead);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.Equal("data: first", await reader.ReadLineAsync().WaitAsync(Wait.Patience));
            firstRead.TrySetResult();
            await Assert.ThrowsAnyAsync<Exception>(() => reader.ReadToEndAsync().WaitAsync(Wait.Patience));
            firstRead = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        // The caller's connection is aborted first; the verdict is recorded right after.
        var state = proxy.Services.GetRequiredService<SharedState>();
        await Wait.UntilAsync(() => state.Cooldowns.ContainsKey(CooldownKeys.For("a", "gpt-4o")), "backend a's cooldown for gpt-4o");
        Assert.Equal(2, proxy.Logs.Named("RelayFailed").Count());
        Assert.Equal(["a/broken", "a/broken"], failures.Seen);
    }

    /// <summary>An answer with both Transfer-Encoding and Content-Length is framed by the former and relayed whole.</summary>
    [Fact]
    public async Task ProxyAsync_BackendSendsTransferEncodingAndContentLength_WholeBodyRelayed()
    {
        var answer = Encoding.ASCII.GetBytes(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\nConnection: close\r\n\r\n" +
            "7\r\n{\"a\":1,\r\n7\r\n\"b\":22}\r\n0\r\n\r\n");
        await using var backend = new RawBackend(answer);
        await using var proxy = await ProxyTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Proxy:Backends:0:Name"] = "raw",
            ["Proxy:Backends:0:Endpoint"] = backend.Endpoint.ToString(),
        });

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("""{"a":1,"b":22}""", await response.Content.ReadAsStringAsync());
    }

    /// <summary>Content headers of a request without a body still reach the backend.</summary>
    [Fact]
    public async Task ProxyAsync_BodylessRequestWithContentHeaders_HeadersForwarded()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var request = Encoding.ASCII.GetBytes(
            "DELETE /openai/files/file-1?api-version=2024-10-21 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
            "Content-Type: application/json\r\nContent-Language: de\r\n\r\n");

        var answer = await RawBytes.SendAsync(proxy.BaseAddress, request);

        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);
        var received = backends[0].Requests.Single();
        Assert.Equal("application/json", received.Headers["Content-Type"]);
        Assert.Equal("de", received.Headers["Content-Language"]);
        Assert.Empty(received.Body);
    }

    /// <summary>
    /// Platform, authentication and forwarding headers (as App Service, the Functions host and the
    /// worker's ASP.NET Core integration add them) and cookies never reach a backend; the caller's own headers do.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_PlatformAndAuthHeaders_NotForwardedCallerHeadersAre()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        string[] stripped =
        [
            "x-ms-invocation-id", "X-Original-For", "X-Original-Host", "X-Original-Proto", "X-Original-Prefix",
            "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-TlsVersion", "X-ARR-LOG-ID", "X-ARR-SSL",
            "X-MS-CLIENT-PRINCIPAL", "X-MS-CLIENT-PRINCIPAL-NAME", "X-MS-CLIENT-PRINCIPAL-ID", "X-MS-CLIENT-PRINCIPAL-IDP",
            "X-MS-TOKEN-AAD-ACCESS-TOKEN", "X-MS-TOKEN-AAD-ID-TOKEN", "Cookie", "X-Client-IP", "DISGUISED-HOST", "WAS-DEFAULT-HOSTNAME",
        ];
        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("{}") };
        foreach (var name in stripped)
        {
            request.Headers.TryAddWithoutValidation(name, "v");
        }

        request.Headers.Add("x-ms-client-request-id", "caller-id");
        request.Headers.Add("x-ms-useragent", "my-app");

        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var received = backends[0].Requests.Single().Headers;
        Assert.All(stripped, name => Assert.False(received.ContainsKey(name), name));
        Assert.Equal("caller-id", received["x-ms-client-request-id"]);
        Assert.Equal("my-app", received["x-ms-useragent"]);
    }

    /// <summary>The backend sees the proxy's own outgoing span as parent, in the caller's trace, not the caller's span.</summary>
    [Fact]
    public async Task ProxyAsync_CallerSendsTraceparent_BackendGetsProxySpanInSameTrace()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        const string traceId = "0af7651916cd43dd8448eb211c80319c";
        const string callerSpan = "b7ad6b7169203331";
        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("{}") };
        request.Headers.Add("traceparent", $"00-{traceId}-{callerSpan}-01");

        using var response = await proxy.Client.SendAsync(request);

        var traceparent = backends[0].Requests.Single().Headers["traceparent"];
        Assert.True(ActivityContext.TryParse(traceparent, null, out var received), traceparent);
        Assert.Equal(traceId, received.TraceId.ToHexString());
        Assert.NotEqual(callerSpan, received.SpanId.ToHexString());
    }

    /// <summary>An HTTP/2 backend over TLS (as Azure OpenAI), streaming, and failover from one to the other.</summary>
    [Fact]
    public async Task ProxyAsync_Http2Backends_StreamsAndFailsOver()
    {
        await using var a = await FakeOpenAIBackend.StartAsync("a", http2Tls: true);
        await using var b = await FakeOpenAIBackend.StartAsync("b", http2Tls: true);
        await using var proxy = await ProxyTestHost.StartAsync([a, b], services: TestCertificate.TrustInProxy);
        a.Handler = FakeResponses.Throttle();

        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("""{"stream":true}""") };
        using var response = await proxy.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("b", response.Headers.GetValues("x-proxy-backend").Single());
        Assert.Equal("HTTP/2", response.Headers.GetValues("x-fake-protocol").Single());
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("\" b\"", body, StringComparison.Ordinal);
        Assert.EndsWith("data: [DONE]\n\n", body, StringComparison.Ordinal);
        Assert.Equal(1, a.RequestCount);
    }

    /// <summary>
    /// Once every backend cools because it timed out (timeouts cool on evidence: here every attempt of each backend timed out),
    /// the next request answers 504 BackendsTimedOut, the cause, not 502 BackendsUnavailable; with every backend cooling for
    /// failures that request still tries one (panic), which times out too.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_EveryBackendCoolingAfterTimeouts_Answers504()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:RequestTimeoutSeconds"] = "0.3";
            s["Proxy:FailureRate:MinimumRequests"] = "2";
            s["Proxy:FailureRate:Ratio"] = "1";
            s["Proxy:Cooldown:FailureSeconds"] = "60";
        });
        foreach (var b in backends.All)
        {
            b.Handler = async (context, _) => await Task.Delay(TimeSpan.FromSeconds(10), context.RequestAborted);
        }

        // Rotation: two timeouts on each backend, the evidence that cools both for timing out.
        for (var i = 0; i < 4; i++)
        {
            using var timedOut = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
            Assert.Equal(HttpStatusCode.GatewayTimeout, timedOut.StatusCode);
        }

        var cooldowns = proxy.Services.GetRequiredService<SharedState>().Cooldowns;
        Assert.Equal(CooldownReason.TimedOut, cooldowns[CooldownKeys.For("a", "gpt-4o")].Reason);
        Assert.Equal(CooldownReason.TimedOut, cooldowns[CooldownKeys.For("b", "gpt-4o")].Reason);

        using var next = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.GatewayTimeout, next.StatusCode);
        Assert.Equal("BackendsTimedOut", (await AzureError.OfAsync(next)).Code);
    }

    /// <summary>Counts the relay-failure metric of one proxy host (its own IMeterFactory: tests run in parallel).</summary>
    private sealed class RelayFailureCounter : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _seen = new();

        public RelayFailureCounter(ProxyTestHost proxy)
        {
            var factory = proxy.Services.GetRequiredService<IMeterFactory>();
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Scope == factory && instrument.Name == MetricNames.Instruments.RelayFailures)
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
            {
                string? backend = null, reason = null;
                foreach (var tag in tags)
                {
                    backend = tag.Key == MetricNames.Tags.Backend ? (string?)tag.Value : backend;
                    reason = tag.Key == MetricNames.Tags.Reason ? (string?)tag.Value : reason;
                }

                _seen.Enqueue(backend + "/" + reason);
            });
            _listener.Start();
        }

        public IReadOnlyCollection<string> Seen => _seen;

        public void Dispose() => _listener.Dispose();
    }
}
