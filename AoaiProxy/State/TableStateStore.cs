using System.Buffers;
using System.Collections.Immutable;
using System.Text;
using AoaiProxy.Configuration;
using Azure;
using Azure.Data.Tables;

namespace AoaiProxy.State;

/// <summary>
/// The shared state as two entities of one partition in Azure Table Storage, through Azure.Data.Tables:
/// <c>cursor</c> (<c>Cursor</c>, Edm.Int64) and <c>cooldowns</c> (<c>Cooldowns</c>, a <see cref="CooldownCodec"/> string).
/// An entity's ETag is its version, so a write is a compare-and-swap: Insert Entity when nothing is stored yet,
/// Update Entity (replace) with <c>If-Match</c> otherwise. One partition query reads both in one operation.
/// The client is built with no retries: the caller's token bounds each call, and the shared state retries at its next
/// sync instead of holding a stale operation open.
/// </summary>
internal sealed class TableStateStore : IStateStore
{
    /// <summary>The partition of the state entities.</summary>
    public const string PartitionKey = "aoaiproxy";

    /// <summary>The row holding the round-robin cursor.</summary>
    public const string CursorRowKey = "cursor";

    /// <summary>The row holding the published cooldowns.</summary>
    public const string CooldownsRowKey = "cooldowns";

    /// <summary>
    /// A string property holds at most 64 KiB of UTF-16 (32 K characters). Past this the cooldowns that end soonest are
    /// left out of the write (they stay in every instance's local view) rather than making every write fail.
    /// </summary>
    internal const int MaxCooldownsChars = 30_000;

    private const string CursorProperty = "Cursor";
    private const string CooldownsProperty = "Cooldowns";
    private const string EntityAlreadyExists = "EntityAlreadyExists";
    private const int InitialCooldownsCapacity = 256;

    private const string CreateTableOperation = "create table";
    private const string ReadOperation = "read";
    private const string InsertOperation = "insert";
    private const string UpdateOperation = "update";

    private static readonly string PartitionFilter = TableClient.CreateQueryFilter($"PartitionKey eq {PartitionKey}");
    private static readonly string[] Selected = ["RowKey", CursorProperty, CooldownsProperty];

    private readonly TableClient _table;

    internal TableStateStore(TableClient table, string description)
    {
        _table = table;
        Description = description;
    }

    /// <inheritdoc />
    public string Description { get; }

    /// <summary>Builds the store for <paramref name="connection"/>, with a client of its own that does not retry.</summary>
    public static TableStateStore Create(StorageConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return new TableStateStore(TableCalls.CreateClient(connection), $"Azure Table Storage {connection}");
    }

    /// <summary>
    /// Creates the table if missing. Call it at start-up with a generous budget: with an Entra identity it also gets
    /// the first token, which can take seconds; later tokens are refreshed in the background before they expire.
    /// </summary>
    public Task InitializeAsync(CancellationToken cancellationToken) =>
        CallAsync(CreateTableOperation, async token => await _table.CreateIfNotExistsAsync(token).ConfigureAwait(false), cancellationToken);

    /// <inheritdoc />
    public Task<StoreRead> ReadAsync(CancellationToken cancellationToken) => CallAsync(ReadOperation, async token =>
    {
        var read = StoreRead.Empty;

        // Both rows fit in the first page: one request.
        await foreach (var page in _table.QueryAsync<TableEntity>(PartitionFilter, select: Selected, cancellationToken: token)
                           .AsPages().ConfigureAwait(false))
        {
            foreach (var entity in page.Values)
            {
                read = entity.RowKey switch
                {
                    // A missing or unreadable value reads as nothing stored, so a damaged entity heals on the next write.
                    CursorRowKey => read with { Cursor = ReadCursor(entity), CursorETag = entity.ETag.ToString() },
                    CooldownsRowKey => read with { Cooldowns = ReadCooldowns(entity), CooldownsETag = entity.ETag.ToString() },
                    _ => read,
                };
            }

            break;
        }

        return read;
    }, cancellationToken);

