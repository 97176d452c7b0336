using System.IO.Pipelines;
using System.Text;
using AoaiProxy.FunctionApp;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
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
    public async Task RunAsync_ChatCompletion_ProxiesToTheBackendAndRelaysItsAnswer()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        using var worker = FunctionWorker.Build(ProxyTestHost.SettingsFor(backends.All));
        using var scope = worker.Services.CreateScope();
        var body = new MemoryStream();
        var context = Request(scope, """{"messages":[{"role":"user","content":"Hi"}]}""", body);

        await Activate(scope).RunAsync(context.Request);

        Assert.Equal(StatusCodes.Status200OK, context.Response.StatusCode);
        Assert.Equal("a", context.Response.Headers["x-proxy-backend"].ToString());
        Assert.Contains("Hello from a", Encoding.UTF8.GetString(body.ToArray()), StringComparison.Ordinal);
        var received = Assert.Single(backends[0].Requests);
        Assert.Equal("POST", received.Method);
        Assert.Equal(ChatPath + ApiVersion, received.PathAndQuery);
        Assert.Equal("""{"messages":[{"role":"user","content":"Hi"}]}""", Encoding.UTF8.GetString(received.Body));
    }

    [Fact]
    public async Task RunAsync_BackendAnswers404_RelaysStatusAndBodyAsTheBackendSentThem()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        backends[0].Handler = FakeResponses.Json(404, new { error = new { code = "DeploymentNotFound", message = "No such deployment." } });
        using var worker = FunctionWorker.Build(ProxyTestHost.SettingsFor(backends.All));
        using var scope = worker.Services.CreateScope();
        var body = new MemoryStream();
        var context = Request(scope, "{}", body);

        await Activate(scope).RunAsync(context.Request);

        // Not 200: anything after the engine that set a status of its own would show here.
        Assert.Equal(StatusCodes.Status404NotFound, context.Response.StatusCode);
        Assert.Contains("DeploymentNotFound", Encoding.UTF8.GetString(body.ToArray()), StringComparison.Ordinal);
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

        await run.WaitAsync(Patience);
        Assert.Equal("text/event-stream", context.Response.ContentType);
        await pipe.Writer.CompleteAsync();
        Assert.Null(await reader.ReadLineAsync().WaitAsync(Patience));
    }

    [Fact]
    public void RunAsync_Signature_ReturnsNoResultForTheWorkerToRun()
    {
        // A plain Task: no IActionResult for the worker to execute and serialize after the engine wrote the response, and
        // no $return binding whose value the host would receive (FunctionAppProjectTests checks the published metadata).
        Assert.Equal(typeof(Task), typeof(ProxyFunction).GetMethod(nameof(ProxyFunction.RunAsync))!.ReturnType);
    }

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

    private static ProxyFunction Activate(IServiceScope scope) =>
        // As the worker's default IFunctionActivator does, from the invocation's scope.
        ActivatorUtilities.CreateInstance<ProxyFunction>(scope.ServiceProvider);

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
}
