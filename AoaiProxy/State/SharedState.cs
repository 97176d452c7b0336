using System.Collections.Immutable;
using AoaiProxy.Configuration;

namespace AoaiProxy.State;

/// <summary>A claimed round-robin turn and the cooldowns known when it was claimed.</summary>
/// <param name="Turn">This request's turn; turns from claimed blocks are distinct across every instance.</param>
/// <param name="Cooldowns">Active cooldowns by <see cref="CooldownKeys"/> key.</param>
/// <param name="Shared">False when the turn is this instance's alone (no claimed turn was left and the store could not give one in time).</param>
internal readonly record struct TurnClaim(long Turn, ImmutableDictionary<string, Cooldown> Cooldowns, bool Shared);

/// <summary>
/// This instance's view of the state shared by all instances (the round-robin turns and the cooldowns), as requests
/// read it. Requests never wait for the store at steady state:
/// <list type="bullet">
/// <item>Turns come from blocks claimed ahead from the shared cursor (<see cref="SharedTurns"/>), so a claim is a lock
/// and an increment.</item>
/// <item>Cooldowns are read from the store every <see cref="ProxyOptions.StateSyncInterval"/> while the instance has
/// traffic (none while idle), and a cooldown recorded here is published at once (<see cref="SharedCooldowns"/>), so
/// every busy instance honours it within one interval plus two store round trips.</item>
/// </list>
/// A claim waits (at most <see cref="ProxyOptions.StateTimeout"/>) only when this instance has no current view: at
/// start-up, after <see cref="SharedStateSync.IdleAfter"/> without traffic, or when a burst used every claimed turn
/// before the next block arrived; and only while the store is healthy (<see cref="StoreOutage"/>).
/// <see cref="SharedStateSync"/> keeps the view current, one <see cref="SyncRound"/> at a time;
/// <see cref="SharedStateParts"/> puts them together.
/// </summary>
internal sealed class SharedState : IAsyncDisposable
{
    private readonly SharedTurns _turns;
    private readonly SharedCooldowns _cooldowns;
    private readonly SyncSignals _signals;
    private readonly StoreOutage _outage;
    private readonly SharedStateTally _tally;
    private readonly TimeProvider _time;
    private readonly TimeSpan _budget;

    // The sync a claim already waited the whole budget for: later claims do not wait for that sync again.
    private Task? _overdue;
    private int _disposed;

    /// <param name="turns">The turns claimed ahead.</param>
    /// <param name="cooldowns">The cooldowns known here.</param>
    /// <param name="signals">Wake-ups to the loop; the end of each sync, the view's age and idling from it.</param>
    /// <param name="outage">Whether the store is healthy (claims wait for a sync only then).</param>
    /// <param name="tally">Counts the claims.</param>
    /// <param name="options">The state budget a claim may wait.</param>
    /// <param name="time">The clock of claims and budgets.</param>
    public SharedState(
        SharedTurns turns, SharedCooldowns cooldowns, SyncSignals signals, StoreOutage outage, SharedStateTally tally, ProxyOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _turns = turns;
        _cooldowns = cooldowns;
        _signals = signals;
        _outage = outage;
        _tally = tally;
        _time = time;
        _budget = options.StateTimeout;
    }

    /// <summary>The cooldowns this instance knows of right now (its own and those read from the store).</summary>
    public ImmutableDictionary<string, Cooldown> Cooldowns => _cooldowns.Known;

    /// <summary>What the shared state has done so far.</summary>
    public SharedStateCounters Counters => _tally.Snapshot;

    /// <summary>True while the last store operation succeeded (or none has failed yet).</summary>
    public bool StoreHealthy => _outage.Healthy;

    /// <summary>The shared cursor as last read or written by this instance (the first turn nobody has claimed), for status.</summary>
    public long StoreCursor => _turns.StoreCursor;

    /// <summary>
    /// Claims the next round-robin turn. At steady state this takes a turn from a claimed block and returns at once;
    /// it waits (at most the state budget) only when this instance has no current view or no turn left.
    /// </summary>
    public ValueTask<TurnClaim> ClaimAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var now = _time.GetTimestamp();
        _signals.Claimed(now);
        // A full fence between the claim's time and its read of the loop's sleeping flag (see SyncSignals.Sleep).
        _turns.CountClaim();
        if (_signals.HasFreshView(now) && _turns.TryTake(out var turn, out var runningLow))
        {
            if (runningLow)
            {
                _signals.Wake();
            }

            _tally.SharedClaim();
            return new ValueTask<TurnClaim>(new TurnClaim(turn, Cooldowns, Shared: true));
        }

        return WaitAndClaimAsync(cancellationToken);
    }

    /// <summary>Records a cooldown locally at once (never shortening a longer one) and has it published in the background.</summary>
    public void RecordCooldown(string key, Cooldown cooldown)
    {
        _cooldowns.Record(key, cooldown);
        _signals.Wake();
    }

    /// <summary>Refuses later claims and releases those waiting for a sync. Idempotent.</summary>
    public ValueTask DisposeAsync()
    {
        // The host disposes singletons, and a host may also dispose this earlier when it stops.
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _signals.Release();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>The slow path: wait for a sync (only while the store is healthy, within budget), then claim.</summary>
    private async ValueTask<TurnClaim> WaitAndClaimAsync(CancellationToken cancellationToken)
    {
        // A sync that outlasted one claim's budget (a hanging table creation at start-up can take the initialization
        // budget) would cost every later claim its budget too: they go ahead until that sync ends, whichever way it ends.
        if (_outage.Healthy && !_signals.Released && !ReferenceEquals(_signals.NextSync, Volatile.Read(ref _overdue)))
        {
            _tally.WaitedClaim();
            var started = _time.GetTimestamp();

            // Counted so that the refill claims a turn for every waiting claim, whatever the rate says.
            _turns.BeginWait();
            try
            {
                // A sync already under way may have decided its refill before this claim: wait for one more if time is left.
                for (var round = 0; round < 2; round++)
                {
                    var left = _budget - _time.GetElapsedTime(started);
                    if (left <= TimeSpan.Zero || !_outage.Healthy || HasTurnWithView())
                    {
                        break;
                    }

                    var synced = _signals.NextSync;
                    _signals.Wake();
                    try
                    {
                        await synced.WaitAsync(left, _time, cancellationToken).ConfigureAwait(false);
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
                _turns.EndWait();
            }
        }

        var turn = _turns.Take(out var shared);
        if (shared)
        {
            _tally.SharedClaim();
        }
        else
        {
            _tally.LocalClaim();
            _signals.Wake();
        }

        return new TurnClaim(turn, Cooldowns, shared);
    }

    private bool HasTurnWithView() => _signals.HasFreshView(_time.GetTimestamp()) && _turns.HasTurn();
}
