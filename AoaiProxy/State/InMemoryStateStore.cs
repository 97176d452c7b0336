namespace AoaiProxy.State;

/// <summary>
/// The state store of a single instance, used when no storage is configured. Same compare-and-swap contract as the
/// Table store, so the coordination logic above it is identical either way.
/// </summary>
internal sealed class InMemoryStateStore : IStateStore
{
    private readonly Lock _gate = new();
    private StateDocument? _document;
    private long _version;

    public string Description => "in-memory (this instance only)";

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<StoreRead> ReadAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(_document is null ? new StoreRead(null, null) : new StoreRead(_document, ETagOf(_version)));
        }
    }

    public Task<StoreWrite> WriteAsync(StateDocument document, string? ifMatchETag, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(document);
        lock (_gate)
        {
            var matches = ifMatchETag is null ? _document is null : _document is not null && ifMatchETag == ETagOf(_version);
            if (!matches)
            {
                return Task.FromResult(new StoreWrite(WriteOutcome.Conflict, null));
            }

            _document = document;
            _version++;
            return Task.FromResult(new StoreWrite(WriteOutcome.Written, ETagOf(_version)));
        }
    }

    private static string ETagOf(long version) => version.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
