using AoaiProxy.Affinity;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.State;

/// <summary>The object records in a real Table service (Azurite), next to the shared state's entities.</summary>
[Collection(AzuriteCollectionDefinition.Name)]
public sealed class TableObjectStoreTests(AzuriteFixture azurite)
{
    private static readonly DateTimeOffset Expires = new(2026, 2, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task PutGetDelete_RoundTrip_AndTheStateStillReads()
    {
        var connection = azurite.Connection(azurite.NewTableName());
        var state = TableStateStore.Create(connection);
        await state.InitializeAsync(CancellationToken.None);
        var objects = TableObjectStore.Create(connection);

        await objects.PutAsync("file-abc", new ObjectRecord("east", Expires), CancellationToken.None);
        await objects.PutAsync("file-abc", new ObjectRecord("west", Expires), CancellationToken.None);
        var read = await objects.GetAsync("file-abc", CancellationToken.None);
        var stateRead = await state.ReadAsync(CancellationToken.None);
        await objects.DeleteAsync("file-abc", CancellationToken.None);
        await objects.DeleteAsync("file-abc", CancellationToken.None);

        Assert.Equal(new ObjectRecord("west", Expires), read);
        Assert.Null(await objects.GetAsync("file-abc", CancellationToken.None));
        Assert.Null(await objects.GetAsync("never-recorded", CancellationToken.None));
        Assert.Null(stateRead.CursorETag);
    }

    [Fact]
    public async Task GetAsync_TableMissing_StateStoreException()
    {
        var objects = TableObjectStore.Create(azurite.Connection(azurite.NewTableName()));

        await Assert.ThrowsAsync<StateStoreException>(() => objects.PutAsync("file-1", new ObjectRecord("a", Expires), CancellationToken.None));
    }
}
