namespace AoaiProxy.Throttling;

/// <summary>A request waiting for a throttled deployment: what it costs and where it may go.</summary>
/// <param name="Cost">Its estimated tokens (<see cref="RequestCost"/>); 0 when unknown.</param>
/// <param name="Eligible">Which backends may serve it; null: all.</param>
internal readonly record struct WaitingRequest(long Cost, IReadOnlyList<bool>? Eligible);

/// <summary>What one backend can take now for the waiting requests of a deployment.</summary>
/// <param name="Open">Whether it takes requests at all (not cooling, or cooling with headroom left).</param>
/// <param name="Tokens">Estimated tokens it can still take (null: not known, no bound).</param>
/// <param name="Requests">Requests it can still take (null: not known, no bound).</param>
internal readonly record struct BackendRoom(bool Open, long? Tokens, long? Requests)
{
    /// <summary>Whether a request of <paramref name="cost"/> fits.</summary>
    public bool Fits(long cost) => Open && (Tokens is not { } t || t >= cost) && (Requests is not { } r || r >= 1);

    /// <summary>The room left once a request of <paramref name="cost"/> is sent.</summary>
    public BackendRoom Take(long cost) => this with { Tokens = Tokens - cost, Requests = Requests - 1 };
}

/// <summary>
/// Which waiting requests go to which backend now. Pure. First come, first served: in arrival order, each request goes
/// to the open backend with the most tokens left that fits it. A request that fits nowhere keeps its place (it is first
/// for the next window), while later, smaller ones may take what it cannot use now, so a window's last tokens are not
/// left idle behind a large request.
/// </summary>
internal static class ReleasePlanner
{
    /// <summary>Not released (keeps waiting).</summary>
    public const int Stays = -1;

    /// <param name="queue">The waiting requests, in arrival order.</param>
    /// <param name="rooms">Each backend's room, in configuration order; what the released requests take is deducted.</param>
    /// <returns>For each waiting request, the backend it is released to, or <see cref="Stays"/>.</returns>
    public static int[] Plan(IReadOnlyList<WaitingRequest> queue, BackendRoom[] rooms)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ArgumentNullException.ThrowIfNull(rooms);
        var released = new int[queue.Count];
        for (var n = 0; n < queue.Count; n++)
        {
            var waiting = queue[n];
            var best = Stays;
            for (var i = 0; i < rooms.Length; i++)
            {
                if ((waiting.Eligible is null || waiting.Eligible[i]) && rooms[i].Fits(waiting.Cost) && (best == Stays || More(rooms[i], rooms[best])))
                {
                    best = i;
                }
            }

            released[n] = best;
            if (best != Stays)
            {
                rooms[best] = rooms[best].Take(waiting.Cost);
            }
        }

        return released;
    }

    /// <summary>Unbounded room counts as the most; ties keep the earlier backend.</summary>
    private static bool More(BackendRoom candidate, BackendRoom best) =>
        best.Tokens is { } b && (candidate.Tokens is not { } c || c > b);
}
