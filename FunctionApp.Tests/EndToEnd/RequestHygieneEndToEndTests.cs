using System.Net;
using System.Net.Http.Headers;
using System.Text;
using AoaiProxy.Tests.TestSupport;
using Azure.Core;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>
/// Bad input over real sockets, mostly with caller authentication on (proxy identity and client keys): none of it reaches
/// a backend, except malformed JSON, which is not the proxy's to judge and passes through byte for byte, and header values
/// Kestrel accepts, which are forwarded as received.
/// </summary>
public sealed class RequestHygieneEndToEndTests
{
    private static readonly string ApiKeyLine = $"api-key: {AuthSettings.ClientKey}\r\n";

    [Theory]
    [InlineData("x-evil: a\rInjected: yes\r\n")]
    [InlineData("x-evil: a\r\n folded: yes\r\n")]
    [InlineData("x-evil: a\0b\r\n")]
    [InlineData("x evil: a\r\n")]
    public async Task ProxyAsync_HeaderWithCrLfOrControlCharacters_400FromKestrelAndNoBackend(string header)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await StartAsync(backends);

        var (status, _) = await RawHttp.SendAsync(proxy.BaseAddress, "POST", "/" + ProxyTestHost.ChatPath, ApiKeyLine + header);

        Assert.Equal(400, status);
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_BareLfInHeader_EndsTheLineSoOnlyCleanValuesAreForwarded()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await StartAsync(backends);

        // RFC 9112 §2.2 lets a server read a bare LF as a line ending; Kestrel does: two headers, neither carries a newline.
        var (status, _) = await RawHttp.SendAsync(proxy.BaseAddress, "POST", "/" + ProxyTestHost.ChatPath, ApiKeyLine + "x-evil: a\nInjected: yes\r\n");

        Assert.Equal(200, status);
        var received = backends[0].Requests.Single().Headers;
        Assert.Equal("a", received["x-evil"]);
        Assert.Equal("yes", received["Injected"]);
        Assert.DoesNotContain(received.Values, v => v.Contains('\r', StringComparison.Ordinal) || v.Contains('\n', StringComparison.Ordinal));
    }

    [Fact]
    public async Task ProxyAsync_CleanRawRequest_Served()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await StartAsync(backends);

        var (status, _) = await RawHttp.SendAsync(proxy.BaseAddress, "POST", "/" + ProxyTestHost.ChatPath, ApiKeyLine + "x-fine: yes\r\n");

        Assert.Equal(200, status);
        Assert.Equal("yes", backends[0].Requests.Single().Headers["x-fine"]);
    }

    [Fact]
    public async Task ProxyAsync_HeadersOverKestrelLimit_431AndNoBackend()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await StartAsync(backends);
        using var request = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = JsonBody.Of("{}") };
        request.Headers.Add("api-key", AuthSettings.ClientKey);
        request.Headers.Add("x-big", new string('a', 40 * 1024));

        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Fact]
    public async Task ProxyAsync_BodyOverLimit_401BeforeTheBodyWithoutCredentials413WithThem()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await StartAsync(backends, s => s["Proxy:MaxRequestBodyBytes"] = "1000");

        using var anonymous = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, new ByteArrayContent(new byte[2000]));
        using var authenticated = new HttpRequestMessage(HttpMethod.Post, ProxyTestHost.ChatPath) { Content = new ByteArrayContent(new byte[2000]) };
        authenticated.Headers.Add("api-key", AuthSettings.ClientKey);
        using var tooLarge = await proxy.Client.SendAsync(authenticated);

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
        Assert.Equal("RequestBodyTooLarge", (await AzureError.OfAsync(tooLarge)).Code);
        Assert.Equal(0, backends[0].RequestCount);
    }

    [Theory]
    [InlineData(true, HttpStatusCode.MethodNotAllowed)]
    [InlineData(false, HttpStatusCode.Unauthorized)]
    public async Task ProxyAsync_UnknownMethod_405OnlyOnceAuthenticated(bool withKey, HttpStatusCode expected)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await StartAsync(backends);
        using var request = new HttpRequestMessage(new HttpMethod("BREW"), ProxyTestHost.ChatPath);
        if (withKey)
        {
            request.Headers.Add("api-key", AuthSettings.ClientKey);
        }

        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal(0, backends[0].RequestCount);
    }

    public static TheoryData<string, byte[]> MalformedBodies() => new()
    {
        { ProxyTestHost.ChatPath, """{"messages":[{"role":"user","content":"hi"}"""u8.ToArray() },
        { "openai/v1/chat/completions", """{"model":"gpt-4o","messages":[,,]"""u8.ToArray() },
        { "openai/v1/chat/completions", [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x00, 0x7D] },
        { "openai/v1/chat/completions", "not json at all"u8.ToArray() },
    };

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task ProxyAsync_MalformedJsonBody_BackendReceivesTheExactBytes(string path, byte[] body)
    {
        await using var backends = await FakeBackends.StartAsync("a");
        await using var proxy = await StartAsync(backends);
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
        request.Headers.Add("api-key", AuthSettings.ClientKey);

        using var response = await proxy.Client.SendAsync(request);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(body, backends[0].Requests.Single().Body);
    }

    /// <summary>
    /// A caller's header value that Kestrel accepts but that is not ASCII (UTF-8 "é") is forwarded as received and cools no
    /// backend. SocketsHttpHandler refuses such values by default ("Request headers must contain only ASCII characters"); taken
    /// for a transport failure of every backend tried, one anonymous request (pass-through needs no caller authentication)
    /// would cool them all backend-wide and answer 502 to everybody for the failure cooldown.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_CallerHeaderWithNonAsciiValue_ForwardedAndCoolsNoBackend()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var request = Encoding.ASCII.GetBytes($"POST /{ProxyTestHost.ChatPath} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-note: caf")
            .Concat(new byte[] { 0xC3, 0xA9 })
            .Concat(Encoding.ASCII.GetBytes("\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"))
            .ToArray();

        var odd = await RawBytes.SendAsync(proxy.BaseAddress, request);

        // Nobody else may pay for one caller's header.
        for (var i = 0; i < 2; i++)
        {
            using var next = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));
            Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        }

        Assert.DoesNotContain(proxy.Logs.Named("CoolingDown"), e => e.Message.Contains("cooling", StringComparison.Ordinal));
        Assert.StartsWith("HTTP/1.1 200", odd, StringComparison.Ordinal);
        Assert.Contains(backends.All.SelectMany(b => b.Requests), r => r.Headers.TryGetValue("x-note", out var v) && v == "café");
    }

    private static Task<ProxyTestHost> StartAsync(FakeBackends backends, Action<Dictionary<string, string?>>? more = null) =>
        ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:Auth:Backend"] = "Identity";
            s.Keys();
            more?.Invoke(s);
        }, services => services.AddSingleton<TokenCredential>(new FakeTokenCredential()));
}
