using System.Collections.Immutable;

namespace AoaiProxy.State;

/// <summary>
/// The cooldowns this instance knows of, and their publication. Requests read the map without locks and record into
/// it; every read of the store merges the published ones in (never shortening one), and a cooldown recorded here is
/// published by the next sync, which a recording wakes.
/// </summary>
internal sealed class SharedCooldowns : ISharedItem
{
    private readonly TimeProvider _time;

    // Swapped atomically; read by requests without locks.
    private ImmutableDictionary<string, Cooldown> _known = StoreRead.NoCooldowns;

    // Requests -> sync: 1 while a recorded cooldown may not be in the store yet.
    private int _unpublished;

    // Owned by the sync round: what the store held at the last read or write, and its version.
    private ImmutableDictionary<string, Cooldown> _published = StoreRead.NoCooldowns;
    private string? _etag;

    public SharedCooldowns(TimeProvider time) => _time = time;

    /// <summary>The cooldowns known right now: this instance's and those read from the store.</summary>
    public ImmutableDictionary<string, Cooldown> Known => Volatile.Read(ref _known);

    public bool HasUnwritten => Volatile.Read(ref _unpublished) != 0;

    /// <summary>Records a cooldown at once, never shortening a longer one; the next sync publishes it.</summary>
    public void Record(string key, Cooldown cooldown)
    {
        ImmutableInterlocked.AddOrUpdate(ref _known, key, cooldown, (_, existing) => Cooldown.Merge(existing, cooldown));
        Volatile.Write(ref _unpublished, 1);
    }

    /// <summary>Merges what the store holds into the known cooldowns and remembers the version to write against.</summary>
    public void Learn(StoreRead read)
    {
        _etag = read.CooldownsETag;
        _published = read.Cooldowns;
        // Expired entries leave the known map here too (no allocation unless something changed).
        ImmutableInterlocked.Update(
            ref _known,
            static (local, arg) => CooldownMaps.Live(CooldownMaps.Merge(local, arg.Remote, arg.Now), arg.Now),
            (Remote: read.Cooldowns, Now: _time.GetUtcNow()));
    }

    /// <summary>Writes the merged live cooldowns when this instance knows one the store lacks (or holds shorter).</summary>
    public async Task WriteAsync(StoreSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (Interlocked.Exchange(ref _unpublished, 0) == 0)
        {
            return;
        }

        // Unless the store has every live cooldown known here when this ends, the next sync tries again.
        var settled = false;
        try
        {
            for (var attempt = 0; attempt < StoreSession.MaxWriteAttempts; attempt++)
            {
                var now = _time.GetUtcNow();
                var live = CooldownMaps.Live(Known, now);
                if (!CooldownMaps.HasNews(live, _published, now))
                {
                    settled = true;
                    return;
                }

                var etag = _etag;
                var write = await session.CallAsync((store, t) => store.WriteCooldownsAsync(live, etag, t)).ConfigureAwait(false);
                if (write.Outcome == WriteOutcome.Written)
                {
                    _etag = write.ETag;
                    _published = live;
                    settled = true;
                    return;
                }

                session.LostRace();
                await session.ReadAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            if (!settled)
            {
                Volatile.Write(ref _unpublished, 1);
            }
        }
    }

    /// <summary>
    /// Drops the expired cooldowns. Every read does so; without reads (the store unavailable) this does, or the keys
    /// recorded during a long outage (deployment names come from callers) would pile up until the store is back.
    /// </summary>
    public void Prune(DateTimeOffset now) =>
        ImmutableInterlocked.Update(ref _known, static (local, now) => CooldownMaps.Live(local, now), now);
}
