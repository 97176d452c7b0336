using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Net;
using System.Text;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Azure.Core.Pipeline;
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

        Assert.Equal(new StoreRead(null, null), await store.ReadAsync(Budget()));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteAsync_InsertThenUpdate_RoundTripsCursorAndCooldowns()
    {
        var store = await NewInitializedStoreAsync();
        var first = new StateDocument(41, Cooldowns(("east/*", CooldownReason.Failed)));
        var second = new StateDocument(long.MaxValue, Cooldowns(("east/gpt-4o", CooldownReason.Throttled), ("west/*", CooldownReason.TimedOut)));

        var inserted = await store.WriteAsync(first, null, Budget());
        var afterInsert = await store.ReadAsync(Budget());
        var updated = await store.WriteAsync(second, afterInsert.ETag, Budget());
        var afterUpdate = await store.ReadAsync(Budget());

        Assert.Equal(WriteOutcome.Written, inserted.Outcome);
        Assert.Equal(inserted.ETag, afterInsert.ETag);
        AssertSameDocument(first, afterInsert.Document);
        Assert.Equal(WriteOutcome.Written, updated.Outcome);
        Assert.Equal(updated.ETag, afterUpdate.ETag);
        Assert.NotEqual(inserted.ETag, updated.ETag);
        AssertSameDocument(second, afterUpdate.Document);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteAsync_StaleETag_ReturnsConflict()
    {
        var store = await NewInitializedStoreAsync();
        var stale = (await store.WriteAsync(new StateDocument(1, Cooldowns()), null, Budget())).ETag;
        await store.WriteAsync(new StateDocument(2, Cooldowns()), stale, Budget());

        var result = await store.WriteAsync(new StateDocument(3, Cooldowns()), stale, Budget());

        Assert.Equal(new StoreWrite(WriteOutcome.Conflict, null), result);
        Assert.Equal(2, (await store.ReadAsync(Budget())).Document?.Cursor);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteAsync_InsertWhenStored_ReturnsConflict()
    {
        var store = await NewInitializedStoreAsync();
        await store.WriteAsync(new StateDocument(1, Cooldowns()), null, Budget());

        var result = await store.WriteAsync(new StateDocument(2, Cooldowns()), null, Budget());

        Assert.Equal(new StoreWrite(WriteOutcome.Conflict, null), result);
        Assert.Equal(1, (await store.ReadAsync(Budget())).Document?.Cursor);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteAsync_ConcurrentCompareAndSwapFromSeparateStores_ClaimsEveryCursorOnce()
    {
        const int Stores = 4;
        const int ClaimsPerStore = 10;
        var tableName = azurite.NewTableName();
        var stores = Enumerable.Range(0, Stores).Select(_ => TableStateStore.Create(azurite.Connection(tableName), TimeProvider.System)).ToArray();
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
        Assert.Equal(Stores * ClaimsPerStore, (await stores[0].ReadAsync(Budget())).Document?.Cursor);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task ReadAndWrite_AzuriteStoppedThenRestarted_FailPromptlyThenWorkAgain()
    {
        var store = await NewInitializedStoreAsync();
        var etag = (await store.WriteAsync(new StateDocument(1, Cooldowns()), null, Budget())).ETag;

        await azurite.StopAsync();
        try
        {
            var elapsed = Stopwatch.StartNew();
            using (var budget = new CancellationTokenSource(OutageBudget))
            {
                await Assert.ThrowsAsync<StateStoreException>(() => store.ReadAsync(budget.Token));
            }

            using (var budget = new CancellationTokenSource(OutageBudget))
            {
                await Assert.ThrowsAsync<StateStoreException>(() => store.WriteAsync(new StateDocument(2, Cooldowns()), etag, budget.Token));
            }

            Assert.True(elapsed.Elapsed < 2 * OutageBudget, $"Failing took {elapsed.Elapsed}.");
        }
        finally
        {
            await azurite.RestartAsync();
        }

        // Azurite runs in memory: the restarted one starts empty, as a fresh account would.
        await store.InitializeAsync(Budget());
        Assert.Equal(WriteOutcome.Written, (await store.WriteAsync(new StateDocument(3, Cooldowns()), null, Budget())).Outcome);
        Assert.Equal(3, (await store.ReadAsync(Budget())).Document?.Cursor);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task ReadAsync_WrongAccountKey_ThrowsStateStoreExceptionWithoutTheKey()
    {
        const string WrongKey = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXdyb25nLWtleQ==";
        var connectionString = azurite.ConnectionString.Replace(AzuriteFixture.AccountKey, WrongKey, StringComparison.Ordinal);
        var store = TableStateStore.Create(azurite.Connection(azurite.NewTableName(), connectionString), TimeProvider.System);

        var failure = await Assert.ThrowsAsync<StateStoreException>(() => store.ReadAsync(Budget()));

        Assert.Contains("read answered 403", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(WrongKey, failure.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Description_SharedKeyConnection_NamesTableAndEndpointOnly()
    {
        var store = TableStateStore.Create(azurite.Connection("statetable"), TimeProvider.System);

        Assert.Equal($"Azure Table Storage table 'statetable' at {azurite.TableEndpoint}", store.Description);
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

        var store = TableStateStore.Create(StorageConnection.FromConfiguration(configuration).Connection!, TimeProvider.System);

        Assert.Equal("Azure Table Storage table 'aoaiproxystate' at https://acct.table.core.windows.net", store.Description);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task ReadAsync_CallerCancelled_ThrowsOperationCanceled()
    {
        var store = NewStore(out _);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => store.ReadAsync(new CancellationToken(canceled: true)));
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteAsync_SasConnection_SendsSasOnEveryRequestAndKeepsItOutOfTheDescription()
    {
        var handler = new StubHttpHandler(_ => Answer(HttpStatusCode.NoContent, etag: "W/\"datetime'2025-07-01T12%3A00%3A00.0000000Z'\""));
        var store = StubStore(handler, sas: "sv=2024-08-04&sig=SECRET%3D");

        await store.InitializeAsync(Budget());
        await store.WriteAsync(new StateDocument(1, Cooldowns()), null, Budget());
        await store.WriteAsync(new StateDocument(2, Cooldowns()), "W/\"x\"", Budget());

        Assert.Equal(
            [
                "POST https://acct.table.core.windows.net/Tables?sv=2024-08-04&sig=SECRET%3D",
                "POST https://acct.table.core.windows.net/state?sv=2024-08-04&sig=SECRET%3D",
                "PUT https://acct.table.core.windows.net/state(PartitionKey='aoaiproxy',RowKey='state')?sv=2024-08-04&sig=SECRET%3D",
            ],
            handler.Requests.Select(r => $"{r.Method} {r.RequestUri!.OriginalString}"));
        Assert.DoesNotContain("SECRET", store.Description, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task WriteAsync_Update_SendsIfMatchExactlyAsGiven()
    {
        const string ETag = "W/\"datetime'2025-07-01T12%3A00%3A00.1234567Z'\"";
        string? ifMatch = null;
        var handler = new StubHttpHandler(request =>
        {
            ifMatch = string.Join(',', request.Headers.GetValues("If-Match"));
            return Answer(HttpStatusCode.NoContent, etag: ETag);
        });

        var result = await StubStore(handler).WriteAsync(new StateDocument(1, Cooldowns()), ETag, Budget());

        Assert.Equal(ETag, ifMatch);
        Assert.Equal(new StoreWrite(WriteOutcome.Written, ETag), result);
    }

    [Theory(Timeout = TestTimeout)]
    [InlineData(HttpStatusCode.InternalServerError, "InternalError", "read answered 500 InternalError")]
    [InlineData(HttpStatusCode.Forbidden, "AuthorizationFailure", "read answered 403 AuthorizationFailure")]
    [InlineData(HttpStatusCode.ServiceUnavailable, null, "read answered 503 Service Unavailable")]
    [InlineData(HttpStatusCode.OK, null, "read answered 200 without an ETag")]
    public async Task ReadAsync_UnexpectedAnswer_ThrowsStateStoreExceptionNamingIt(HttpStatusCode status, string? errorCode, string expected)
    {
        var handler = new StubHttpHandler(_ => Answer(status, errorCode: errorCode, body: """{"secret":"body"}"""));

        var failure = await Assert.ThrowsAsync<StateStoreException>(() => StubStore(handler).ReadAsync(Budget()));

        Assert.Equal($"Azure Table Storage table 'state' at https://acct.table.core.windows.net: {expected}", failure.Message);
    }

    [Theory(Timeout = TestTimeout)]
    [InlineData("{}", 0, 0)]
    [InlineData("""{"Cursor":"12","Cooldowns":"not json"}""", 12, 0)]
    [InlineData("""{"Cursor":12,"Cooldowns":"{\"a\":[1,\"t\"]}"}""", 12, 1)]
    [InlineData("""{"Cursor":"twelve","Cooldowns":42,"Other":{"x":[1]}}""", 0, 0)]
    [InlineData("""{"Cursor":"1","Cooldowns":"{\"a\":[1,\"t\"],\"\ud800\":[2,\"t\"]}"}""", 1, 0)]
    [InlineData("""{"PartitionKey":"aoaiproxy","Cursor@odata.type":"Edm.Int64","Cursor":"-5","Cooldowns":"{\u0022a\u0022:[1,\u0022t\u0022]}"}""", -5, 1)]
    public async Task ReadAsync_OddEntity_ReadsWhatItCan(string body, long cursor, int cooldowns)
    {
        var handler = new StubHttpHandler(_ => Answer(HttpStatusCode.OK, etag: "W/\"1\"", body: body));

        var read = await StubStore(handler).ReadAsync(Budget());

        Assert.Equal(cursor, read.Document?.Cursor);
        Assert.Equal(cooldowns, read.Document?.Cooldowns.Count);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task ReadAsync_BodyNotJson_ThrowsStateStoreException()
    {
        var handler = new StubHttpHandler(_ => Answer(HttpStatusCode.OK, etag: "W/\"1\"", body: "<html>proxy error</html>"));

        await Assert.ThrowsAsync<StateStoreException>(() => StubStore(handler).ReadAsync(Budget()));
    }

    /// <summary>The CAS loop a caller runs: read, claim cursor + 1, retry on conflict.</summary>
    private async Task<long> ClaimNextCursorAsync(TableStateStore store)
    {
        while (true)
        {
            var read = await store.ReadAsync(Budget());
            var next = (read.Document?.Cursor ?? 0) + 1;
            var write = await store.WriteAsync(new StateDocument(next, Cooldowns()), read.ETag, Budget());
            if (write.Outcome == WriteOutcome.Written)
            {
                return next;
            }
        }
    }

    private TableStateStore NewStore(out string tableName)
    {
        tableName = azurite.NewTableName();
        return TableStateStore.Create(azurite.Connection(tableName), TimeProvider.System);
    }

    private async Task<TableStateStore> NewInitializedStoreAsync()
    {
        var store = NewStore(out _);
        await store.InitializeAsync(Budget());
        return store;
    }

    private static TableStateStore StubStore(StubHttpHandler handler, string? sas = null)
    {
        var pipeline = new HttpPipeline(handler.Transport());
        return new TableStateStore(pipeline, new Uri("https://acct.table.core.windows.net/"), "state", sas);
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

    private static void AssertSameDocument(StateDocument expected, StateDocument? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.Cursor, actual.Cursor);
        Assert.Equal(expected.Cooldowns.OrderBy(e => e.Key, StringComparer.Ordinal), actual.Cooldowns.OrderBy(e => e.Key, StringComparer.Ordinal));
    }
}
