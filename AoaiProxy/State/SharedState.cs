using System.Collections.Immutable;
using System.Threading.Channels;
using AoaiProxy.Configuration;
using AoaiProxy.Logging;
using AoaiProxy.Throttling;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.State;

/// <summary>A claimed round-robin turn and the cooldowns known to be current when it was claimed.</summary>
/// <param name="Turn">This request's turn; concurrent claims from any number of instances get distinct turns.</param>
/// <param name="Cooldowns">Active cooldowns by <see cref="CooldownKeys"/> key.</param>
/// <param name="Shared">False when the store was unavailable and the turn is per-instance.</param>
internal readonly record struct TurnClaim(long Turn, ImmutableDictionary<string, Cooldown> Cooldowns, bool Shared);

/// <summary>
/// Coordinates the cursor and the cooldowns of all instances through an <see cref="IStateStore"/>.
/// <para>
/// Both live in one document, updated only by compare-and-swap of the whole document. A successful swap therefore
/// proves that the local copy of the cooldowns was current, and a lost race re-reads them: a cooldown written by any
/// instance is seen by every other one at its next claim. At steady state a claim costs one store round trip (the
/// conditional write with the cached ETag); a lost race costs a read and another write.
/// </para>
/// <para>
/// Claims are served by one loop that batches every claim waiting at that moment into a single swap advancing the cursor
/// by the batch size, so concurrent requests on one instance do not race each other for the same document.
/// Recording a cooldown updates local state at once and asks the loop to write it; the request never waits for that.
/// </para>
/// <para>
/// The store never takes the proxy down: an error, or a batch exceeding <see cref="ProxyOptions.StateTimeout"/>, serves
/// the batch from local state, warns once, and leaves the store alone until a probe (the start-up initialization, retried
/// every <see cref="OutageProbeInterval"/>) succeeds again.
/// Local cooldowns recorded meanwhile are merged into the next successful write.
/// </para>
/// </summary>
internal sealed class SharedState : IAsyncDisposable
{
    /// <summary>How long the store is left alone after a failure before the next claim probes it again.</summary>
    internal static readonly TimeSpan OutageProbeInterval = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Budget of the start-up step (create the table; with managed identity, also the first token fetch, which can take
    /// seconds). Requests meanwhile go ahead on local state; the step is retried until it succeeds.
    /// </summary>
    internal static readonly TimeSpan InitializeBudget = TimeSpan.FromSeconds(30);

    private readonly IStateStore _store;
    private readonly TimeProvider _time;
    private readonly TimeSpan _budget;
    private readonly ILogger<SharedState> _logger;
    private readonly Channel<TaskCompletionSource<TurnClaim>?> _requests =
        Channel.CreateUnbounded<TaskCompletionSource<TurnClaim>?>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private Task _initialization = Task.CompletedTask;
    private int _initializing;
    private int _disposed;

    // Swapped atomically; read by requests without locks.
    private ImmutableDictionary<string, Cooldown> _cooldowns = StateDocument.Empty.Cooldowns;
    private int _dirty;

    // Owned by the loop.
    private long _cursor;
    private string? _etag;
    private bool _haveRead;
    private volatile bool _inOutage;
    private volatile bool _initialized;

    public SharedState(IStateStore store, ProxyOptions options, TimeProvider time, ILogger<SharedState> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        _time = time;
        _budget = options.StateTimeout;
        _logger = logger;
        _loop = Task.Run(RunAsync);
        StartInitialization();
    }

    /// <summary>The cooldowns this instance knows of right now (its own and those read from the store).</summary>
    public ImmutableDictionary<string, Cooldown> Cooldowns => Volatile.Read(ref _cooldowns);

    /// <summary>Claims the next round-robin turn. Waits at most for the batch in flight and its own (each within budget).</summary>
    public async ValueTask<TurnClaim> ClaimAsync(CancellationToken cancellationToken)
    {
        var claim = new TaskCompletionSource<TurnClaim>(TaskCreationOptions.RunContinuationsAsynchronously);
        ObjectDisposedException.ThrowIf(!_requests.Writer.TryWrite(claim), this);

        return await claim.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Records a cooldown locally at once (never shortening a longer one) and has it written in the background.</summary>
    public void RecordCooldown(string key, Cooldown cooldown)
    {
        ImmutableInterlocked.AddOrUpdate(ref _cooldowns, key, cooldown, (_, existing) => CooldownPolicy.Merge(existing, cooldown));
        Volatile.Write(ref _dirty, 1);
        _requests.Writer.TryWrite(null);
    }

    public async ValueTask DisposeAsync()
    {
        // Idempotent: the host disposes singletons, and a host may also dispose this earlier when it stops.
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        _requests.Writer.TryComplete();
        await _stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(_loop, Volatile.Read(ref _initialization)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }

        _stopping.Dispose();
    }

    /// <summary>Runs <see cref="InitializeAsync"/> unless it is already running.</summary>
    /// <param name="afterFailure">
    /// After a store failure the probe first waits <see cref="OutageProbeInterval"/>: table creation can succeed at once
    /// while reads and writes fail or are slow, and an immediate "recovery" would put the store straight back on the
    /// request path (or spin against it).
    /// </param>
    private void StartInitialization(bool afterFailure = false)
    {
        if (Interlocked.Exchange(ref _initializing, 1) == 0)
        {
            Volatile.Write(ref _initialization, Task.Run(() => InitializeAsync(afterFailure)));
        }
    }

    /// <summary>
    /// Creates the table (idempotent) and then lets the loop use the store; retried every
    /// <see cref="OutageProbeInterval"/> until it works. It runs at start-up and again after any store failure, so it is
    /// also the outage probe, and a table that vanished (deleted, emulator restarted) is created again.
    /// </summary>
    private async Task InitializeAsync(bool afterFailure)
    {
        var succeeded = false;
        try
        {
            if (afterFailure)
            {
                await Task.Delay(OutageProbeInterval, _time, _stopping.Token).ConfigureAwait(false);
            }

            var failures = 0;
            while (!_stopping.IsCancellationRequested)
            {
                using (var budget = new CancellationTokenSource(InitializeBudget, _time))
                using (var linked = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, _stopping.Token))
                {
                    try
                    {
                        await _store.InitializeAsync(linked.Token).ConfigureAwait(false);

                        // Cleared first: a failure right after the loop starts using the store must be able to start a new probe.
                        succeeded = true;
                        Volatile.Write(ref _initializing, 0);
                        _initialized = true;
                        if (!_inOutage)
                        {
                            Log.StateStoreReady(_logger, _store.Description);
                        }

                        // Learn the current state (and write what was recorded meanwhile) now rather than on the next request.
                        _requests.Writer.TryWrite(null);
                        return;
                    }
                    catch (Exception ex) when (!_stopping.IsCancellationRequested)
                    {
                        // During an outage the loop has already warned once; at start-up this is the one warning.
                        if (failures++ == 0 && !_inOutage)
                        {
                            Log.StateStoreInitializationFailed(_logger, _store.Description, ex.GetType().Name, ex.Message);
                        }
                    }
                }

                await Task.Delay(OutageProbeInterval, _time, _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            if (!succeeded)
            {
                Volatile.Write(ref _initializing, 0);
            }
        }
    }

    private async Task RunAsync()
    {
        var reader = _requests.Reader;
        var batch = new List<TaskCompletionSource<TurnClaim>>();
        try
        {
            while (await reader.WaitToReadAsync(_stopping.Token).ConfigureAwait(false))
            {
                batch.Clear();
                while (reader.TryRead(out var item))
                {
                    if (item is not null)
                    {
                        batch.Add(item);
                    }
                }

                var (first, shared) = await AdvanceAsync(batch.Count).ConfigureAwait(false);
                var snapshot = Volatile.Read(ref _cooldowns);
                for (var i = 0; i < batch.Count; i++)
                {
                    batch[i].TrySetResult(new TurnClaim(first + i, snapshot, shared));
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Disposed, possibly while a batch waited for the store.
        }
        finally
        {
            // Nobody waits forever: the batch in flight (already answered claims ignore this) and whatever is still queued.
            foreach (var claim in batch)
            {
                claim.TrySetException(new ObjectDisposedException(nameof(SharedState)));
            }

            while (reader.TryRead(out var late))
            {
                late?.TrySetException(new ObjectDisposedException(nameof(SharedState)));
            }
        }
    }

    /// <summary>Claims <paramref name="count"/> turns (0: just write pending cooldowns, or learn the state).</summary>
    private async Task<(long First, bool Shared)> AdvanceAsync(int count)
    {
        if (!_initialized)
        {
            return (TakeLocal(count), false);
        }

        if (count == 0 && _haveRead && Volatile.Read(ref _dirty) == 0)
        {
            return (_cursor, true);
        }

        using var budget = new CancellationTokenSource(_budget, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(budget.Token, _stopping.Token);
        var token = linked.Token;
        try
        {
            if (!_haveRead)
            {
                await ReadAsync(token).ConfigureAwait(false);
            }

            while (count > 0 || Volatile.Read(ref _dirty) != 0)
            {
                // Cleared before the snapshot: a cooldown recorded after this point marks the state dirty again.
                Volatile.Write(ref _dirty, 0);
                var live = Prune(_time.GetUtcNow());
                var write = await _store.WriteAsync(new StateDocument(_cursor + count, live), _etag, token).ConfigureAwait(false);
                if (write.Outcome == WriteOutcome.Written)
                {
                    var first = _cursor;
                    _cursor += count;
                    _etag = write.ETag;
                    LeaveOutage();
                    return (first, true);
                }

                // Lost the race: somebody else's write is newer. Learn it (cursor, cooldowns, ETag) and go again.
                Volatile.Write(ref _dirty, 1);
                await ReadAsync(token).ConfigureAwait(false);
            }

            LeaveOutage();
            return (_cursor, true);
        }
        catch (Exception ex) when (!_stopping.IsCancellationRequested)
        {
            // Whatever was not written is still in the local map: write it once the store is back.
            Volatile.Write(ref _dirty, 1);
            EnterOutage(ex, budget.IsCancellationRequested);
            return (TakeLocal(count), false);
        }
    }

    private async Task ReadAsync(CancellationToken token)
    {
        var read = await _store.ReadAsync(token).ConfigureAwait(false);
        _etag = read.ETag;
        _haveRead = true;
        if (read.Document is { } document)
        {
            _cursor = document.Cursor;
            if (!document.Cooldowns.IsEmpty)
            {
                ImmutableInterlocked.Update(ref _cooldowns, (local, remote) =>
                {
                    var merged = local;
                    foreach (var (key, cooldown) in remote)
                    {
                        merged = merged.TryGetValue(key, out var mine)
                            ? merged.SetItem(key, CooldownPolicy.Merge(mine, cooldown))
                            : merged.Add(key, cooldown);
                    }

                    return merged;
                }, document.Cooldowns);
            }
        }
    }

    /// <summary>Drops expired cooldowns locally and returns what is still live (what gets written).</summary>
    private ImmutableDictionary<string, Cooldown> Prune(DateTimeOffset now)
    {
        // Runs before every write, so once per claimed batch: a plain loop that allocates nothing unless something
        // expired (LINQ here cost a closure, two iterators, a boxed enumerator and a list every time).
        ImmutableInterlocked.Update(ref _cooldowns, static (map, at) =>
        {
            List<string>? expired = null;
            foreach (var (key, cooldown) in map)
            {
                if (cooldown.Until <= at)
                {
                    (expired ??= []).Add(key);
                }
            }

            return expired is null ? map : map.RemoveRange(expired);
        }, now);
        return Volatile.Read(ref _cooldowns);
    }

    private long TakeLocal(int count)
    {
        var first = _cursor;
        _cursor += count;
        return first;
    }

    private void EnterOutage(Exception ex, bool timedOut)
    {
        // Whatever we knew may be stale once the store is back: re-read before the next write. Until the probe
        // (initialization) succeeds again, the loop serves from local state without touching the store.
        _haveRead = false;
        _initialized = false;
        var first = !_inOutage;
        _inOutage = true;
        StartInitialization(afterFailure: true);
        if (first)
        {
            if (timedOut)
            {
                Log.StateStoreTimedOut(_logger, _store.Description, (long)_budget.TotalMilliseconds);
            }
            else
            {
                Log.StateStoreUnavailable(_logger, _store.Description, ex.GetType().Name, ex.Message);
            }
        }
    }

    private void LeaveOutage()
    {
        if (_inOutage)
        {
            _inOutage = false;
            Log.StateStoreRecovered(_logger, _store.Description);
        }
    }
}
