using System.Collections.Concurrent;
using AoaiProxy.Configuration;
using Azure;
using Azure.Data.Tables;
using AoaiProxy.State;

namespace AoaiProxy.Affinity;

/// <summary>Where an object lives and until when the proxy remembers it.</summary>
/// <param name="Backend">The backend's configured name.</param>
/// <param name="Expires">When the record lapses (see Proxy:Affinity:ExpiryDays).</param>
internal readonly record struct ObjectRecord(string Backend, DateTimeOffset Expires);

/// <summary>
/// The shared record of which backend holds which object. Every call is bounded by the caller's token and fails with
/// <see cref="StateStoreException"/>; <see cref="ObjectAffinity"/> keeps serving from its local map meanwhile.
/// </summary>
internal interface IObjectStore
{
    string Description { get; }

    Task<ObjectRecord?> GetAsync(string id, CancellationToken cancellationToken);

    Task PutAsync(string id, ObjectRecord record, CancellationToken cancellationToken);

    Task DeleteAsync(string id, CancellationToken cancellationToken);
}

/// <summary>One instance without storage: the records live as long as the process.</summary>
internal sealed class InMemoryObjectStore : IObjectStore
{
    private readonly ConcurrentDictionary<string, ObjectRecord> _records = new(StringComparer.Ordinal);

    public string Description => "in-memory";

    public Task<ObjectRecord?> GetAsync(string id, CancellationToken cancellationToken) =>
        Task.FromResult<ObjectRecord?>(_records.TryGetValue(id, out var r) ? r : null);

    public Task PutAsync(string id, ObjectRecord record, CancellationToken cancellationToken)
    {
        _records[id] = record;
        return Task.CompletedTask;
    }

    public Task DeleteAsync(string id, CancellationToken cancellationToken)
    {
        _records.TryRemove(id, out _);
        return Task.CompletedTask;
    }
}

/// <summary>
/// The records as entities of their own partition (<see cref="PartitionKey"/>) of the shared state table, one per
/// object id (the row key), through Azure.Data.Tables with no retries, like <see cref="TableStateStore"/>. Ids are
/// unique to the backend that made them, so a record is written with an upsert rather than a compare-and-swap: two
/// writers of one id write the same thing.
/// </summary>
internal sealed class TableObjectStore : IObjectStore
{
    /// <summary>The partition of the object records; the state entities' partition is never queried as a whole here.</summary>
    public const string PartitionKey = "objects";

    private const string BackendProperty = "Backend";
    private const string ExpiresProperty = "Expires";
    private const int NotFound = 404;
    private static readonly string[] Selected = [BackendProperty, ExpiresProperty];

    private readonly TableClient _table;

    internal TableObjectStore(TableClient table, string description)
    {
        _table = table;
        Description = description;
    }

    public string Description { get; }

    /// <summary>Builds the store on the shared state's table (created at start-up by the shared state).</summary>
    public static TableObjectStore Create(StorageConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return new TableObjectStore(TableCalls.CreateClient(connection), $"Azure Table Storage {connection}");
    }

    public Task<ObjectRecord?> GetAsync(string id, CancellationToken cancellationToken) => CallAsync("read object", async token =>
    {
        var response = await _table.GetEntityIfExistsAsync<TableEntity>(PartitionKey, id, Selected, token).ConfigureAwait(false);
        if (!response.HasValue || response.Value is not { } entity ||
            entity.GetString(BackendProperty) is not { Length: > 0 } backend || entity.GetDateTimeOffset(ExpiresProperty) is not { } expires)
        {
            return (ObjectRecord?)null;
        }

        return new ObjectRecord(backend, expires);
    }, cancellationToken);

    public Task PutAsync(string id, ObjectRecord record, CancellationToken cancellationToken) => CallAsync("write object", async token =>
    {
        var entity = new TableEntity(PartitionKey, id) { [BackendProperty] = record.Backend, [ExpiresProperty] = record.Expires };
        await _table.UpsertEntityAsync(entity, TableUpdateMode.Replace, token).ConfigureAwait(false);
        return true;
    }, cancellationToken);

    public Task DeleteAsync(string id, CancellationToken cancellationToken) => CallAsync("delete object", async token =>
    {
        try
        {
            await _table.DeleteEntityAsync(PartitionKey, id, ETag.All, token).ConfigureAwait(false);
        }
        catch (RequestFailedException e) when (e.Status == NotFound)
        {
            // Already gone: what a delete wants.
        }

        return true;
    }, cancellationToken);

    /// <summary>As <see cref="TableStateStore"/>: a failure names the operation and status, never the SDK's message.</summary>
    private Task<T> CallAsync<T>(string operation, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken) =>
        TableCalls.RunAsync(Description, operation, call, cancellationToken);
}
