namespace AoaiProxy.State;

/// <summary>
/// What the requests and the background sync tell each other, without locks. Claims tell the loop
/// (<see cref="SharedStateSync"/>) when they arrive and wake it; the loop tells the claims (<see cref="SharedState"/>)
/// when each sync attempt ended, how old the view is and whether it sleeps for want of traffic.
/// </summary>
internal sealed class SyncSignals
{
    // Until the first successful read (0 is a valid timestamp).
    private const long NoView = long.MinValue;

    // Once no sync will come any more (the loop stopped, or the view was disposed), every wait for one ends at once.
    private static readonly TaskCompletionSource ReleasedSignal = Completed();

    private readonly TimeProvider _time;

    // Claims -> loop: a cooldown to publish, turns running low, a claim without a view.
    private TaskCompletionSource _wake = NewSignal();
    private long _lastClaimTimestamp;

    // Loop -> claims: completed (and replaced) at the end of every sync attempt; claims without a view wait on it.
    private TaskCompletionSource _synced = NewSignal();
    private long _viewTimestamp = NoView;
    private int _sleeping;

    public SyncSignals(TimeProvider time)
    {
        _time = time;
        _lastClaimTimestamp = time.GetTimestamp();
    }

    /// <summary>When the last claim arrived; the loop stops syncing <see cref="SharedStateSync.IdleAfter"/> later.</summary>
    public long LastClaimTimestamp => Volatile.Read(ref _lastClaimTimestamp);

    /// <summary>The wake-up the loop waits on next (it may already be completed).</summary>
    public TaskCompletionSource WakeSignal => Volatile.Read(ref _wake);

    /// <summary>Completes at the end of the next sync attempt, whichever way it ends; at once once released.</summary>
    public Task NextSync => Volatile.Read(ref _synced).Task;

    /// <summary>True once no sync will come any more.</summary>
    public bool Released => ReferenceEquals(Volatile.Read(ref _synced), ReleasedSignal);

    /// <summary>True while the loop sleeps until woken (no traffic for <see cref="SharedStateSync.IdleAfter"/>).</summary>
    public bool Sleeping => Volatile.Read(ref _sleeping) != 0;

    public void Claimed(long timestamp) => Volatile.Write(ref _lastClaimTimestamp, timestamp);

    /// <summary>Has the loop sync before its interval ends (or at once, while it sleeps).</summary>
    public void Wake() => Volatile.Read(ref _wake).TrySetResult();

    /// <summary>Replaces the wake-up the loop has just waited on, unless a newer one replaced it already.</summary>
    public void Consumed(TaskCompletionSource wake) => Interlocked.CompareExchange(ref _wake, NewSignal(), wake);

    /// <summary>Ends the waits for the current sync attempt; later waits are for the next one.</summary>
    public void SyncEnded()
    {
        while (true)
        {
            var synced = Volatile.Read(ref _synced);
            if (ReferenceEquals(synced, ReleasedSignal))
            {
                return;
            }

            if (ReferenceEquals(Interlocked.CompareExchange(ref _synced, NewSignal(), synced), synced))
            {
                synced.TrySetResult();
                return;
            }
        }
    }

    /// <summary>Nobody waits for a sync that will not come: ends the current waits and every later one at once.</summary>
    public void Release() => Interlocked.Exchange(ref _synced, ReleasedSignal).TrySetResult();

    /// <summary>The view was read from the store at <paramref name="timestamp"/>.</summary>
    public void ViewRead(long timestamp) => Volatile.Write(ref _viewTimestamp, timestamp);

    /// <summary>
    /// True while the loop keeps the view current. Once it sleeps for idling, its last read (taken up to
    /// <see cref="SharedStateSync.IdleAfter"/> after the last claim) may still be young, but nothing refreshes it any
    /// more: the next claim waits for a sync, which also restarts the interval.
    /// </summary>
    public bool HasFreshView(long now)
    {
        var view = Volatile.Read(ref _viewTimestamp);
        return view != NoView && Volatile.Read(ref _sleeping) == 0 && _time.GetElapsedTime(view, now) < SharedStateSync.IdleAfter;
    }

    /// <summary>
    /// Marks the loop asleep. A full fence, as the claim's is between its timestamp and its read of the flag: a claim
    /// either sees the flag (so it has no fresh view and wakes the loop), or the loop sees its timestamp afterwards.
    /// </summary>
    public void Sleep() => Interlocked.Exchange(ref _sleeping, 1);

    public void Awake() => Volatile.Write(ref _sleeping, 0);

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static TaskCompletionSource Completed()
    {
        var signal = NewSignal();
        signal.SetResult();
        return signal;
    }
}
