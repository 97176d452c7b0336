using System.Net;
using System.Text;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>What of a backend's answer reaches the caller, over real HTTP.</summary>
public sealed class RelayEndToEndTests
{
    /// <summary>A backend's cookies belong to its own domain: the caller never gets them set on the proxy's.</summary>
    [Fact]
    public async Task ProxyAsync_BackendSetsCookies_NoneReachTheCaller()
    {
        var answer = Encoding.ASCII.GetBytes(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n" +
            "Set-Cookie: ARRAffinity=0123abcd; Path=/; HttpOnly; Domain=a.openai.azure.com\r\n" +
            "set-cookie: session=s3cr3t; Secure\r\napim-request-id: r-1\r\nConnection: close\r\n\r\n{}");
        await using var backend = new RawBackend(answer);
        await using var proxy = await ProxyTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Proxy:Backends:0:Name"] = "raw",
            ["Proxy:Backends:0:Endpoint"] = backend.Endpoint.ToString(),
        });

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.False(response.Headers.Contains("Set-Cookie"));
        Assert.Equal("r-1", response.Headers.GetValues("apim-request-id").Single());
    }

    /// <summary>
    /// 101 Switching Protocols to a request that asked for no upgrade is not an answer: never relayed as a final one
    /// (with the backend's raw bytes after it), but a 502 naming the backend.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_BackendSwitchesProtocols_502NamingItNotItsBytes()
    {
        var answer = Encoding.ASCII.GetBytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nRAW-BYTES-OF-ANOTHER-PROTOCOL");
        await using var backend = new RawBackend(answer);
        await using var proxy = await ProxyTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Proxy:Backends:0:Name"] = "raw",
            ["Proxy:Backends:0:Endpoint"] = backend.Endpoint.ToString(),
        });

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var (code, message) = await AzureError.OfAsync(response);
        Assert.Equal("BackendsUnavailable", code);
        Assert.Contains("raw: 101, not a final answer", message, StringComparison.Ordinal);
        Assert.DoesNotContain("RAW-BYTES", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ProxyAsync_FirstBackendSwitchesProtocols_NextServes()
    {
        await using var raw = new RawBackend(Encoding.ASCII.GetBytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"));
        await using var backends = await FakeBackends.StartAsync("b");
        await using var proxy = await ProxyTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Proxy:Backends:0:Name"] = "raw",
            ["Proxy:Backends:0:Endpoint"] = raw.Endpoint.ToString(),
            ["Proxy:Backends:0:Priority"] = "1",
            ["Proxy:Backends:1:Name"] = "b",
            ["Proxy:Backends:1:Endpoint"] = backends[0].Endpoint.ToString(),
            ["Proxy:Backends:1:Priority"] = "2",
        });

        using var response = await proxy.Client.PostAsync(ProxyTestHost.ChatPath, JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("b", response.Headers.GetValues("x-proxy-backend").Single());
        Assert.Equal("2", response.Headers.GetValues("x-proxy-attempts").Single());
    }

    /// <summary>
    /// A backend's header value with a non-ASCII byte (a Content-Disposition file name, say) passes HttpClient but is one that
    /// Kestrel refuses to send: the caller still gets the answer, not an empty 500.
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
    /// A backend's response headers are copied as received, not enumerated through HttpHeaders' parsers and re-serialized
    /// (which reorders Cache-Control); Alt-Svc, which advertises the backend's own alternative endpoints, is dropped, as YARP
    /// drops it, rather than relayed as if the proxy's origin offered them.
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
}
