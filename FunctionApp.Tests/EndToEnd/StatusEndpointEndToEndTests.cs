using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using AoaiProxy.Observability;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>GET /proxy/status and GET /proxy over real HTTP, and the access rule they share with /metrics.</summary>
public sealed class StatusEndpointEndToEndTests
{
    [Fact]
    public async Task ServeAsync_Status_HasExactlyTheDocumentedNames()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        backends[0].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after"] = "40" });
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:Backends:1:Priority"] = "2";
            s["Proxy:Backends:1:Weight"] = "3";
        });
        using (await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("""{"messages":[]}"""))) { }

        using var response = await proxy.Client.GetAsync("proxy/status");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("no-store", response.Headers.CacheControl?.ToString());
        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var root = json.RootElement;
        Assert.Equal(ProxyStatus.Instance, root.GetProperty("instance").GetString());
        var store = root.GetProperty("store");
        Assert.Equal("memory", store.GetProperty("kind").GetString());
        Assert.False(store.GetProperty("shared").GetBoolean());
        Assert.Equal(JsonValueKind.Null, store.GetProperty("lastError").ValueKind);
        Assert.True(root.GetProperty("cursor").GetInt64() >= 1);

        var list = root.GetProperty("backends").EnumerateArray().ToList();
        Assert.Equal(["a", "b"], list.Select(b => b.GetProperty("name").GetString()));
        var a = list[0];
        Assert.Equal(backends[0].Endpoint.ToString(), a.GetProperty("endpoint").GetString());
        Assert.Equal(1, a.GetProperty("priority").GetInt32());
        Assert.Equal(2, list[1].GetProperty("priority").GetInt32());
        Assert.Equal(3, list[1].GetProperty("weight").GetInt32());
        var cooldown = Assert.Single(a.GetProperty("cooldowns").EnumerateArray());
        Assert.Equal("gpt-4o", cooldown.GetProperty("deployment").GetString());
        Assert.Equal("throttled", cooldown.GetProperty("reason").GetString());
        Assert.InRange(cooldown.GetProperty("secondsLeft").GetDouble(), 1, 40);
        Assert.Equal(1, a.GetProperty("requests").GetInt64());
        Assert.Equal(1, a.GetProperty("throttled").GetInt64());
        Assert.Equal(0, a.GetProperty("failures").GetInt64());
        Assert.Equal(1, list[1].GetProperty("requests").GetInt64());
        Assert.Empty(list[1].GetProperty("cooldowns").EnumerateArray());

        // The names, exactly (more may follow them, none may be renamed).
        string[] top = ["instance", "store", "cursor", "backends"];
        string[] storeNames = ["kind", "shared", "lastError"];
        string[] backendNames = ["name", "endpoint", "priority", "weight", "cooldowns", "requests", "throttled", "failures"];
        string[] cooldownNames = ["deployment", "reason", "secondsLeft"];
        Assert.All(top, n => Assert.True(root.TryGetProperty(n, out _), n));
        Assert.All(storeNames, n => Assert.True(store.TryGetProperty(n, out _), n));
        Assert.All(backendNames, n => Assert.True(a.TryGetProperty(n, out _), n));
        Assert.All(cooldownNames, n => Assert.True(cooldown.TryGetProperty(n, out _), n));
    }

    [Fact]
    public async Task ServeAsync_BackendWideCooldown_DeploymentIsNullAndStateCooling()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = FakeResponses.CloseConnection();
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:Cooldown:FailureSeconds"] = "60";
            s["Proxy:FailureRate:MinimumRequests"] = "2";
        });

        // Two dropped connections: the failure rate is reached and the whole backend cools.
        for (var i = 0; i < 2; i++)
        {
            using (await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("""{"messages":[]}"""))) { }
        }

        using var json = JsonDocument.Parse(await proxy.Client.GetStringAsync("proxy/status"));

        var a = json.RootElement.GetProperty("backends")[0];
        var cooldown = Assert.Single(a.GetProperty("cooldowns").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, cooldown.GetProperty("deployment").ValueKind);
        Assert.Equal("failed", cooldown.GetProperty("reason").GetString());
        Assert.Equal("cooling", a.GetProperty("state").GetString());
        Assert.Equal(2, a.GetProperty("failures").GetInt64());
    }

    [Fact]
    public async Task ServeAsync_StoreFailing_StatusNamesTheLastErrorAndNotShared()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var store = new ControllableStore { Mode = StoreMode.Failing };
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, services: s => s.AddSingleton<AoaiProxy.State.IStateStore>(store));
        using (await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("""{"messages":[]}"""))) { }

        using var json = JsonDocument.Parse(await proxy.Client.GetStringAsync("proxy/status"));

        var status = json.RootElement.GetProperty("store");
        Assert.False(status.GetProperty("shared").GetBoolean());
        Assert.Contains("StateStoreException", status.GetProperty("lastError").GetString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("proxy/status")]
    [InlineData("proxy/status/")]
    public async Task ServeAsync_ClientKeysConfigured_401WithoutAndOkWithTheKey(string path)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s.Keys());

        using var refused = await proxy.Client.GetAsync(path);
        using var wrong = await SendAsync(proxy, path, "not-a-key");
        using var allowed = await SendAsync(proxy, path, AuthSettings.ClientKey);
        using var byApiKey = await SendAsync(proxy, path, AuthSettings.SecondClientKey, asApiKey: true);

        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("Bearer", refused.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        Assert.Contains("\"error\"", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(HttpStatusCode.OK, byApiKey.StatusCode);
    }

    [Fact]
    public async Task ServeAsync_PageWithClientKeys_ServedWithoutCredentialsAndSelfContained()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s.Keys());

        using var response = await proxy.Client.GetAsync("proxy");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(ProxyStatusEndpoint.PageContentSecurityPolicy, response.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Contains("sessionStorage", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script src", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<link", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("https://", html, StringComparison.Ordinal);
        Assert.DoesNotContain("localStorage", html, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("POST", "proxy/status", HttpStatusCode.MethodNotAllowed)]
    [InlineData("GET", "proxy/other", HttpStatusCode.NotFound)]
    [InlineData("GET", "proxy/status/more", HttpStatusCode.NotFound)]
    public async Task ServeAsync_OtherMethodOrPath_AzureShapedError(string method, string path, HttpStatusCode expected)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        using var response = await proxy.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        Assert.Equal(expected, response.StatusCode);
        Assert.NotEmpty((await AzureError.OfAsync(response)).Code);
    }

    [Theory]
    [InlineData("127.0.0.1", null, true)]
    [InlineData("::1", null, true)]
    [InlineData("127.0.0.1", "127.0.0.1", true)]
    [InlineData("10.1.2.3", null, false)]
    [InlineData("127.0.0.1", "203.0.113.9", false)]
    [InlineData("127.0.0.1", "127.0.0.1, 203.0.113.9", false)]
    [InlineData("127.0.0.1", "garbage", false)]
    public async Task AdmitAsync_NoCallerAuthentication_LoopbackOnly(string remote, string? forwardedFor, bool admitted)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var endpoint = proxy.Services.GetRequiredService<IProxyStatusEndpoint>();
        var context = new DefaultHttpContext { RequestServices = proxy.Services };
        context.Connection.RemoteIpAddress = IPAddress.Parse(remote);
        context.Request.Method = "GET";
        context.Request.Path = "/proxy/status";
        if (forwardedFor is not null)
        {
            context.Request.Headers["X-Forwarded-For"] = forwardedFor;
        }

        context.Response.Body = new MemoryStream();

        await endpoint.ServeAsync(context);

        Assert.Equal(admitted ? StatusCodes.Status200OK : StatusCodes.Status403Forbidden, context.Response.StatusCode);
        if (!admitted)
        {
            context.Response.Body.Position = 0;
            var body = await new StreamReader(context.Response.Body).ReadToEndAsync();
            Assert.Contains("loopback", body, StringComparison.Ordinal);
        }
    }

    private static Task<HttpResponseMessage> SendAsync(ProxyTestHost proxy, string path, string key, bool asApiKey = false)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (asApiKey)
        {
            request.Headers.Add("api-key", key);
        }
        else
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }

        return proxy.Client.SendAsync(request);
    }
}