    /// <inheritdoc />
    public Task<StoreWrite> WriteCursorAsync(long cursor, string? ifMatchETag, CancellationToken cancellationToken) =>
        WriteAsync(new TableEntity(PartitionKey, CursorRowKey) { [CursorProperty] = cursor }, ifMatchETag, cancellationToken);

    /// <inheritdoc />
    public Task<StoreWrite> WriteCooldownsAsync(
        ImmutableDictionary<string, Cooldown> cooldowns, string? ifMatchETag, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cooldowns);
        var entity = new TableEntity(PartitionKey, CooldownsRowKey) { [CooldownsProperty] = Encode(cooldowns) };
        return WriteAsync(entity, ifMatchETag, cancellationToken);
    }

    /// <summary>The cooldowns as the codec writes them, the soonest-ending left out while over <see cref="MaxCooldownsChars"/>.</summary>
    internal static string Encode(ImmutableDictionary<string, Cooldown> cooldowns)
    {
        var text = EncodeAll(cooldowns);
        if (text.Length <= MaxCooldownsChars)
        {
            return text;
        }

        // Rare: halve the set (latest deadlines kept) until it fits.
        var ordered = cooldowns.OrderByDescending(c => c.Value.Until).ToList();
        var keep = ordered.Count;
        do
        {
            keep /= 2;
            text = EncodeAll(ordered.Take(keep).ToImmutableDictionary(StringComparer.Ordinal));
        }
        while (text.Length > MaxCooldownsChars && keep > 0);

        return text;
    }

    private static string EncodeAll(ImmutableDictionary<string, Cooldown> cooldowns)
    {
        var buffer = new ArrayBufferWriter<byte>(InitialCooldownsCapacity);
        CooldownCodec.Write(buffer, cooldowns);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static long ReadCursor(TableEntity entity) => entity.TryGetValue(CursorProperty, out var value) ? value switch
    {
        long number => number,
        int number => number,
        string text when long.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var number) => number,
        _ => 0,
    } : 0;

    private static ImmutableDictionary<string, Cooldown> ReadCooldowns(TableEntity entity) =>
        entity.TryGetValue(CooldownsProperty, out var value) && value is string text
            ? CooldownCodec.Read(Encoding.UTF8.GetBytes(text))
            : StoreRead.NoCooldowns;

    private Task<StoreWrite> WriteAsync(TableEntity entity, string? ifMatchETag, CancellationToken cancellationToken)
    {
        var insert = ifMatchETag is null;
        return CallAsync(insert ? InsertOperation : UpdateOperation, async token =>
        {
            try
            {
                var response = insert
                    ? await _table.AddEntityAsync(entity, token).ConfigureAwait(false)
                    : await _table.UpdateEntityAsync(entity, new ETag(ifMatchETag!), TableUpdateMode.Replace, token).ConfigureAwait(false);
                return new StoreWrite(WriteOutcome.Written, response.Headers.ETag?.ToString()
                    ?? throw new StateStoreException($"{Description}: a write answered {response.Status} without an ETag"));
            }
            catch (RequestFailedException e) when (
                insert && e.Status == StatusCodes.Conflict && e.ErrorCode == EntityAlreadyExists
                || !insert && e.Status == StatusCodes.PreconditionFailed)
            {
                // Lost the race: someone else's version is newer.
                return new StoreWrite(WriteOutcome.Conflict, null);
            }
        }, cancellationToken);
    }

    private Task<T> CallAsync<T>(string operation, Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken) =>
        TableCalls.RunAsync(Description, operation, call, cancellationToken);

    private async Task CallAsync(string operation, Func<CancellationToken, Task> call, CancellationToken cancellationToken) =>
        await CallAsync<bool>(operation, async token =>
        {
            await call(token).ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);

    private static class StatusCodes
    {
        public const int Conflict = 409;
        public const int PreconditionFailed = 412;
    }
}
