namespace AoaiProxy.State;

/// <summary>
/// One kind of item the instances share through the store (the turn cursor, the cooldowns), as one sync round drives
/// it: every item learns from every read, then each writes what it has for the store, in the round's order. A new
/// kind of item is one more implementation in that list (and its entity in the store), not one more branch in the round.
/// </summary>
internal interface ISharedItem
{
    /// <summary>True while this instance holds something for the store that it has not written yet: the loop keeps
    /// syncing (it does not idle) until it is written.</summary>
    bool HasUnwritten { get; }

    /// <summary>Takes in one read of the store: the round's own and every re-read after a lost race.</summary>
    void Learn(StoreRead read);

    /// <summary>
    /// Writes what this instance has for the store, by compare-and-swap: after a lost race it re-reads through
    /// <paramref name="session"/> (every item learns from that read) and tries again, at most
    /// <see cref="StoreSession.MaxWriteAttempts"/> times. A store error ends the round (it throws).
    /// </summary>
    Task WriteAsync(StoreSession session);

    /// <summary>Drops what only a sync would otherwise drop (expired entries), while the store cannot be reached.</summary>
    void Prune(DateTimeOffset now);
}
