using AoaiProxy.Configuration;

namespace AoaiProxy.State;

/// <summary>
/// The round-robin turns of this instance: blocks claimed ahead from the shared cursor by compare-and-swap, sized by
/// <see cref="TurnBlockPolicy"/> to this instance's claim rate, so turns stay distinct across the fleet while the
/// cursor is written a few times per second fleet-wide. Requests take turns under a lock (an increment); the sync
/// round claims the next block while enough turns for <see cref="TurnBlockPolicy.RefillLead"/> are left.
/// </summary>
internal sealed class SharedTurns : ISharedItem
{
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly Lock _gate = new();
    private readonly TurnBlocks _blocks = new();

    // Requests -> sync round.
    private long _claimsSinceSync;
    private long _waiting;

    // Sync round -> requests: below this many turns left a claim wakes the loop.
    private long _wakeBelow = TurnBlockPolicy.MinLead / 2;

    // Owned by the sync round (the cursor is also read for status).
    private long _storeCursor;
    private string? _cursorETag;
    private double _rate;
    private long _lastSyncTimestamp;

    /// <param name="options">The sync interval, over which the claim rate is measured at least.</param>
    /// <param name="time">The clock of the rate.</param>
    public SharedTurns(ProxyOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _time = time;
        _interval = options.StateSyncInterval;
        _lastSyncTimestamp = time.GetTimestamp();
    }

    /// <summary>The shared cursor as last read or written here (the first turn nobody has claimed).</summary>
    public long StoreCursor => Interlocked.Read(ref _storeCursor);

    /// <summary>Turns are claimed for the rate, not for unwritten changes: nothing keeps the loop from idling.</summary>
    public bool HasUnwritten => false;

    /// <summary>Counts a claim towards the rate. A full fence (see <see cref="SyncSignals.Sleep"/>).</summary>
    public void CountClaim() => Interlocked.Increment(ref _claimsSinceSync);

    /// <summary>Takes the next claimed turn, if any is left; <paramref name="runningLow"/> when the loop should refill early.</summary>
    public bool TryTake(out long turn, out bool runningLow)
    {
        lock (_gate)
        {
            if (!_blocks.TryTake(out turn))
            {
                runningLow = false;
                return false;
            }

            runningLow = _blocks.Remaining < Volatile.Read(ref _wakeBelow);
            return true;
        }
    }

    /// <summary>Takes the next claimed turn, or else (<paramref name="shared"/> false) a turn of this instance alone.</summary>
    public long Take(out bool shared)
    {
        lock (_gate)
        {
            shared = _blocks.TryTake(out var turn);
            return shared ? turn : _blocks.TakeLocal();
        }
    }

    /// <summary>True while a claimed turn is left.</summary>
    public bool HasTurn()
    {
        lock (_gate)
        {
            return _blocks.Remaining > 0;
        }
    }

    /// <summary>A claim waits for this sync's turns: the refill claims one for it, whatever the rate says.</summary>
    public void BeginWait() => Interlocked.Increment(ref _waiting);

    public void EndWait() => Interlocked.Decrement(ref _waiting);

    public void Learn(StoreRead read)
    {
        Interlocked.Exchange(ref _storeCursor, read.Cursor);
        _cursorETag = read.CursorETag;
    }

    /// <summary>Claims the next block of turns when fewer than the refill lead are left.</summary>
    public async Task WriteAsync(StoreSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
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

        for (var attempt = 0; attempt < StoreSession.MaxWriteAttempts; attempt++)
        {
            var first = StoreCursor;
            var etag = _cursorETag;
            var write = await session.CallAsync((store, t) => store.WriteCursorAsync(first + size, etag, t)).ConfigureAwait(false);
            if (write.Outcome == WriteOutcome.Written)
            {
                _cursorETag = write.ETag;
                Interlocked.Exchange(ref _storeCursor, first + size);
                lock (_gate)
                {
                    _blocks.Add(first, size);
                }

                return;
            }

            session.LostRace();

            // Lost to another instance. While more than two intervals of turns are left (the next sync may come 10%
            // late and take a round trip or two), the next sync, with a fresh read anyway, tries again: retrying at
            // once would meet the same crowd, at a read and a write each time.
            if (remaining - waiting > 2 * _rate * _interval.TotalSeconds && remaining - waiting >= TurnBlockPolicy.MinLead)
            {
                return;
            }

            await session.ReadAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Claimed turns do not expire.</summary>
    public void Prune(DateTimeOffset now)
    {
    }
}
