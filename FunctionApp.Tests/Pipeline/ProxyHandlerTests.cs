using System.Net;
using System.Text;
using AoaiProxy.State;
using AoaiProxy.Tests.EndToEnd;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.Pipeline;

/// <summary>
/// Pre-release review of <see cref="AoaiProxy.Pipeline.ProxyHandler"/>: each test states the behaviour the issue or the
/// architecture asks for and fails on main at the time of the review.
/// </summary>
public sealed class ProxyHandlerTests
{
    private const string ChatPath = "openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    /// <summary>
    /// Finding 1. A header value Kestrel accepts (UTF-8 "é") makes SocketsHttpHandler throw "Request headers must contain
    /// only ASCII characters"; the proxy takes that for a transport failure of every backend it tries and cools each
    /// backend-wide, so one anonymous request (pass-through needs no caller auth) answers 502 to everybody for 5 s.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_CallerHeaderWithNonAsciiValue_ForwardedAndCoolsNoBackend()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var request = Encoding.ASCII.GetBytes($"POST /{ChatPath} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-note: caf")
            .Concat(new byte[] { 0xC3, 0xA9 })
            .Concat(Encoding.ASCII.GetBytes("\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"))
            .ToArray();

        var odd = await RawBytes.SendAsync(proxy.BaseAddress, request);

        // Nobody else may pay for one caller's header.
        for (var i = 0; i < 2; i++)
        {
            using var next = await proxy.Client.PostAsync(ChatPath, JsonBody.Of("{}"));
            Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        }

