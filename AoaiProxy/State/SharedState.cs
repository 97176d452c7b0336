using System.Collections.Immutable;
using AoaiProxy.Configuration;
using AoaiProxy.Logging;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.State;

/// <summary>A claimed round-robin turn and the cooldowns known when it was claimed.</summary>
/// <param name="Turn">This request's turn; turns from claimed blocks are distinct across every instance.</param>
/// <param name="Cooldowns">Active cooldowns by <see cref="CooldownKeys"/> key.</param>
/// <param name="Shared">False when the turn is this instance's alone (no claimed turn was left and the store could not give one in time).</param>
internal readonly record struct TurnClaim(long Turn, ImmutableDictionary<string, Cooldown> Cooldowns, bool Shared);

/// <summary>Counts of what the shared state did, for tests, benchmarks and status.</summary>
/// <param name="SharedClaims">Claims served from a claimed block.</param>
/// <param name="LocalClaims">Claims served with a turn of this instance alone.</param>
/// <param name="WaitedClaims">Claims that waited for a sync (start-up, after idling, or a burst beyond the block).</param>
/// <param name="Syncs">Completed syncs with the store.</param>
/// <param name="LostRaces">Compare-and-swap writes that lost to another instance.</param>
internal readonly record struct SharedStateCounters(long SharedClaims, long LocalClaims, long WaitedClaims, long Syncs, long LostRaces);

