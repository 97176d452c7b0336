using AoaiProxy.Configuration;

namespace AoaiProxy.State;

/// <summary>How one sync round ended.</summary>
internal enum SyncResult
{
    /// <summary>Read, and every item wrote what it had (or left a contended write to the next round).</summary>
    Synced = 0,

    /// <summary>A store operation failed (<see cref="SyncOutcome.Error"/>).</summary>
    StoreFailed = 1,

    /// <summary>A store operation did not answer within the state budget.</summary>
    TimedOut = 2,

    /// <summary>The start-up step (creating the table) failed or outlasted <see cref="SyncRound.InitializeBudget"/>.</summary>
    InitializationFailed = 3,
}

/// <summary>How one sync round went.</summary>
/// <param name="Result">How it ended.</param>
/// <param name="Initialized">This round created the table (it had to, and it could), whatever happened next.</param>
/// <param name="Error">What the store threw, for <see cref="SyncResult.StoreFailed"/> and <see cref="SyncResult.InitializationFailed"/>.</param>
internal readonly record struct SyncOutcome(SyncResult Result, bool Initialized = false, Exception? Error = null);

/// <summary>
/// One sync with the store: create the table if that is still to do (at start-up, and again after any failure, since
/// the table may have vanished), read, have every item learn the read, then have each write in order (the cooldowns
/// publish, the turns refill; both by compare-and-swap with re-reads). Ends in a <see cref="SyncOutcome"/>, never in an
/// exception, except for cancellation by <c>stopping</c>. Not thread-safe: one loop runs the rounds.
/// </summary>
internal sealed class SyncRound
{
    /// <summary>
    /// Budget of the start-up step (create the table; with managed identity, also the first token fetch, which can take
    /// seconds). Requests meanwhile go ahead on local state; the step is retried until it succeeds.
    /// </summary>
    internal static readonly TimeSpan InitializeBudget = TimeSpan.FromSeconds(30);

    private readonly IStateStore _store;
    private readonly ISharedItem[] _items;
    private readonly SyncSignals _signals;
    private readonly SharedStateTally _tally;
    private readonly TimeProvider _time;
    private readonly TimeSpan _budget;
    private bool _initialized;

    /// <param name="store">Where the state is shared.</param>
    /// <param name="items">The shared items, in the order they write.</param>
    /// <param name="signals">Where the time of each successful read goes (the age of the view).</param>
    /// <param name="tally">Counts syncs and lost races.</param>
    /// <param name="options">The state budget of each store operation.</param>
    /// <param name="time">The clock of budgets and the view's age.</param>
    public SyncRound(
        IStateStore store, IReadOnlyList<ISharedItem> items, SyncSignals signals, SharedStateTally tally, ProxyOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        _items = [.. items];
        _signals = signals;
        _tally = tally;
        _time = time;
        _budget = options.StateTimeout;
    }

    /// <summary>True while an item holds something for the store that it has not written yet.</summary>
    public bool HasUnwritten
    {
        get
        {
            foreach (var item in _items)
            {
                if (item.HasUnwritten)
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>Runs one round. Throws only <see cref="OperationCanceledException"/>, and only once <paramref name="stopping"/> is cancelled.</summary>
    public async Task<SyncOutcome> RunAsync(CancellationToken stopping)
    {
        var initialized = false;
        try
        {
            if (!_initialized)
            {
                if (await InitializeAsync(stopping).ConfigureAwait(false) is { } failed)
                {
                    return new SyncOutcome(SyncResult.InitializationFailed, Error: failed);
                }

                _initialized = initialized = true;
            }

            var session = new StoreSession(_store, _items, _tally, _time, _budget, stopping);
            await session.ReadAsync().ConfigureAwait(false);
            _signals.ViewRead(_time.GetTimestamp());
            foreach (var item in _items)
            {
                await item.WriteAsync(session).ConfigureAwait(false);
            }

            _tally.Synced();
            return new SyncOutcome(SyncResult.Synced, initialized);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (stopping.IsCancellationRequested)
        {
            // A store call cancelled by the stop may also end in a store error (a connection torn down mid-call).
            throw new OperationCanceledException("The sync was stopped.", ex, stopping);
        }
        catch (OperationCanceledException)
        {
            // Whatever was learnt may be stale once the store is back; the next round re-creates a table that vanished.
            _initialized = false;
            return new SyncOutcome(SyncResult.TimedOut, initialized);
        }
        catch (Exception ex)
        {
            _initialized = false;
            return new SyncOutcome(SyncResult.StoreFailed, initialized, ex);
        }
    }

    /// <summary>Creates the table within <see cref="InitializeBudget"/>; the error, if it failed.</summary>
    private async Task<Exception?> InitializeAsync(CancellationToken stopping)
    {
        using var budget = new CancellationTokenSource(InitializeBudget, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, stopping);
        try
        {
            await _store.InitializeAsync(linked.Token).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            return ex;
        }
    }
}
