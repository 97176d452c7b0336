using System.IO.Pipelines;
using System.Text;
using AoaiProxy.FunctionApp;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.FunctionApp;

/// <summary>
/// <see cref="ProxyFunction"/> activated from the worker's own services (<see cref="FunctionWorker"/>) and driven with a
/// real <see cref="HttpContext"/>, as the worker's ASP.NET Core integration hands it over, against fake backends on
/// loopback.
/// </summary>
public sealed class ProxyFunctionTests
{
    private const string ChatPath = "/openai/deployments/gpt-4o/chat/completions";
    private const string ApiVersion = "?api-version=2024-10-21";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task RunAsync_ChatCompletion_ProxiesToTheBackendAndItsResultWritesNothingMore()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        using var worker = FunctionWorker.Build(ProxyTestHost.SettingsFor(backends.All));
        using var scope = worker.Services.CreateScope();
        var body = new MemoryStream();
        var context = Request(scope, """{"messages":[{"role":"user","content":"Hi"}]}""", body);

        var result = await Activate(scope).RunAsync(context.Request);

        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        Assert.Equal("a", context.Response.Headers["x-proxy-backend"].ToString());
        Assert.Contains("Hello from a", Encoding.UTF8.GetString(body.ToArray()), StringComparison.Ordinal);
        var received = Assert.Single(backends[0].Requests);
        Assert.Equal("POST", received.Method);
        Assert.Equal(ChatPath + ApiVersion, received.PathAndQuery);
        Assert.Equal("""{"messages":[{"role":"user","content":"Hi"}]}""", Encoding.UTF8.GetString(received.Body));
        await AssertWritesNothingMoreAsync(result, context, body);
    }

    [Fact]
    public async Task RunAsync_BackendAnswers404_ItsResultLeavesStatusHeadersAndBodyAsRelayed()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = FakeResponses.Json(404, new { error = new { code = "DeploymentNotFound", message = "No such deployment." } });
        using var worker = FunctionWorker.Build(ProxyTestHost.SettingsFor(backends.All));
        using var scope = worker.Services.CreateScope();
        var body = new MemoryStream();
        var context = Request(scope, "{}", body);

        var result = await Activate(scope).RunAsync(context.Request);

        // Not 200: a result that set a status of its own (OkResult, StatusCodeResult) would show here.
        Assert.Equal(StatusCodes.Status404NotFound, context.Response.StatusCode);
        Assert.Contains("DeploymentNotFound", Encoding.UTF8.GetString(body.ToArray()), StringComparison.Ordinal);
        await AssertWritesNothingMoreAsync(result, context, body);
    }

    [Fact]
    public async Task RunAsync_StreamedEvents_RelaysEachChunkBeforeTheBackendSendsTheNext()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var chunks = new[] { "one", "two", "three", "[DONE]" };
        var gates = chunks.Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToArray();
        backends[0].Handler = FakeResponses.Sse(chunks, i => gates[i].Task.WaitAsync(Patience));
        using var worker = FunctionWorker.Build(ProxyTestHost.SettingsFor(backends.All));
        using var scope = worker.Services.CreateScope();
        var pipe = new Pipe();
        var context = Request(scope, """{"stream":true}""", pipe.Writer.AsStream());
        using var reader = new StreamReader(pipe.Reader.AsStream());

        var run = Activate(scope).RunAsync(context.Request);
        for (var i = 0; i < chunks.Length; i++)
        {
            // The backend still holds chunk i+1 back: line i can only be here if chunk i was relayed, not buffered.
            Assert.Equal("data: " + chunks[i], await reader.ReadLineAsync().WaitAsync(Patience));
            Assert.Equal("", await reader.ReadLineAsync().WaitAsync(Patience));
            gates[i].TrySetResult();
        }

        var result = await run.WaitAsync(Patience);
        Assert.Equal("text/event-stream", context.Response.ContentType);
        await ExecuteAsTheWorkerDoesAsync(result, context);
        await pipe.Writer.CompleteAsync();
        Assert.Null(await reader.ReadLineAsync().WaitAsync(Patience));
    }

    private static ProxyFunction Activate(IServiceScope scope) =>
        // As the worker's default IFunctionActivator does, from the invocation's scope.
        ActivatorUtilities.CreateInstance<ProxyFunction>(scope.ServiceProvider);

    [Fact]
    public async Task RunAsync_AnyRequest_SetsTheEnginesBodyLimitOnTheWorkersRequest()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var settings = ProxyTestHost.SettingsFor(backends.All);
        settings["Proxy:MaxRequestBodyBytes"] = "50000000";
        using var worker = FunctionWorker.Build(settings);
        using var scope = worker.Services.CreateScope();
        var context = Request(scope, "{}", new MemoryStream());
        var limit = new BodySizeLimit();
        context.Features.Set<IHttpMaxRequestBodySizeFeature>(limit);

        await Activate(scope).RunAsync(context.Request);

        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        Assert.Equal(50_000_000 + AoaiProxy.Configuration.ProxyOptions.BodyDrainAllowanceBytes, limit.MaxRequestBodySize);
    }

    private static DefaultHttpContext Request(IServiceScope scope, string json, Stream responseBody)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var context = new DefaultHttpContext { RequestServices = scope.ServiceProvider };
        context.Request.Method = HttpMethods.Post;
        context.Request.Scheme = "http";
        context.Request.Host = new HostString("localhost");
        context.Request.Path = ChatPath;
        context.Request.QueryString = new QueryString(ApiVersion);
        context.Request.ContentType = "application/json";
        context.Request.ContentLength = bytes.Length;
        context.Request.Body = new MemoryStream(bytes);
        context.Response.Body = responseBody;
        return context;
    }

    /// <summary>The server's per-request body limit, as Kestrel exposes it before the body is read.</summary>
    private sealed class BodySizeLimit : IHttpMaxRequestBodySizeFeature
    {
        public bool IsReadOnly => false;

        public long? MaxRequestBodySize { get; set; } = 30_000_000;
    }

    /// <summary>
    /// Runs the returned result the way the worker runs it after the function (worker
    /// extensions/Worker.Extensions.Http.AspNetCore/src/FunctionsMiddleware/FunctionsHttpProxyingMiddleware.cs).
    /// </summary>
    private static Task ExecuteAsTheWorkerDoesAsync(IActionResult result, HttpContext context) =>
        result.ExecuteResultAsync(new ActionContext(context, context.GetRouteData(), new ActionDescriptor()));

    private static async Task AssertWritesNothingMoreAsync(IActionResult result, HttpContext context, MemoryStream body)
    {
        var status = context.Response.StatusCode;
        var headers = context.Response.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var bytes = body.ToArray();

        await ExecuteAsTheWorkerDoesAsync(result, context);

        Assert.Equal(status, context.Response.StatusCode);
        Assert.Equal(headers, context.Response.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
        Assert.Equal(bytes, body.ToArray());
    }
}