/// <summary>
/// This instance's view of the state shared by all instances (the round-robin cursor and the cooldowns) and the
/// background work that keeps it current. Requests never wait for the store at steady state:
/// <list type="bullet">
/// <item>Turns come from blocks claimed ahead from the shared cursor by compare-and-swap, sized by
/// <see cref="TurnBlockPolicy"/> to this instance's rate, so turns stay distinct across the fleet while the cursor is
/// written a few times per second fleet-wide.</item>
/// <item>Cooldowns are read from the store every <see cref="ProxyOptions.StateSyncInterval"/> while the instance has
/// traffic (none while idle), and a cooldown recorded here is published at once, so every busy instance honours it
/// within one interval plus two store round trips.</item>
/// </list>
/// A claim waits (at most <see cref="ProxyOptions.StateTimeout"/>) only when this instance has no current view: at
/// start-up, after <see cref="IdleAfter"/> without traffic, or when a burst used every claimed turn before the next
/// block arrived.
/// <para>
/// The store never takes the proxy down: a failed or slow store operation puts the instance on local state (turns left
/// in its blocks, then turns of its own; its own cooldowns), warns once, and leaves the store alone until a probe (the
/// table creation, every <see cref="OutageProbeInterval"/>) succeeds. Cooldowns recorded meanwhile are published then.
/// </para>
/// </summary>
internal sealed class SharedState : IAsyncDisposable
{
    /// <summary>How long the store is left alone after a failure before the next probe.</summary>
    internal static readonly TimeSpan OutageProbeInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Budget of the start-up step (create the table; with managed identity, also the first token fetch, which can take
    /// seconds). Requests meanwhile go ahead on local state; the step is retried until it succeeds.
    /// </summary>
    internal static readonly TimeSpan InitializeBudget = TimeSpan.FromSeconds(30);

    /// <summary>Without a claim for this long the instance stops syncing; its next claim waits for a fresh view.</summary>
    internal static readonly TimeSpan IdleAfter = TimeSpan.FromSeconds(30);

    /// <summary>Compare-and-swap attempts of one write within a sync before leaving it to the next sync.</summary>
    private const int MaxWriteAttempts = 4;

    /// <summary>How much a sync interval varies either way (see the jitter parameter).</summary>
    private const double JitterShare = 0.1;

    private readonly IStateStore _store;
    private readonly TimeProvider _time;
    private readonly TimeSpan _budget;
    private readonly TimeSpan _interval;
    private readonly ILogger<SharedState> _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private readonly TurnBlocks _blocks = new();
    private readonly Task _loop;
    private readonly Random _jitter;

    // Wakes the loop before its interval: a cooldown to publish, turns running low, a claim without a view.
    private TaskCompletionSource _wake = NewSignal();

    // Completed (and replaced) at the end of every sync attempt; claims without a view wait on it.
    private TaskCompletionSource _synced = NewSignal();

    // The signal a claim already waited the whole budget for: later claims do not wait for that sync again.
    private TaskCompletionSource? _overdue;

    // Swapped atomically; read by requests without locks.
    private ImmutableDictionary<string, Cooldown> _cooldowns = StoreRead.NoCooldowns;

    // Request path -> loop.
    private long _claimsSinceSync;
    private long _lastClaimTimestamp;
    private long _wakeBelow = TurnBlockPolicy.MinLead / 2;
    private long _waiting;
    private int _publishPending;

    // Loop -> request path: 1 while the loop sleeps until woken (no traffic for IdleAfter).
    private int _sleeping;

    // Loop -> request path. NoView until the first successful read (0 is a valid timestamp).
    private const long NoView = long.MinValue;
    private long _viewTimestamp = NoView;
    private volatile bool _healthy = true;

    // Owned by the loop.
    private bool _initialized;
    private bool _inOutage;
    private string? _cursorETag;
    private long _storeCursor;
    private string? _cooldownsETag;
    private ImmutableDictionary<string, Cooldown> _published = StoreRead.NoCooldowns;
    private double _rate;
    private long _lastSyncTimestamp;

    // Counters (Interlocked).
    private long _sharedClaims;
    private long _localClaims;
    private long _waitedClaims;
    private long _syncs;
    private long _lostRaces;
    private int _disposed;

    public SharedState(IStateStore store, ProxyOptions options, TimeProvider time, ILogger<SharedState> logger)
        : this(store, options, time, logger, Random.Shared)
    {
    }

    /// <param name="store">Where the state is shared.</param>
    /// <param name="options">The state budget and sync interval.</param>
    /// <param name="time">The clock for intervals, budgets and deadlines.</param>
    /// <param name="logger">Store outages and recoveries.</param>
    /// <param name="jitter">Spreads the instances' sync times (each wait is the interval ± 10%), so a fleet started
    /// together does not read and write the store in lock-step; seeded in simulations.</param>
    internal SharedState(IStateStore store, ProxyOptions options, TimeProvider time, ILogger<SharedState> logger, Random jitter)
    {
        ArgumentNullException.ThrowIfNull(options);
        _jitter = jitter;
        _store = store;
        _time = time;
        _budget = options.StateTimeout;
        _interval = options.StateSyncInterval;
        _logger = logger;
        _lastClaimTimestamp = time.GetTimestamp();
        _lastSyncTimestamp = _lastClaimTimestamp;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>The cooldowns this instance knows of right now (its own and those read from the store).</summary>
    public ImmutableDictionary<string, Cooldown> Cooldowns => Volatile.Read(ref _cooldowns);

    /// <summary>What the shared state has done so far.</summary>
    public SharedStateCounters Counters => new(
        Interlocked.Read(ref _sharedClaims), Interlocked.Read(ref _localClaims), Interlocked.Read(ref _waitedClaims),
        Interlocked.Read(ref _syncs), Interlocked.Read(ref _lostRaces));

    /// <summary>True while the last store operation succeeded (or none has failed yet).</summary>
    public bool StoreHealthy => _healthy;

    /// <summary>The shared cursor as last read or written by this instance (the first turn nobody has claimed), for status.</summary>
    public long StoreCursor => Interlocked.Read(ref _storeCursor);

    /// <summary>
    /// Claims the next round-robin turn. At steady state this takes a turn from a claimed block and returns at once;
    /// it waits (at most the state budget) only when this instance has no current view or no turn left.
    /// </summary>
    public ValueTask<TurnClaim> ClaimAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var now = _time.GetTimestamp();
        Volatile.Write(ref _lastClaimTimestamp, now);
        Interlocked.Increment(ref _claimsSinceSync);
        if (HasFreshView(now))
        {
            lock (_gate)
            {
                if (_blocks.TryTake(out var turn))
                {
                    if (_blocks.Remaining < Volatile.Read(ref _wakeBelow))
                    {
                        Wake();
                    }

                    Interlocked.Increment(ref _sharedClaims);
                    return new ValueTask<TurnClaim>(new TurnClaim(turn, Cooldowns, Shared: true));
                }
            }
        }

        return WaitAndClaimAsync(cancellationToken);
    }

    /// <summary>Records a cooldown locally at once (never shortening a longer one) and has it published in the background.</summary>
    public void RecordCooldown(string key, Cooldown cooldown)
    {
        ImmutableInterlocked.AddOrUpdate(ref _cooldowns, key, cooldown, (_, existing) => Cooldown.Merge(existing, cooldown));
        Volatile.Write(ref _publishPending, 1);
        Wake();
    }

    public async ValueTask DisposeAsync()
    {
        // Idempotent: the host disposes singletons, and a host may also dispose this earlier when it stops.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
        finally
        {
            // Nobody waits forever for a sync that will not come.
            Volatile.Read(ref _synced).TrySetResult();
            _stopping.Dispose();
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// True while the loop keeps the view current. Once it has stopped for idling, its last read (taken up to
    /// <see cref="IdleAfter"/> after the last claim) may still be young, but nothing refreshes it any more: the next
    /// claim waits for a sync, which also restarts the interval.
    /// </summary>
    private bool HasFreshView(long now)
    {
        var view = Volatile.Read(ref _viewTimestamp);
        return view != NoView && Volatile.Read(ref _sleeping) == 0 && _time.GetElapsedTime(view, now) < IdleAfter;
    }

    private void Wake() => Volatile.Read(ref _wake).TrySetResult();

    /// <summary>The slow path: wait for a sync (only while the store is healthy, within budget), then claim.</summary>
    private async ValueTask<TurnClaim> WaitAndClaimAsync(CancellationToken cancellationToken)
    {
        // A sync that outlasted one claim's budget (a hanging table creation at start-up can take InitializeBudget)
        // would cost every later claim its budget too: they go ahead until that sync ends, whichever way it ends.
        if (_healthy && !ReferenceEquals(Volatile.Read(ref _synced), Volatile.Read(ref _overdue)))
        {
            Interlocked.Increment(ref _waitedClaims);
            var started = _time.GetTimestamp();

            // Counted so that the refill claims a turn for every waiting claim, whatever the rate says.
            Interlocked.Increment(ref _waiting);
            try
            {
                // A sync already under way may have decided its refill before this claim: wait for one more if time is left.
                for (var round = 0; round < 2; round++)
                {
                    var left = _budget - _time.GetElapsedTime(started);
                    if (left <= TimeSpan.Zero || !_healthy || HasTurnWithView())
                    {
                        break;
                    }

                    var synced = Volatile.Read(ref _synced);
                    Wake();
                    try
                    {
                        await synced.Task.WaitAsync(left, _time, cancellationToken).ConfigureAwait(false);
                    }
                    catch (TimeoutException)
                    {
                        // Only a sync this claim waited its whole budget for is overdue (not one it met late).
                        if (round == 0)
                        {
                            Volatile.Write(ref _overdue, synced);
                        }

                        break;
                    }
                }
            }
            finally
            {
                Interlocked.Decrement(ref _waiting);
            }
        }

        lock (_gate)
        {
            if (_blocks.TryTake(out var turn))
            {
                Interlocked.Increment(ref _sharedClaims);
                return new TurnClaim(turn, Cooldowns, Shared: true);
            }

            Interlocked.Increment(ref _localClaims);
            Wake();
            return new TurnClaim(_blocks.TakeLocal(), Cooldowns, Shared: false);
        }
    }

    private bool HasTurnWithView()
    {
        if (!HasFreshView(_time.GetTimestamp()))
        {
            return false;
        }

        lock (_gate)
        {
            return _blocks.Remaining > 0;
        }
    }

    private async Task RunAsync()
    {
        var token = _stopping.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                await SyncOnceAsync(token).ConfigureAwait(false);
                var synced = Interlocked.Exchange(ref _synced, NewSignal());
                synced.TrySetResult();
                await WaitForWorkAsync(token).ConfigureAwait(false);
            }
        }
        catch (Exception) when (token.IsCancellationRequested)
        {
            // Disposed. A store call cancelled by the stop may also end in a store error (a connection torn down
            // mid-call); either way it is of no interest any more and must not fault the loop that DisposeAsync awaits.
        }
    }

    /// <summary>
    /// Waits for the next sync: the interval while the instance has traffic, a wake-up (publish, refill, a claim without
    /// a view), or, during an outage, only the probe interval, so a failing store is left alone.
    /// </summary>
    private async Task WaitForWorkAsync(CancellationToken token)
    {
        var wake = Volatile.Read(ref _wake);
        if (_inOutage)
        {
            await Task.Delay(OutageProbeInterval, _time, token).ConfigureAwait(false);
        }
        else if (IsActive())
        {
            await Task.WhenAny(wake.Task, Task.Delay(NextInterval(), _time, token)).ConfigureAwait(false);
            token.ThrowIfCancellationRequested();
        }
        else
        {
            // A full fence (as the claim's Interlocked increment is between its timestamp and its read of the flag):
            // a claim either sees the flag (so it has no fresh view and wakes the loop), or its timestamp is seen here.
            Interlocked.Exchange(ref _sleeping, 1);
            try
            {
                if (!IsActive())
                {
                    await wake.Task.WaitAsync(token).ConfigureAwait(false);
                }
            }
            finally
            {
                Volatile.Write(ref _sleeping, 0);
            }
        }

        Interlocked.CompareExchange(ref _wake, NewSignal(), wake);
    }

    private TimeSpan NextInterval()
    {
        double factor;
        lock (_jitter)
        {
            factor = 1 + (JitterShare * ((2 * _jitter.NextDouble()) - 1));
        }

        return _interval * factor;
    }

    private bool IsActive() =>
        Volatile.Read(ref _publishPending) != 0
        || _time.GetElapsedTime(Volatile.Read(ref _lastClaimTimestamp)) < IdleAfter;

    /// <summary>One sync: (probe,) read, publish what is new here, claim a block if the turns run low.</summary>
    private async Task SyncOnceAsync(CancellationToken stopping)
    {
        var timedOut = false;
        try
        {
            if (!_initialized)
            {
                await InitializeAsync(stopping).ConfigureAwait(false);
            }

            var read = await CallAsync(_store.ReadAsync, stopping).ConfigureAwait(false);
            Learn(read);
            Volatile.Write(ref _viewTimestamp, _time.GetTimestamp());
            await PublishAsync(stopping).ConfigureAwait(false);
            await RefillAsync(stopping).ConfigureAwait(false);
            Interlocked.Increment(ref _syncs);
            if (_inOutage)
            {
                _inOutage = false;
                Log.StateStoreRecovered(_logger, _store.Description);
            }

            // Last: whoever watches StoreHealthy sees the log line of the change already written.
            _healthy = true;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException)
        {
            timedOut = true;
            EnterOutage(null, timedOut);
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            EnterOutage(ex, timedOut);
        }
    }

    private async Task InitializeAsync(CancellationToken stopping)
    {
        using var budget = new CancellationTokenSource(InitializeBudget, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, stopping);
        try
        {
            await _store.InitializeAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested && !_inOutage)
        {
            // At start-up this is the one warning; the probe retries every OutageProbeInterval.
            Log.StateStoreInitializationFailed(_logger, _store.Description, ex.GetType().Name, ex.Message);
            _inOutage = true;
            throw new StoreOutageAlreadyReportedException();
        }

        _initialized = true;
        if (!_inOutage)
        {
            Log.StateStoreReady(_logger, _store.Description);
        }
    }

    /// <summary>Merges what the store holds into the local view and remembers the versions to write against.</summary>
    private void Learn(StoreRead read)
    {
        _storeCursor = read.Cursor;
        _cursorETag = read.CursorETag;
        _cooldownsETag = read.CooldownsETag;
        _published = read.Cooldowns;
        var now = _time.GetUtcNow();
        // Expired entries leave the local map here too (no allocation unless something changed).
        ImmutableInterlocked.Update(
            ref _cooldowns,
            static (local, arg) => CooldownMaps.Live(CooldownMaps.Merge(local, arg.Remote, arg.Now), arg.Now),
            (Remote: read.Cooldowns, Now: now));
    }

    /// <summary>Writes the merged cooldowns when this instance knows one the store lacks (or holds shorter).</summary>
    private async Task PublishAsync(CancellationToken stopping)
    {
        if (Interlocked.Exchange(ref _publishPending, 0) == 0)
        {
            return;
        }

        try
        {
            for (var attempt = 0; attempt < MaxWriteAttempts; attempt++)
            {
                var now = _time.GetUtcNow();
                var live = CooldownMaps.Live(Cooldowns, now);
                if (!CooldownMaps.HasNews(live, _published, now))
                {
                    return;
                }

                var write = await CallAsync(t => _store.WriteCooldownsAsync(live, _cooldownsETag, t), stopping).ConfigureAwait(false);
                if (write.Outcome == WriteOutcome.Written)
                {
                    _cooldownsETag = write.ETag;
                    _published = live;
                    return;
                }

                Interlocked.Increment(ref _lostRaces);
                Learn(await CallAsync(_store.ReadAsync, stopping).ConfigureAwait(false));
            }

            // Still contended: the next sync tries again.
            Volatile.Write(ref _publishPending, 1);
        }
        catch
        {
            Volatile.Write(ref _publishPending, 1);
            throw;
        }
    }

    /// <summary>Claims the next block of turns when fewer than the refill lead are left.</summary>
    private async Task RefillAsync(CancellationToken stopping)
    {
        var now = _time.GetTimestamp();
        var claims = Interlocked.Exchange(ref _claimsSinceSync, 0);
        // Over at least one interval: a sync woken right after a claim would otherwise see a rate of thousands per second.
        var elapsed = _time.GetElapsedTime(_lastSyncTimestamp, now);
        _rate = TurnBlockPolicy.NextRate(_rate, claims, elapsed < _interval ? _interval : elapsed);
        _lastSyncTimestamp = now;
        // The periodic sync claims the next block while RefillLead (longer than an interval) of turns is left; a claim
        // wakes the loop early only when half of that is gone (a burst), so steady traffic costs no extra sync.
        Volatile.Write(ref _wakeBelow, TurnBlockPolicy.RefillBelow(_rate) / 2);

        long remaining;
        lock (_gate)
        {
            remaining = _blocks.Remaining;
        }

        // An instance that has never been asked for a turn claims none (nothing to waste), unless it is at start-up.
        var waiting = Interlocked.Read(ref _waiting);
        var size = TurnBlockPolicy.BlockToClaim(remaining, _rate, waiting);
        if (size == 0 || (claims == 0 && waiting == 0 && remaining > 0))
        {
            return;
        }

        for (var attempt = 0; attempt < MaxWriteAttempts; attempt++)
        {
            var first = _storeCursor;
            var write = await CallAsync(t => _store.WriteCursorAsync(first + size, _cursorETag, t), stopping).ConfigureAwait(false);
            if (write.Outcome == WriteOutcome.Written)
            {
                _cursorETag = write.ETag;
                _storeCursor = first + size;
                lock (_gate)
                {
                    _blocks.Add(first, size);
                }

                return;
            }

            Interlocked.Increment(ref _lostRaces);

            // Lost to another instance. While more than two intervals of turns are left (the next sync may come 10%
            // late and take a round trip or two), the next sync, with a fresh read anyway, tries again: retrying at
            // once would meet the same crowd, at a read and a write each time.
            if (remaining - waiting > 2 * _rate * _interval.TotalSeconds && remaining - waiting >= TurnBlockPolicy.MinLead)
            {
                return;
            }

            Learn(await CallAsync(_store.ReadAsync, stopping).ConfigureAwait(false));
        }
    }

    /// <summary>One store operation within the state budget.</summary>
    private async Task<T> CallAsync<T>(Func<CancellationToken, Task<T>> operation, CancellationToken stopping)
    {
        using var budget = new CancellationTokenSource(_budget, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, stopping);
        return await operation(linked.Token).ConfigureAwait(false);
    }

    private void EnterOutage(Exception? ex, bool timedOut)
    {
        // Whatever was learnt may be stale once the store is back; the probe re-creates a table that vanished.
        _initialized = false;
        if (ex is not StoreOutageAlreadyReportedException && !_inOutage)
        {
            _inOutage = true;
            if (timedOut)
            {
                Log.StateStoreTimedOut(_logger, _store.Description, (long)_budget.TotalMilliseconds);
            }
            else
            {
                Log.StateStoreUnavailable(_logger, _store.Description, ex!.GetType().Name, ex.Message);
            }
        }

        _healthy = false;

        // Learn drops expired cooldowns at every sync; without syncs this does, at every probe, or the keys recorded
        // during a long outage (deployment names come from callers) would pile up until the store is back.
        ImmutableInterlocked.Update(ref _cooldowns, static (local, now) => CooldownMaps.Live(local, now), _time.GetUtcNow());
    }

    /// <summary>Initialization failed and was logged as such; the sync stops here without a second warning.</summary>
    private sealed class StoreOutageAlreadyReportedException : Exception;
}
