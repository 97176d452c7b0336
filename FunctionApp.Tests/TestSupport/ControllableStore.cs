using AoaiProxy.State;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>How a <see cref="ControllableStore"/> behaves right now.</summary>
internal enum StoreMode
{
    Healthy,
    Failing,
    Hanging,
}

/// <summary>
/// A real in-memory store whose availability a test can switch: healthy, failing (throws) or hanging (never answers
/// until cancelled). Counts calls, so tests can assert how many round trips a claim costs.
/// </summary>
internal sealed class ControllableStore(IStateStore inner) : IStateStore
{
    private int _reads;
    private int _writes;

    public ControllableStore() : this(new InMemoryStateStore()) { }

    public StoreMode Mode { get; set; }

    public IStateStore Inner => inner;

    public int Reads => Volatile.Read(ref _reads);

    public int Writes => Volatile.Read(ref _writes);

    public string Description => "controllable " + inner.Description;

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await Gate(cancellationToken);
        await inner.InitializeAsync(cancellationToken);
    }

    public async Task<StoreRead> ReadAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        await Gate(cancellationToken);
        return await inner.ReadAsync(cancellationToken);
    }

    public async Task<StoreWrite> WriteAsync(StateDocument document, string? ifMatchETag, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _writes);
        await Gate(cancellationToken);
        return await inner.WriteAsync(document, ifMatchETag, cancellationToken);
    }

    private Task Gate(CancellationToken cancellationToken) => Mode switch
    {
        StoreMode.Failing => throw new StateStoreException("store is down (test)"),
        StoreMode.Hanging => Task.Delay(Timeout.Infinite, cancellationToken),
        _ => Task.CompletedTask,
    };
}
