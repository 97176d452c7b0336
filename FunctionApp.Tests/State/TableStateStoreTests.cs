using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Net;
using System.Text;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Tests.State;

[Collection(AzuriteCollectionDefinition.Name)]
public sealed class TableStateStoreTests(AzuriteFixture azurite) : IDisposable
{
    private const int TestTimeout = 30_000;

    // Bounds every store call of a test that does not test budgets itself, so a hang fails instead of waiting.
    private readonly CancellationTokenSource _testBudget = new(TimeSpan.FromSeconds(20));

    // The budget a caller would give one store call during an outage: a few hundred milliseconds.
    private static readonly TimeSpan OutageBudget = TimeSpan.FromMilliseconds(500);
    private static readonly DateTimeOffset Deadline = DateTimeOffset.FromUnixTimeMilliseconds(1_750_000_000_000);

    [Fact(Timeout = TestTimeout)]
    public async Task InitializeAsync_NewTable_CreatesItAndIsIdempotent()
    {
        var store = NewStore(out _);

        await store.InitializeAsync(Budget());
        await store.InitializeAsync(Budget());

        Assert.Equal(StoreRead.Empty, await store.ReadAsync(Budget()));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteCursorAsync_InsertThenUpdate_RoundTripsWithNewVersions()
    {
        var store = await NewInitializedStoreAsync();

        var inserted = await store.WriteCursorAsync(41, null, Budget());
        var afterInsert = await store.ReadAsync(Budget());
        var updated = await store.WriteCursorAsync(long.MaxValue, afterInsert.CursorETag, Budget());
        var afterUpdate = await store.ReadAsync(Budget());

        Assert.Equal(WriteOutcome.Written, inserted.Outcome);
        Assert.Equal((41L, inserted.ETag), (afterInsert.Cursor, afterInsert.CursorETag));
        Assert.Equal(WriteOutcome.Written, updated.Outcome);
        Assert.Equal((long.MaxValue, updated.ETag), (afterUpdate.Cursor, afterUpdate.CursorETag));
        Assert.NotEqual(inserted.ETag, updated.ETag);
        Assert.Null(afterUpdate.CooldownsETag);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteCooldownsAsync_InsertThenUpdate_RoundTripsWithoutTouchingTheCursor()
    {
        var store = await NewInitializedStoreAsync();
        var cursor = await store.WriteCursorAsync(7, null, Budget());
        var first = Cooldowns(("east/*", CooldownReason.Failed));
        var second = Cooldowns(("east/gpt-4o", CooldownReason.Throttled), ("west/*", CooldownReason.TimedOut), ("wé\"st/x", CooldownReason.Throttled));

        var inserted = await store.WriteCooldownsAsync(first, null, Budget());
        var afterInsert = await store.ReadAsync(Budget());
        var updated = await store.WriteCooldownsAsync(second, afterInsert.CooldownsETag, Budget());
        var afterUpdate = await store.ReadAsync(Budget());

        Assert.Equal(inserted.ETag, afterInsert.CooldownsETag);
        AssertSameCooldowns(first, afterInsert.Cooldowns);
        Assert.Equal(updated.ETag, afterUpdate.CooldownsETag);
        AssertSameCooldowns(second, afterUpdate.Cooldowns);
        Assert.Equal((7L, cursor.ETag), (afterUpdate.Cursor, afterUpdate.CursorETag));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteCursorAsync_StaleETag_ReturnsConflict()
    {
        var store = await NewInitializedStoreAsync();
        var stale = (await store.WriteCursorAsync(1, null, Budget())).ETag;
        await store.WriteCursorAsync(2, stale, Budget());

        var result = await store.WriteCursorAsync(3, stale, Budget());

        Assert.Equal(new StoreWrite(WriteOutcome.Conflict, null), result);
        Assert.Equal(2, (await store.ReadAsync(Budget())).Cursor);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteAsync_InsertWhenStored_ReturnsConflict()
    {
        var store = await NewInitializedStoreAsync();
        await store.WriteCursorAsync(1, null, Budget());
        await store.WriteCooldownsAsync(Cooldowns(("a/*", CooldownReason.Failed)), null, Budget());

        var cursor = await store.WriteCursorAsync(2, null, Budget());
        var cooldowns = await store.WriteCooldownsAsync(Cooldowns(), null, Budget());

        Assert.Equal(new StoreWrite(WriteOutcome.Conflict, null), cursor);
        Assert.Equal(new StoreWrite(WriteOutcome.Conflict, null), cooldowns);
        var read = await store.ReadAsync(Budget());
        Assert.Equal(1, read.Cursor);
        Assert.Single(read.Cooldowns);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteCursorAsync_ConcurrentCompareAndSwapFromSeparateStores_ClaimsEveryCursorOnce()
    {
        const int Stores = 4;
        const int ClaimsPerStore = 10;
        var tableName = azurite.NewTableName();
        var stores = Enumerable.Range(0, Stores).Select(_ => TableStateStore.Create(azurite.Connection(tableName))).ToArray();
        await stores[0].InitializeAsync(Budget());
        var claimed = new ConcurrentBag<long>();

        await Task.WhenAll(stores.Select(store => Task.Run(async () =>
        {
            for (var i = 0; i < ClaimsPerStore; i++)
            {
                claimed.Add(await ClaimNextCursorAsync(store));
            }
        })));

        Assert.Equal(Enumerable.Range(1, Stores * ClaimsPerStore).Select(i => (long)i), claimed.Order());
        Assert.Equal(Stores * ClaimsPerStore, (await stores[0].ReadAsync(Budget())).Cursor);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task ReadAndWrite_AzuriteStoppedThenRestarted_FailPromptlyThenWorkAgain()
    {
        var store = await NewInitializedStoreAsync();
        var etag = (await store.WriteCursorAsync(1, null, Budget())).ETag;

        await azurite.StopAsync();
        try
        {
            // No retries inside the SDK: failing is prompt, well within a caller's budget.
            var elapsed = Stopwatch.StartNew();
            using (var budget = new CancellationTokenSource(OutageBudget))
            {
                await Assert.ThrowsAsync<StateStoreException>(() => store.ReadAsync(budget.Token));
            }

            using (var budget = new CancellationTokenSource(OutageBudget))
            {
                await Assert.ThrowsAsync<StateStoreException>(() => store.WriteCursorAsync(2, etag, budget.Token));
            }

            Assert.True(elapsed.Elapsed < 2 * OutageBudget, $"Failing took {elapsed.Elapsed}.");
        }
        finally
        {
            await azurite.RestartAsync();
        }

        // Azurite runs in memory: the restarted one starts empty, as a fresh account would. The table is gone.
        var vanished = await Assert.ThrowsAsync<StateStoreException>(() => store.ReadAsync(Budget()));
        Assert.Contains("read answered 404 TableNotFound", vanished.Message, StringComparison.Ordinal);
        await store.InitializeAsync(Budget());
        Assert.Equal(WriteOutcome.Written, (await store.WriteCursorAsync(3, null, Budget())).Outcome);
        Assert.Equal(3, (await store.ReadAsync(Budget())).Cursor);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task ReadAsync_WrongAccountKey_ThrowsStateStoreExceptionWithoutTheKey()
    {
        const string WrongKey = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
        var connectionString = azurite.ConnectionString.Replace(AzuriteFixture.AccountKey, WrongKey, StringComparison.Ordinal);
        var store = TableStateStore.Create(azurite.Connection(azurite.NewTableName(), connectionString));

        var failure = await Assert.ThrowsAsync<StateStoreException>(() => store.ReadAsync(Budget()));

        Assert.Contains("read answered 403", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(WrongKey, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Description_ConnectionString_NamesTableAndEndpointOnly()
    {
        var store = TableStateStore.Create(azurite.Connection("statetable"));

        Assert.Equal($"Azure Table Storage table 'statetable' at {azurite.TableEndpoint}", store.Description);
        Assert.DoesNotContain(AzuriteFixture.AccountKey, store.Description, StringComparison.Ordinal);
    }

    // Builds only: sending would ask Entra ID (or the IMDS endpoint) for a token, which tests must not reach.
    [Theory]
    [InlineData("AzureWebJobsStorage:accountName", "acct", null)]
    [InlineData("AzureWebJobsStorage:accountName", "acct", "managedidentity")]
    [InlineData("AzureWebJobsStorage:tableServiceUri", "https://acct.table.core.windows.net/", "managedidentity")]
    [InlineData("AzureWebJobsStorage", "TableEndpoint=https://acct.table.core.windows.net;SharedAccessSignature=sv=1&sig=SECRET", null)]
    public void Create_OtherAuthentications_BuildsStoreWithSecretFreeDescription(string setting, string value, string? credential)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection([KeyValuePair.Create(setting, (string?)value), KeyValuePair.Create("AzureWebJobsStorage:credential", credential)])
            .Build();

        var store = TableStateStore.Create(StorageConnection.FromConfiguration(configuration).Connection!);

        Assert.Equal("Azure Table Storage table 'aoaiproxystate' at https://acct.table.core.windows.net", store.Description);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task ReadAsync_CallerCancelled_ThrowsOperationCanceled()
    {
        var store = NewStore(out _);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.ReadAsync(new CancellationToken(canceled: true)));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteCursorAsync_Update_SendsIfMatchExactlyAsGivenAndReturnsTheNewETag()
    {
        const string Sent = "W/\"datetime'2025-07-01T12%3A00%3A00.1234567Z'\"";
        const string Received = "W/\"datetime'2025-07-01T12%3A00%3A01.0000000Z'\"";
        string? ifMatch = null;
        var handler = new StubHttpHandler(request =>
        {
            ifMatch = string.Join(',', request.Headers.GetValues("If-Match"));
            return Answer(HttpStatusCode.NoContent, etag: Received);
        });

        var result = await StubStore(handler).WriteCursorAsync(1, Sent, Budget());

        Assert.Equal(Sent, ifMatch);
        Assert.Equal(new StoreWrite(WriteOutcome.Written, Received), result);
    }

    [Theory(Timeout = TestTimeout)]
    [InlineData(HttpStatusCode.InternalServerError, "InternalError", "read answered 500 InternalError")]
    [InlineData(HttpStatusCode.Forbidden, "AuthorizationFailure", "read answered 403 AuthorizationFailure")]
    [InlineData(HttpStatusCode.ServiceUnavailable, null, "read answered 503 ")]
    public async Task ReadAsync_UnexpectedAnswer_ThrowsStateStoreExceptionNamingItButNotTheBody(HttpStatusCode status, string? errorCode, string expected)
    {
        // As the service answers: the code in the header and in the OData error body, with a message not to be echoed.
        var body = errorCode is null ? """{"secret":"body"}""" : "{\"odata.error\":{\"code\":\"" + errorCode + "\",\"message\":{\"lang\":\"en-US\",\"value\":\"secret detail\"}}}";
        var handler = new StubHttpHandler(_ => Answer(status, errorCode: errorCode, body: body));

        var failure = await Assert.ThrowsAsync<StateStoreException>(() => StubStore(handler).ReadAsync(Budget()));

        Assert.True(failure.Message.StartsWith($"Azure Table Storage stub: {expected}", StringComparison.Ordinal), failure.Message);
        Assert.DoesNotContain("secret", failure.Message, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task ReadAsync_BodyNotJson_ThrowsStateStoreException()
    {
        var handler = new StubHttpHandler(_ => Answer(HttpStatusCode.OK, body: "<html>proxy error</html>"));

        await Assert.ThrowsAsync<StateStoreException>(() => StubStore(handler).ReadAsync(Budget()));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task ReadAsync_OddEntitiesWrittenByOthers_ReadsWhatItCan()
    {
        var tableName = azurite.NewTableName();
        var store = TableStateStore.Create(azurite.Connection(tableName));
        await store.InitializeAsync(Budget());
        var table = new TableClient(azurite.ConnectionString, tableName);
        await table.AddEntityAsync(new TableEntity(TableStateStore.PartitionKey, TableStateStore.CursorRowKey) { ["Cursor"] = "twelve" }, Budget());
        await table.AddEntityAsync(new TableEntity(TableStateStore.PartitionKey, TableStateStore.CooldownsRowKey) { ["Cooldowns"] = 42 }, Budget());
        await table.AddEntityAsync(new TableEntity(TableStateStore.PartitionKey, "state") { ["Cursor"] = 99L }, Budget());

        var read = await store.ReadAsync(Budget());

        // Unreadable values read as nothing stored, but with their versions, so the next write replaces (heals) them.
        Assert.Equal(0, read.Cursor);
        Assert.Empty(read.Cooldowns);
        Assert.NotNull(read.CursorETag);
        Assert.Equal(WriteOutcome.Written, (await store.WriteCursorAsync(5, read.CursorETag, Budget())).Outcome);
        Assert.Equal(WriteOutcome.Written, (await store.WriteCooldownsAsync(Cooldowns(("a/*", CooldownReason.Failed)), read.CooldownsETag, Budget())).Outcome);
        var healed = await store.ReadAsync(Budget());
        Assert.Equal(5, healed.Cursor);
        Assert.Single(healed.Cooldowns);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteCooldownsAsync_MoreThanAPropertyHolds_KeepsTheLatestDeadlinesAndStaysWritable()
    {
        var store = await NewInitializedStoreAsync();
        var many = Enumerable.Range(0, 3_000).ToImmutableDictionary(
            i => $"backend-{i:D4}/deployment-with-a-long-name-{i:D4}",
            i => new Cooldown(Deadline.AddSeconds(i), CooldownReason.Throttled),
            StringComparer.Ordinal);

        var write = await store.WriteCooldownsAsync(many, null, Budget());
        var read = await store.ReadAsync(Budget());

        Assert.Equal(WriteOutcome.Written, write.Outcome);
        Assert.InRange(read.Cooldowns.Count, 1, many.Count - 1);
        Assert.Contains("backend-2999/deployment-with-a-long-name-2999", read.Cooldowns.Keys);
        var earliestKept = read.Cooldowns.Values.Min(c => c.Until);
        Assert.All(many.Where(c => c.Value.Until > earliestKept), c => Assert.True(read.Cooldowns.ContainsKey(c.Key)));
    }

    /// <summary>The CAS loop a caller runs: read, claim cursor + 1, retry on conflict.</summary>
    private async Task<long> ClaimNextCursorAsync(TableStateStore store)
    {
        while (true)
        {
            var read = await store.ReadAsync(Budget());
            var next = read.Cursor + 1;
            var write = await store.WriteCursorAsync(next, read.CursorETag, Budget());
            if (write.Outcome == WriteOutcome.Written)
            {
                return next;
            }
        }
    }

    private TableStateStore NewStore(out string tableName)
    {
        tableName = azurite.NewTableName();
        return TableStateStore.Create(azurite.Connection(tableName));
    }

    private async Task<TableStateStore> NewInitializedStoreAsync()
    {
        var store = NewStore(out _);
        await store.InitializeAsync(Budget());
        return store;
    }

    /// <summary>The real SDK client over a stub transport, with no retries as the store's own client has.</summary>
    private static TableStateStore StubStore(StubHttpHandler handler)
    {
        var options = new TableClientOptions { Transport = handler.Transport() };
        options.Retry.MaxRetries = 0;
        var table = new TableClient(new Uri("https://acct.table.core.windows.net/state"), new AzureSasCredential("sv=1&sig=x"), options);
        return new TableStateStore(table, "Azure Table Storage stub");
    }

    private static HttpResponseMessage Answer(HttpStatusCode status, string? etag = null, string? errorCode = null, string? body = null)
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent(body ?? string.Empty, Encoding.UTF8, "application/json") };
        if (etag is not null)
        {
            response.Headers.TryAddWithoutValidation("ETag", etag);
        }

        if (errorCode is not null)
        {
            response.Headers.Add("x-ms-error-code", errorCode);
        }

        return response;
    }

    public void Dispose() => _testBudget.Dispose();

    private CancellationToken Budget() => _testBudget.Token;

    private static ImmutableDictionary<string, Cooldown> Cooldowns(params (string Key, CooldownReason Reason)[] entries) =>
        entries.ToImmutableDictionary(e => e.Key, e => new Cooldown(Deadline, e.Reason), StringComparer.Ordinal);

    private static void AssertSameCooldowns(ImmutableDictionary<string, Cooldown> expected, ImmutableDictionary<string, Cooldown> actual) =>
        Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal), actual.OrderBy(e => e.Key, StringComparer.Ordinal));
}
