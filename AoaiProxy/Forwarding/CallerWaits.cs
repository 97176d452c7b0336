namespace AoaiProxy.Forwarding;

/// <summary>
/// Whether the latest attempt of a streamed body was cancelled while it waited for the caller's bytes. Attempts are
/// numbered (each takes the next number) and the highest number cancelled while waiting is kept, rather than a flag: over
/// HTTP/2 an attempt's send may still be pulling when the next attempt starts, and its late cancellation must not speak
/// for the attempt now in flight.
/// </summary>
internal sealed class CallerWaits
{
    private int _attempts;

    // The highest number of an attempt cancelled while it waited for the caller (0: none).
    private int _cancelled;

    /// <summary>
    /// True when the latest attempt was cancelled while it waited for the caller's bytes (the deadline passed while the
    /// caller was still sending): slowness of the caller, not of the backend. An earlier attempt's cancellation does not count.
    /// </summary>
    public bool WaitingForCaller
    {
        get
        {
            var cancelled = Volatile.Read(ref _cancelled);
            return cancelled != 0 && cancelled == Volatile.Read(ref _attempts);
        }
    }

    /// <summary>An attempt starts sending the body; returns its number.</summary>
    public int Start() => Interlocked.Increment(ref _attempts);

    /// <summary>Records that <paramref name="attempt"/> was cancelled waiting for the caller, unless a later attempt already was.</summary>
    public void Cancelled(int attempt)
    {
        var recorded = Volatile.Read(ref _cancelled);
        while (attempt > recorded)
        {
            var seen = Interlocked.CompareExchange(ref _cancelled, attempt, recorded);
            if (seen == recorded)
            {
                return;
            }

            recorded = seen;
        }
    }
}
