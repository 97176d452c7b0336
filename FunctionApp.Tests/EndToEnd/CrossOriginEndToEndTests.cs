using System.Net;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>Browser callers over real HTTP: CORS preflights, cross-origin answers and the headers a page may read.</summary>
public sealed class CrossOriginEndToEndTests
{
    private const string ChatApp = "https://chat.contoso.com";

    [Fact]
    public async Task ProxyAsync_PreflightFromAllowedOrigin_204WithCorsHeadersBeforeAuthenticationAndNoBackend()
    {
        await using var backends = await FakeBackends.StartAsync("only");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, WithClientKeyAndOrigins(ChatApp));

        using var response = await proxy.Client.SendAsync(Preflight(ChatApp, "POST", "api-key, content-type, x-stainless-os"));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(ChatApp, Single(response, "Access-Control-Allow-Origin"));
        Assert.Contains("POST", Single(response, "Access-Control-Allow-Methods"), StringComparison.Ordinal);
        Assert.Equal("api-key,content-type,x-stainless-os", Single(response, "Access-Control-Allow-Headers").Replace(" ", "", StringComparison.Ordinal));
        Assert.Equal("600", Single(response, "Access-Control-Max-Age"));
        Assert.False(response.Headers.Contains("WWW-Authenticate"));
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_PreflightFromOtherOrigin_204WithoutCorsHeadersAndNoBackend()
    {
        await using var backends = await FakeBackends.StartAsync("only");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, WithClientKeyAndOrigins(ChatApp));

        using var response = await proxy.Client.SendAsync(Preflight("https://evil.example", "POST", "api-key"));

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.False(response.Headers.Contains("Access-Control-Allow-Headers"));
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_CrossOriginCallFromAllowedOrigin_AllowsOriginExposesProxyAndRateLimitHeadersAndDropsBackendCors()
    {
        await using var backends = await FakeBackends.StartAsync("only");
        backends[0].Handler = FakeResponses.Json(200, new { ok = true }, new Dictionary<string, string>
        {
            ["Access-Control-Allow-Origin"] = "*",
            ["Access-Control-Expose-Headers"] = "x-backend-secret",
            ["x-ratelimit-remaining-tokens"] = "900",
        });
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, WithClientKeyAndOrigins("https://other.contoso.com", ChatApp));

        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("{}") };
        request.Headers.Add("Origin", ChatApp);
        request.Headers.Add("api-key", AuthSettings.ClientKey);
        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(ChatApp, Single(response, "Access-Control-Allow-Origin"));
        var exposed = Single(response, "Access-Control-Expose-Headers").Split(',', StringSplitOptions.TrimEntries);
        Assert.Contains("x-proxy-backend", exposed);
        Assert.Contains("x-proxy-attempts", exposed);
        Assert.Contains("retry-after-ms", exposed);
        Assert.Contains("Retry-After", exposed);
        Assert.Contains("x-ratelimit-remaining-tokens", exposed);
        Assert.DoesNotContain("x-backend-secret", exposed);
        Assert.Contains("Origin", response.Headers.Vary);
        Assert.Equal("900", Single(response, "x-ratelimit-remaining-tokens"));
        Assert.Equal(1, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_CrossOriginCallWithoutCredential_401ThatThePageCanRead()
    {
        await using var backends = await FakeBackends.StartAsync("only");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, WithClientKeyAndOrigins(ChatApp));

        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("{}") };
        request.Headers.Add("Origin", ChatApp);
        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(ChatApp, Single(response, "Access-Control-Allow-Origin"));
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_NoOriginsConfigured_PreflightIsAuthenticatedAndNoCorsHeaderIsEverSent()
    {
        await using var backends = await FakeBackends.StartAsync("only");
        backends[0].Handler = FakeResponses.Json(200, new { ok = true }, new Dictionary<string, string> { ["Access-Control-Allow-Origin"] = "*" });
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, WithClientKeyAndOrigins());

        using (var preflight = await proxy.Client.SendAsync(Preflight(ChatApp, "POST", "api-key")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, preflight.StatusCode);
            Assert.False(preflight.Headers.Contains("Access-Control-Allow-Origin"));
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("{}") };
        request.Headers.Add("Origin", ChatApp);
        request.Headers.Add("api-key", AuthSettings.ClientKey);
        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.Equal(0 + 1, backends[0].RequestCount);
    }

    private static Action<Dictionary<string, string?>> WithClientKeyAndOrigins(params string[] origins) => settings =>
    {
        settings["Proxy:Auth:ClientKeys:0"] = AuthSettings.ClientKey;
        for (var i = 0; i < origins.Length; i++)
        {
            settings[$"Proxy:Cors:AllowedOrigins:{i}"] = origins[i];
        }
    };

    private static HttpRequestMessage Preflight(string origin, string method, string headers)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, ProxyTestHost.ChatPath);
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", method);
        request.Headers.Add("Access-Control-Request-Headers", headers);
        return request;
    }

    private static string Single(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? string.Join(",", values)
        : response.Content.Headers.TryGetValues(name, out var content) ? string.Join(",", content)
        : throw new Xunit.Sdk.XunitException($"no {name} header; got: {response.Headers}");
}
