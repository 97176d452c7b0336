namespace AoaiProxy.State;

/// <summary>Counts of what the shared state did, for tests, benchmarks and status.</summary>
/// <param name="SharedClaims">Claims served from a claimed block.</param>
/// <param name="LocalClaims">Claims served with a turn of this instance alone.</param>
/// <param name="WaitedClaims">Claims that waited for a sync (start-up, after idling, or a burst beyond the block).</param>
/// <param name="Syncs">Completed syncs with the store.</param>
/// <param name="LostRaces">Compare-and-swap writes that lost to another instance.</param>
internal readonly record struct SharedStateCounters(long SharedClaims, long LocalClaims, long WaitedClaims, long Syncs, long LostRaces);

/// <summary>
/// The running counts behind <see cref="SharedStateCounters"/>: claims are counted by the view
/// (<see cref="SharedState"/>), syncs and lost races by the sync round. Thread-safe.
/// </summary>
internal sealed class SharedStateTally
{
    private long _sharedClaims;
    private long _localClaims;
    private long _waitedClaims;
    private long _syncs;
    private long _lostRaces;

    public SharedStateCounters Snapshot => new(
        Interlocked.Read(ref _sharedClaims), Interlocked.Read(ref _localClaims), Interlocked.Read(ref _waitedClaims),
        Interlocked.Read(ref _syncs), Interlocked.Read(ref _lostRaces));

    public void SharedClaim() => Interlocked.Increment(ref _sharedClaims);

    public void LocalClaim() => Interlocked.Increment(ref _localClaims);

    public void WaitedClaim() => Interlocked.Increment(ref _waitedClaims);

    public void Synced() => Interlocked.Increment(ref _syncs);

    public void LostRace() => Interlocked.Increment(ref _lostRaces);
}