        Assert.DoesNotContain(proxy.Logs.WithEventId(4), e => e.Message.Contains("cooling", StringComparison.Ordinal));
        Assert.StartsWith("HTTP/1.1 200", odd, StringComparison.Ordinal);
        Assert.Contains(backends.All.SelectMany(b => b.Requests), r => r.Headers.TryGetValue("x-note", out var v) && v == "café");
    }

    /// <summary>
    /// Finding 3. A backend header value with a non-ASCII byte (e.g. a Content-Disposition file name) passes HttpClient
    /// but Kestrel refuses to send it: the InvalidOperationException escapes ProxyAsync and the caller gets an empty 500.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_BackendHeaderWithNonAsciiValue_RelaysTheAnswerNotAnEmpty500()
    {
        var answer = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n" +
                "Content-Disposition: attachment; filename=\"r")
            .Concat(new byte[] { 0xC3, 0xA9 })
            .Concat(Encoding.ASCII.GetBytes("sume.pdf\"\r\n\r\n{}"))
            .ToArray();
        await using var backend = new RawBackend(answer);
        await using var proxy = await ProxyTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Proxy:Backends:0:Name"] = "raw",
            ["Proxy:Backends:0:Endpoint"] = backend.Endpoint.ToString(),
        });

        using var response = await proxy.Client.GetAsync("openai/files/file-1/content?api-version=2024-10-21");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("{}", await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// Finding 4a. Bodies over <see cref="AoaiProxy.Forwarding.RequestBody.MemoryThreshold"/> spill to a file and
    /// <c>AsSequence()</c> is then empty, so a v1 request's "model" is never found: a large v1 request (vision with
    /// base64 images) ignores the cooldown of its deployment and goes to a backend that throttled it.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_V1BodyOverMemoryThreshold_HonoursItsDeploymentsCooldown()
    {
        var clock = new ManualTimeProvider();
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, services: s => s.AddSingleton<TimeProvider>(clock));
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "30000" });
        using (var first = await proxy.Client.PostAsync("openai/v1/chat/completions", JsonBody.Of("""{"model":"gpt-4o","messages":[]}""")))
        {
            Assert.Equal("b", first.Headers.GetValues("x-proxy-backend").Single());
        }

        backends[0].Handler = null;
        backends[0].ClearRequests();
        var large = LargeV1Body("gpt-4o");
        for (var i = 0; i < 2; i++)
        {
            using var response = await proxy.Client.PostAsync("openai/v1/chat/completions", JsonBody.Of(large));
            Assert.Equal("b", response.Headers.GetValues("x-proxy-backend").Single());
        }

        Assert.Equal(0, backends[0].RequestCount);
    }

    /// <summary>
    /// Finding 4b. The other half: a 429 on a large v1 request is keyed "a/*" and cools every deployment of the backend.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_V1BodyOverMemoryThreshold_ThrottleCoolsOnlyThatDeployment()
    {
        var clock = new ManualTimeProvider();
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, services: s => s.AddSingleton<TimeProvider>(clock));
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "30000" });
        using (await proxy.Client.PostAsync("openai/v1/chat/completions", JsonBody.Of(LargeV1Body("gpt-4o")))) { }

        backends[0].Handler = null;
        var servedBy = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            using var other = await proxy.Client.PostAsync("openai/v1/embeddings", JsonBody.Of("""{"model":"text-embedding-3-small","input":"x"}"""));
            servedBy.Add(other.Headers.GetValues("x-proxy-backend").Single());
        }

        Assert.Equal(2, servedBy.Count(n => n == "a"));
    }

    /// <summary>
    /// Finding 5. The v1 "model" is taken as is, whatever its length: it becomes a cooldown key (shared through the
    /// table, where a string property over 64 KiB is refused), a field of every attempt's log line and part of the answer.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_V1ModelOfAMegabyte_NeitherKeyedNorLoggedNorEchoedVerbatim()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Json(503, new { error = new { code = "Busy", message = "busy" } });
        var model = new string('m', 1_000_000);

        using var response = await proxy.Client.PostAsync("openai/v1/chat/completions", JsonBody.Of("{\"model\":\"" + model + "\"}"));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var state = proxy.Services.GetRequiredService<SharedState>();
        Assert.All(state.Cooldowns.Keys, k => Assert.True(k.Length < 1000, $"cooldown key of {k.Length} characters"));
        Assert.All(proxy.Logs.Entries, e => Assert.True(e.Message.Length < 10_000, $"log line of {e.Message.Length} characters"));
        Assert.True((await response.Content.ReadAsStringAsync()).Length < 10_000);
    }

    /// <summary>
    /// Finding 6. Every backend timed out (504), and for the next FailureCooldown every request finds them all cooling
    /// for that timeout and answers 502 "BackendsUnavailable": the cause is still the timeout. (Since issue 13 timeouts
    /// cool on evidence only, and a request where every backend cools for failures tries one anyway.)
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
            using var timedOut = await proxy.Client.PostAsync(ChatPath, JsonBody.Of("{}"));
            Assert.Equal(HttpStatusCode.GatewayTimeout, timedOut.StatusCode);
        }

        var cooldowns = proxy.Services.GetRequiredService<SharedState>().Cooldowns;
        Assert.Equal(CooldownReason.TimedOut, cooldowns[CooldownKeys.For("a", "gpt-4o")].Reason);
        Assert.Equal(CooldownReason.TimedOut, cooldowns[CooldownKeys.For("b", "gpt-4o")].Reason);

        using var next = await proxy.Client.PostAsync(ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.GatewayTimeout, next.StatusCode);
        Assert.Equal("BackendsTimedOut", (await AzureError.OfAsync(next)).Code);
    }

    /// <summary>
    /// Finding 9 (nit). Response headers are enumerated through HttpHeaders' parsers and re-serialized (Cache-Control
    /// comes back reordered) instead of copied as received, and Alt-Svc, which advertises the backend's own alternative
    /// endpoints, is relayed as if the proxy's origin offered them (YARP drops it).
    /// </summary>
    [Fact]
    public async Task ProxyAsync_BackendResponseHeaders_CopiedAsReceivedWithoutAltSvc()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Json(200, new { ok = true }, new Dictionary<string, string>
        {
            ["Cache-Control"] = "no-cache, no-store, max-age=0",
            ["Alt-Svc"] = "h3=\":443\"; ma=86400",
        });

        using var response = await proxy.Client.GetAsync("openai/models?api-version=2024-10-21");

        // NonValidated: as on the wire (GetValues would re-serialize on the test's side too).
        Assert.Equal("no-cache, no-store, max-age=0", response.Headers.NonValidated["Cache-Control"].ToString());
        Assert.False(response.Headers.Contains("Alt-Svc"));
    }

    private static string LargeV1Body(string model) =>
        "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" +
        new string('x', AoaiProxy.Forwarding.RequestBody.MemoryThreshold + 1024) + "\"}]}";
}
