using System.Text;
using System.Text.Json;
using AoaiProxy.FunctionApp;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.FunctionApp;

/// <summary><see cref="ProxyStatusFunction"/> activated from the worker's own services, driven with a real HttpContext.</summary>
public sealed class ProxyStatusFunctionTests
{
    [Fact]
    public async Task RunAsync_StatusFromLoopbackWithoutCallerAuthentication_AnswersTheEnginesStatus()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        using var worker = FunctionWorker.Build(ProxyTestHost.SettingsFor(backends.All));
        using var scope = worker.Services.CreateScope();
        var (context, body) = Request(scope, "/proxy/status", System.Net.IPAddress.Loopback);

        await ActivatorUtilities.CreateInstance<ProxyStatusFunction>(scope.ServiceProvider).RunAsync(context.Request);

        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        using var json = JsonDocument.Parse(body.ToArray());
        Assert.Equal("a", json.RootElement.GetProperty("backends")[0].GetProperty("name").GetString());
    }

    [Fact]
    public async Task RunAsync_ForwardedFromARemoteCallerWithoutCallerAuthentication_Refused()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        using var worker = FunctionWorker.Build(ProxyTestHost.SettingsFor(backends.All));
        using var scope = worker.Services.CreateScope();
        // The Functions host relays from loopback; the forwarding header names the real caller.
        var (context, body) = Request(scope, "/proxy/status", System.Net.IPAddress.Loopback);
        context.Request.Headers["X-Forwarded-For"] = "203.0.113.9";

        await ActivatorUtilities.CreateInstance<ProxyStatusFunction>(scope.ServiceProvider).RunAsync(context.Request);

        Assert.Equal(StatusCodes.Status403Forbidden, context.Response.StatusCode);
        Assert.Contains("loopback", Encoding.UTF8.GetString(body.ToArray()), StringComparison.Ordinal);
    }

    [Fact]
    public async Task RunAsync_Page_AnswersTheHtmlPage()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var settings = ProxyTestHost.SettingsFor(backends.All);
        settings["Proxy:Auth:ClientKeys:0"] = "status-page-key-0123456789abcdef0123";
        using var worker = FunctionWorker.Build(settings);
        using var scope = worker.Services.CreateScope();
        var (context, body) = Request(scope, "/proxy", System.Net.IPAddress.Parse("203.0.113.9"));

        await ActivatorUtilities.CreateInstance<ProxyStatusFunction>(scope.ServiceProvider).RunAsync(context.Request);

        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        Assert.StartsWith("text/html", context.Response.ContentType, StringComparison.Ordinal);
        Assert.Contains("<!DOCTYPE html>", Encoding.UTF8.GetString(body.ToArray()), StringComparison.Ordinal);
    }

    private static (DefaultHttpContext Context, MemoryStream Body) Request(IServiceScope scope, string path, System.Net.IPAddress remote)
    {
        var body = new MemoryStream();
        var context = new DefaultHttpContext { RequestServices = scope.ServiceProvider };
        context.Request.Method = HttpMethods.Get;
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("localhost");
        context.Request.Path = path;
        context.Connection.RemoteIpAddress = remote;
        context.Response.Body = body;
        return (context, body);
    }

    [Fact]
    public void RunAsync_Signature_ReturnsNoResultForTheWorkerToRun()
    {
        Assert.Equal(typeof(Task), typeof(ProxyStatusFunction).GetMethod(nameof(ProxyStatusFunction.RunAsync))!.ReturnType);
    }
}
