namespace AoaiProxy.State;

/// <summary>
/// The store as one sync round uses it: each operation within the state budget and cancelled when the host stops,
/// re-reads that every item learns from, and the count of lost races. One per round.
/// </summary>
internal sealed class StoreSession
{
    /// <summary>Compare-and-swap attempts of one write within a round before leaving it to the next round.</summary>
    public const int MaxWriteAttempts = 4;

    private readonly IStateStore _store;
    private readonly IReadOnlyList<ISharedItem> _items;
    private readonly SharedStateTally _tally;
    private readonly TimeProvider _time;
    private readonly TimeSpan _budget;
    private readonly CancellationToken _stopping;

    public StoreSession(
        IStateStore store, IReadOnlyList<ISharedItem> items, SharedStateTally tally, TimeProvider time, TimeSpan budget, CancellationToken stopping)
    {
        _store = store;
        _items = items;
        _tally = tally;
        _time = time;
        _budget = budget;
        _stopping = stopping;
    }

    /// <summary>One store operation within the state budget.</summary>
    public async Task<T> CallAsync<T>(Func<IStateStore, CancellationToken, Task<T>> operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        using var budget = new CancellationTokenSource(_budget, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, _stopping);
        return await operation(_store, linked.Token).ConfigureAwait(false);
    }

    /// <summary>Reads the store and has every item learn what it holds.</summary>
    public async Task ReadAsync()
    {
        var read = await CallAsync(static (store, t) => store.ReadAsync(t)).ConfigureAwait(false);
        for (var i = 0; i < _items.Count; i++)
        {
            _items[i].Learn(read);
        }
    }

    /// <summary>A compare-and-swap write lost to another instance.</summary>
    public void LostRace() => _tally.LostRace();
}
