#pragma warning disable OPENAI001 // the Responses and Batch clients are marked for evaluation in the SDK
using System.ClientModel;
using System.ClientModel.Primitives;
using System.Net;
using AoaiProxy.Affinity;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using OpenAI.Files;
using OpenAI.Responses;

namespace AoaiProxy.Tests.EndToEnd;

/// <summary>
/// Objects stay with the backend that holds them: three fake resources that each know only their own objects, two
/// proxy instances on one Azurite, the OpenAI .NET SDK as the caller.
/// </summary>
[Collection(AzuriteCollectionDefinition.Name)]
public sealed class ObjectAffinityEndToEndTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Files_UploadedThroughOneInstance_FoundThroughBothEveryTimeAndForgottenOnDelete()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b", "c");
        var objects = backends.All.Select(FakeObjectStore.Serve).ToArray();
        var table = azurite.NewTableName();
        await using var one = await StartAsync(backends, table);
        await using var two = await StartAsync(backends, table);

        var uploaded = await SdkClient.For(one).GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString("{}\n"), "input.jsonl", FileUploadPurpose.Batch);
        var id = uploaded.Value.Id;
        var owner = backends.All.Single(b => id.Contains(b.Name, StringComparison.Ordinal));
        ClearAll(backends);

        for (var i = 0; i < 6; i++)
        {
            var found = await SdkClient.For(i % 2 == 0 ? two : one).GetOpenAIFileClient().GetFileAsync(id);
            Assert.Equal(id, found.Value.Id);
        }

        // Only the owner was asked: no rotation, no 404 from the others.
        Assert.Equal(6, owner.RequestCount);
        Assert.All(backends.All.Where(b => b != owner), b => Assert.Equal(0, b.RequestCount));

        var deleted = await SdkClient.For(two).GetOpenAIFileClient().DeleteFileAsync(id);
        Assert.True(deleted.Value.Deleted);

        // Forgotten: the next request for it probes every backend and relays the last one's 404.
        ClearAll(backends);
        var error = await Assert.ThrowsAsync<ClientResultException>(() => SdkClient.For(two).GetOpenAIFileClient().GetFileAsync(id));
        Assert.Equal(404, error.Status);
        Assert.All(backends.All, b => Assert.Equal(1, b.RequestCount));
    }

    [Fact]
    public async Task Batch_InputFileOnOneBackend_CreatedAndRetrievedThere()
    {
        await using var backends = await FakeObjectStore.StartBackendsAsync("a", "b", "c");

        var table = azurite.NewTableName();
        await using var one = await StartAsync(backends, table);
        await using var two = await StartAsync(backends, table);
        var file = await SdkClient.For(one).GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString("{}\n"), "input.jsonl", FileUploadPurpose.Batch);

        for (var i = 0; i < 3; i++)
        {
            var batches = SdkClient.For(i % 2 == 0 ? two : one).GetBatchClient();
            var operation = await batches.CreateBatchAsync(
                BinaryContent.Create(BinaryData.FromObjectAsJson(new { input_file_id = file.Value.Id, endpoint = "/chat/completions", completion_window = "24h" })),
                waitUntilCompleted: false);
            Assert.StartsWith("batch_", operation.BatchId, StringComparison.Ordinal);

            // Retrieved through the other instance: recorded by the first, found by the second.
            var again = await SdkClient.For(i % 2 == 0 ? one : two).GetBatchClient().GetBatchAsync(operation.BatchId, new RequestOptions());
            Assert.Equal(200, again.GetRawResponse().Status);
            Assert.Equal(operation.BatchId.Replace("batch_", "", StringComparison.Ordinal)[..1], file.Value.Id.Replace("file-", "", StringComparison.Ordinal)[..1]);
        }
    }

    [Fact]
    public async Task Responses_ChainedWithPreviousResponseId_EveryTurnOnTheBackendHoldingTheChain()
    {
        await using var backends = await FakeObjectStore.StartBackendsAsync("a", "b", "c");

        var table = azurite.NewTableName();
        await using var one = await StartAsync(backends, table);
        await using var two = await StartAsync(backends, table);

        string? previous = null;
        var servedBy = new HashSet<string>();
        for (var turn = 0; turn < 5; turn++)
        {
            var responses = SdkClient.For(turn % 2 == 0 ? one : two).GetResponsesClient();
            var result = await responses.CreateResponseAsync("gpt-4o", "Turn " + turn, previous);
            servedBy.Add(result.Value.GetOutputText());
            previous = result.Value.Id;
        }

        Assert.Single(servedBy);
        var fetched = await SdkClient.For(two).GetResponsesClient().GetResponseAsync(previous!);
        Assert.Equal(previous, fetched.Value.Id);
    }

    /// <summary>
    /// The record of an object the proxy saw created is in the shared store before the caller has the create answer's last
    /// byte, even when the store is far from the creating instance: a follow-up through another instance right after the
    /// create reaches the owner at its first attempt.
    /// </summary>
    [Fact]
    public async Task Responses_FollowUpThroughTheOtherInstanceRightAfterTheCreate_OwnerAtTheFirstAttempt()
    {
        await using var backends = await FakeObjectStore.StartBackendsAsync("a", "b", "c");
        await using var far = new DelayingTcpProxy(azurite.Port, TimeSpan.FromMilliseconds(40));
        var table = azurite.NewTableName();
        await using var one = await StartAsync(backends, table,
            azurite.ConnectionString.Replace($"127.0.0.1:{azurite.Port}", $"127.0.0.1:{far.Port}", StringComparison.Ordinal));
        await using var two = await StartAsync(backends, table);

        for (var turn = 0; turn < 5; turn++)
        {
            var created = await SdkClient.For(one).GetResponsesClient().CreateResponseAsync("gpt-4o", "Hello " + turn);
            ClearAll(backends);

            var next = await SdkClient.For(two).GetResponsesClient().CreateResponseAsync("gpt-4o", "And then?", created.Value.Id);

            Assert.Equal(created.Value.GetOutputText(), next.Value.GetOutputText());
            Assert.Equal(1, backends.All.Sum(b => b.RequestCount));
        }
    }

    [Fact]
    public async Task AssistantsThread_ClassicApiShape_EveryMessageOnTheThreadsBackend()
    {
        await using var backends = await FakeObjectStore.StartBackendsAsync("a", "b", "c");

        var table = azurite.NewTableName();
        await using var one = await StartAsync(backends, table);
        await using var two = await StartAsync(backends, table);
        const string Version = "?api-version=2024-05-01-preview";

        using var created = await one.Client.PostAsync("openai/threads" + Version, JsonBody.Of("{}"));
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var thread = System.Text.Json.JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString()!;
        var owner = created.Headers.GetValues("x-proxy-backend").Single();

        for (var i = 0; i < 6; i++)
        {
            using var message = await (i % 2 == 0 ? two : one).Client.PostAsync($"openai/threads/{thread}/messages{Version}", JsonBody.Of("{\"role\":\"user\",\"content\":\"hi\"}"));
            Assert.Equal(HttpStatusCode.OK, message.StatusCode);
            Assert.Equal(owner, message.Headers.GetValues("x-proxy-backend").Single());
        }

        // A run names its thread in the body too (POST threads/runs creates a thread and a run; here: thread_id).
        using var run = await two.Client.PostAsync($"openai/threads/{thread}/runs{Version}", JsonBody.Of("{\"assistant_id\":\"asst_unknown\"}"));
        Assert.Equal(owner, run.Headers.GetValues("x-proxy-backend").Single());
    }

    [Fact]
    public async Task RecordedId_NewInstanceAfterRestart_FoundInTheStore()
    {
        await using var backends = await FakeObjectStore.StartBackendsAsync("a", "b", "c");

        var table = azurite.NewTableName();
        string id;
        await using (var first = await StartAsync(backends, table))
        {
            id = (await SdkClient.For(first).GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString("{}\n"), "input.jsonl", FileUploadPurpose.Batch)).Value.Id;
        }

        ClearAll(backends);
        await using var restarted = await StartAsync(backends, table);
        await SdkClient.For(restarted).GetOpenAIFileClient().GetFileAsync(id);

        Assert.Equal(1, backends.All.Sum(b => b.RequestCount));
        Assert.Empty(restarted.Logs.Named("ObjectFound"));
    }

    [Fact]
    public async Task ResponsesStreaming_IdFromTheFirstEvent_NextTurnThroughTheOtherInstanceOnTheSameBackend()
    {
        await using var backends = await FakeObjectStore.StartBackendsAsync("a", "b", "c");

        var table = azurite.NewTableName();
        await using var one = await StartAsync(backends, table);
        await using var two = await StartAsync(backends, table);

        string? id = null;
        var stream = await SdkClient.For(one).GetResponsesClient().CreateResponseStreamingAsync("gpt-4o", "Hi", null);
        await foreach (var update in stream)
        {
            if (update is StreamingResponseCreatedUpdate created)
            {
                id = created.Response.Id;
            }
        }

        Assert.NotNull(id);
        var owner = id!["resp_".Length..][..1];
        ClearAll(backends);
        for (var i = 0; i < 3; i++)
        {
            var next = await SdkClient.For(two).GetResponsesClient().CreateResponseAsync("gpt-4o", "Again", id);
            Assert.Equal("Hello from " + owner, next.Value.GetOutputText());
        }

        // Recorded from the stream's first event: sent straight to the owner, never found by trying the others.
        Assert.All(backends.All, b => Assert.Equal(b.Name == owner ? 3 : 0, b.RequestCount));
        Assert.Empty(two.Logs.Named("ObjectFound"));
    }

    [Fact]
    public async Task OwnerCooling_RequestForItsObject_Gets429WithItsRetryAfterAndNoOtherBackend()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var objects = backends.All.Select(FakeObjectStore.Serve).ToArray();
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, ProxyTestHost.NoWaiting);
        var file = await SdkClient.For(proxy).GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString("{}\n"), "input.jsonl", FileUploadPurpose.Batch);
        var ownerIndex = objects[0].Ids.Contains(file.Value.Id) ? 0 : 1;
        backends[ownerIndex].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "30000" });
        ClearAll(backends);

        using var first = await proxy.Client.GetAsync("openai/v1/files/" + file.Value.Id);
        using var second = await proxy.Client.GetAsync("openai/v1/files/" + file.Value.Id);

        Assert.Equal(HttpStatusCode.TooManyRequests, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.InRange(second.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 28, 30);
        Assert.Contains($"Backend '{backends[ownerIndex].Name}', which holds object '{file.Value.Id}'", (await AzureError.OfAsync(second)).Message, StringComparison.Ordinal);
        Assert.Equal(1, backends[ownerIndex].RequestCount);
        Assert.Equal(0, backends[1 - ownerIndex].RequestCount);
    }

    [Fact]
    public async Task OwnerFailing_RequestForItsObject_Gets502NamingItAndNoOtherBackend()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var objects = backends.All.Select(FakeObjectStore.Serve).ToArray();
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);
        var file = await SdkClient.For(proxy).GetOpenAIFileClient().UploadFileAsync(BinaryData.FromString("{}\n"), "input.jsonl", FileUploadPurpose.Batch);
        var ownerIndex = objects[0].Ids.Contains(file.Value.Id) ? 0 : 1;
        backends[ownerIndex].Handler = FakeResponses.Json(500, new { error = new { code = "InternalServerError", message = "boom" } });
        ClearAll(backends);

        using var response = await proxy.Client.GetAsync("openai/v1/files/" + file.Value.Id);

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains($"Backend '{backends[ownerIndex].Name}', which holds object '{file.Value.Id}'", (await AzureError.OfAsync(response)).Message, StringComparison.Ordinal);
        Assert.Equal(0, backends[1 - ownerIndex].RequestCount);
    }

    [Fact]
    public async Task UnknownId_CreatedBeforeTheProxy_FoundByTryingInTurnThenSentStraightThere()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b", "c");
        var objects = backends.All.Select(FakeObjectStore.Serve).ToArray();
        objects[2].Seed("file-older", "files");
        await using var proxy = await ProxyTestHost.StartAsync(backends.All);

        var found = await SdkClient.For(proxy).GetOpenAIFileClient().GetFileAsync("file-older");
        Assert.Equal("file-older", found.Value.Id);
        Assert.Equal(1, backends[2].RequestCount);
        ClearAll(backends);

        for (var i = 0; i < 3; i++)
        {
            await SdkClient.For(proxy).GetOpenAIFileClient().GetFileAsync("file-older");
        }

        Assert.Equal(3, backends[2].RequestCount);
        Assert.Equal(0, backends[0].RequestCount + backends[1].RequestCount);
        Assert.Single(proxy.Logs.Named("ObjectFound"));
    }

    [Fact]
    public async Task UnknownId_TheOtherBackendCooling_429RatherThanNotFound()
    {
        await using var backends = await FakeBackends.StartAsync("a", "b");
        var objects = backends.All.Select(FakeObjectStore.Serve).ToArray();
        objects[1].Seed("file-older", "files");
        backends[1].Handler = FakeResponses.Throttle(new Dictionary<string, string> { ["retry-after-ms"] = "20000" });
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, ProxyTestHost.NoWaiting);

        using var first = await proxy.Client.GetAsync("openai/v1/files/file-older");
        using var second = await proxy.Client.GetAsync("openai/v1/files/file-older");

        // "a" says 404, "b" (which holds it) throttles, then cools: never a 404 that would say the file is gone.
        Assert.Equal(HttpStatusCode.TooManyRequests, first.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.InRange(second.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 18, 20);
        Assert.Equal(1, backends[1].RequestCount);
    }

    [Fact]
    public async Task StoreDown_IdsRecordedMeanwhile_ServedLocallyAndWrittenWhenBack()
    {
        await using var backends = await FakeObjectStore.StartBackendsAsync("a", "b", "c");

        var store = new SwitchableObjectStore() { Failing = true };
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, services: s => s.AddSingleton<IObjectStore>(store));
        var files = SdkClient.For(proxy).GetOpenAIFileClient();

        var uploaded = await files.UploadFileAsync(BinaryData.FromString("{}\n"), "input.jsonl", FileUploadPurpose.Batch);
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(uploaded.Value.Id, (await files.GetFileAsync(uploaded.Value.Id)).Value.Id);
        }

        Assert.Null(await store.Inner.GetAsync(uploaded.Value.Id, CancellationToken.None));
        Assert.Single(proxy.Logs.Named("ObjectStoreUnavailable"));

        store.Failing = false;
        await Wait.UntilAsync(
            async () => await store.Inner.GetAsync(uploaded.Value.Id, CancellationToken.None) is not null, "the record written once the store was back",
            poll: TimeSpan.FromMilliseconds(100));

        Assert.Equal(0, proxy.Services.GetRequiredService<ObjectAffinity>().PendingWrites);
    }

    [Fact]
    public async Task SteadyState_CachedId_NoStoreOperation()
    {
        await using var backends = await FakeObjectStore.StartBackendsAsync("a", "b");

        var store = new SwitchableObjectStore();
        await using var proxy = await ProxyTestHost.StartAsync(backends.All, services: s => s.AddSingleton<IObjectStore>(store));
        var files = SdkClient.For(proxy).GetOpenAIFileClient();
        var uploaded = await files.UploadFileAsync(BinaryData.FromString("{}\n"), "input.jsonl", FileUploadPurpose.Batch);
        var before = store.Lookups;

        for (var i = 0; i < 5; i++)
        {
            await files.GetFileAsync(uploaded.Value.Id);
        }

        Assert.Equal(before, store.Lookups);
    }

    private async Task<ProxyTestHost> StartAsync(FakeBackends backends, string table, string? connectionString = null)
    {
        var proxy = await ProxyTestHost.StartAsync(backends.All, s =>
        {
            s["AzureWebJobsStorage"] = connectionString ?? azurite.ConnectionString;
            s["Proxy:State:TableName"] = table;

            // A loaded test machine can take longer than the default 300 ms through a slow link to the store.
            s["Proxy:State:TimeoutMilliseconds"] = connectionString is null ? null : "3000";
        });

        // The table exists (created by the shared state at start-up) before objects are recorded in it.
        var state = proxy.Services.GetRequiredService<SharedState>();
        await Wait.UntilAsync(async () => (await state.ClaimAsync(CancellationToken.None)).Shared, "the proxy to reach the table");

        return proxy;
    }

    private static void ClearAll(FakeBackends backends)
    {
        foreach (var backend in backends.All)
        {
            backend.ClearRequests();
        }
    }
}
