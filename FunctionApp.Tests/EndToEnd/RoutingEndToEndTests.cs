using System.Net;
using System.Text.Json;
using AoaiProxy.Tests.TestSupport;
using AoaiProxy.State;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>Deployments per backend (aliases rewritten in both API shapes) and the replay rule for stateful requests.</summary>
public sealed class RoutingEndToEndTests
{
    [Fact]
    public async Task DeploymentPath_AliasServedByOneBackend_SentThereOnlyWithItsOwnName()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:Backends:0:Deployments"] = "chat=gpt-4o-a, embed";
            s["Proxy:Backends:1:Deployments"] = "embed=text-embedding-b";
        });

        for (var i = 0; i < 4; i++)
        {
            using var response = await proxy.Client.PostAsync("openai/deployments/chat/chat/completions?api-version=2024-10-21", JsonBody.Of("{}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(4, backends[0].RequestCount);
        Assert.Equal(0, backends[1].RequestCount);
        Assert.All(backends[0].Requests, r => Assert.Equal("/openai/deployments/gpt-4o-a/chat/completions?api-version=2024-10-21", r.PathAndQuery));

        // Served by both, each under its own name.
        for (var i = 0; i < 2; i++)
        {
            using var response = await proxy.Client.PostAsync("openai/deployments/embed/embeddings?api-version=2024-10-21", JsonBody.Of("{}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Contains(backends[0].Requests, r => r.PathAndQuery == "/openai/deployments/embed/embeddings?api-version=2024-10-21");
        Assert.Contains(backends[1].Requests, r => r.PathAndQuery == "/openai/deployments/text-embedding-b/embeddings?api-version=2024-10-21");
    }

    [Fact]
    public async Task V1BodyModel_Alias_RewrittenInTheBodyForTheServingBackend()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:Backends:0:Deployments"] = "gpt-4o-mini";
            s["Proxy:Backends:1:Deployments"] = "chat=gpt-4o-mini-b";
        });
        var chat = SdkClient.For(proxy).GetChatClient("chat");

        var answer = await chat.CompleteChatAsync("Say hello");

        Assert.Equal("Hello from b", answer.Value.Content[0].Text);
        Assert.Equal(0, backends[0].RequestCount);
        using var sent = JsonDocument.Parse(backends[1].Requests.Single().Body);
        Assert.Equal("gpt-4o-mini-b", sent.RootElement.GetProperty("model").GetString());
        Assert.Equal("Say hello", sent.RootElement.GetProperty("messages")[0].GetProperty("content").GetString());
    }

    [Theory]
    [InlineData("openai/deployments/nope/chat/completions?api-version=2024-10-21", "{}")]
    [InlineData("openai/v1/chat/completions", "{\"model\":\"nope\",\"messages\":[]}")]
    public async Task Deployment_ServedByNoBackend_404FromTheProxyWithoutCallingAny(string path, string body)
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:Backends:0:Deployments"] = "gpt-4o";
            s["Proxy:Backends:1:Deployments"] = "gpt-4o,embed";
        });

        using var response = await proxy.Client.PostAsync(path, JsonBody.Of(body));

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("DeploymentNotFound", (await AzureError.OfAsync(response)).Code);
        Assert.Equal(0, backends[0].RequestCount + backends[1].RequestCount);
    }

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(504)]
    public async Task StatefulCreate_BackendMayHaveRunIt_502NamingItAndNotReplayed(int status)
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        foreach (var backend in backends.All)
        {
            backend.Handler = FakeResponses.Json(status, new { error = new { code = "InternalServerError", message = "boom" } });
        }

        using var response = await proxy.Client.PostAsync("openai/v1/batches", JsonBody.Of("{\"input_file_id\":\"file-x\"}"));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(1, backends[0].RequestCount + backends[1].RequestCount);
        var named = backends.All.Single(b => b.RequestCount == 1).Name;
        var message = (await AzureError.OfAsync(response)).Message;
        Assert.Contains($"Backend '{named}'", message, StringComparison.Ordinal);
        Assert.Contains("not replayed", message, StringComparison.Ordinal);
        Assert.Single(proxy.Logs.Named("StatefulNotReplayed"));
    }

    /// <summary>
    /// A backend that read the whole create request and then dropped the connection may have created the batch;
    /// it is not replayed on the next backend.
    /// </summary>
    [Fact]
    public async Task StatefulCreate_ConnectionDroppedAfterBodyRead_502AndNotReplayed()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        foreach (var backend in backends.All)
        {
            backend.Handler = (context, _) =>
            {
                context.Abort();
                return Task.CompletedTask;
            };
        }

        using var response = await proxy.Client.PostAsync("openai/v1/batches", JsonBody.Of("{\"input_file_id\":\"file-x\"}"));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(1, backends[0].RequestCount + backends[1].RequestCount);
    }

    [Fact]
    public async Task StatefulCreate_BackendRefused503_FailsOverToTheNext()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Json(503, new { error = new { code = "ServiceUnavailable", message = "busy" } });
        backends[1].Handler = FakeResponses.Json(503, new { error = new { code = "ServiceUnavailable", message = "busy" } });

        using var response = await proxy.Client.PostAsync("openai/v1/batches", JsonBody.Of("{}"));

        // Neither ran it: both were tried, and the caller gets the exhausted answer.
        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(1, backends[0].RequestCount);
        Assert.Equal(1, backends[1].RequestCount);
    }

    [Fact]
    public async Task StatefulCreate_ReplayConfigured_ServedByTheNext()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s => s["Proxy:Replay:StatefulRequests"] = "true");
        var failing = FakeResponses.Json(500, new { error = new { code = "InternalServerError", message = "boom" } });
        backends[0].Handler = failing;
        backends[1].Handler = failing;

        using var response = await proxy.Client.PostAsync("openai/v1/batches", JsonBody.Of("{}"));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Equal(2, backends[0].RequestCount + backends[1].RequestCount);
    }

    [Fact]
    public async Task Inference_Backend500_FailsOver()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        backends[0].Handler = FakeResponses.Json(500, new { error = new { code = "InternalServerError", message = "boom" } });

        for (var i = 0; i < 2; i++)
        {
            using var response = await proxy.Client.PostAsync("openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", JsonBody.Of("{}"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("b", response.Headers.GetValues("x-proxy-backend").Single());
        }
    }

    /// <summary>
    /// A v1 request whose body is over <see cref="AoaiProxy.Forwarding.RequestBody.MemoryThreshold"/> (spilled to a file; a
    /// vision request with base64 images, say) is read for its "model" as a small one is, so it honours its deployment's
    /// cooldown and is not sent to the backend that throttled that deployment.
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
    /// A 429 on a v1 request whose body is over the memory threshold cools only the deployment its "model" names, not every
    /// deployment of the backend ("a/*").
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
    /// A v1 "model" of any length is bounded before it becomes a cooldown key (shared through the table, where a string
    /// property over 64 KiB is refused), a field of every attempt's log line or part of the answer.
    /// </summary>
    [Fact]
    public async Task ProxyAsync_V1ModelOfAMegabyte_NeitherKeyedNorLoggedNorEchoedVerbatim()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        // Two failures in two attempts cool the deployment (the failure rate's smallest sample): the model becomes a key.
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["Proxy:FailureRate:MinimumRequests"] = "2";
            s["Proxy:FailureRate:Ratio"] = "1";
        });
        backends[0].Handler = FakeResponses.Json(503, new { error = new { code = "Busy", message = "busy" } });
        var model = new string('m', 1_000_000);

        for (var i = 0; i < 2; i++)
        {
            using var response = await proxy.Client.PostAsync("openai/v1/chat/completions", JsonBody.Of("{\"model\":\"" + model + "\"}"));

            Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
            Assert.True((await response.Content.ReadAsStringAsync()).Length < 10_000);
        }

        var state = proxy.Services.GetRequiredService<SharedState>();
        Assert.NotEmpty(state.Cooldowns);
        Assert.All(state.Cooldowns.Keys, k => Assert.True(k.Length < 1000, $"cooldown key of {k.Length} characters"));
        Assert.Equal(2, proxy.Logs.Named("AttemptCompleted").Count());
        Assert.All(proxy.Logs.Entries, e => Assert.True(e.Message.Length < 10_000, $"log line of {e.Message.Length} characters"));
    }

    private static string LargeV1Body(string model) =>
        "{\"model\":\"" + model + "\",\"messages\":[{\"role\":\"user\",\"content\":\"" +
        new string('x', AoaiProxy.Forwarding.RequestBody.MemoryThreshold + 1024) + "\"}]}";
}
