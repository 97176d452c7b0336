namespace AoaiProxy.State;

/// <summary>
/// How many round-robin turns an instance claims from the shared cursor at a time, and when. Pure.
/// <para>
/// A block is sized to last about <see cref="Horizon"/> at the instance's current rate, so the fleet makes a few
/// cursor writes per second however many requests it serves, and the next block is claimed while
/// <see cref="RefillLead"/> worth of turns is still left, so requests never wait for the store at steady state.
/// Small blocks for slow instances keep the turns they leave unused (when they stop) few.
/// </para>
/// </summary>
internal static class TurnBlockPolicy
{
    /// <summary>The smallest block, and the first one (the rate is not known yet).</summary>
    public const int MinBlock = 16;

    /// <summary>The largest block: a bound for absurd rates, far above what one instance serves in <see cref="Horizon"/>.</summary>
    public const int MaxBlock = 1_000_000;

    /// <summary>Claim a new block while fewer than this many turns are left, whatever the rate.</summary>
    public const int MinLead = MinBlock / 4;

    /// <summary>How long a block should last at the current rate.</summary>
    public static readonly TimeSpan Horizon = TimeSpan.FromSeconds(20);

    /// <summary>How much time worth of turns must still be left when the next block is claimed.</summary>
    public static readonly TimeSpan RefillLead = TimeSpan.FromSeconds(2);

    /// <summary>Below this many turns left, a new block is claimed.</summary>
    public static long RefillBelow(double claimsPerSecond) =>
        Math.Max(MinLead, (long)Math.Ceiling(claimsPerSecond * RefillLead.TotalSeconds));

    /// <summary>
    /// The size of the block to claim now, or 0 when <paramref name="remaining"/> turns are enough for the
    /// <paramref name="waiting"/> claims that wait for one and still leave the refill lead.
    /// </summary>
    /// <param name="remaining">Claimed turns not used yet.</param>
    /// <param name="claimsPerSecond">The planning rate (<see cref="NextRate"/>).</param>
    /// <param name="waiting">Claims waiting for this sync's turns. The rate cannot stand for them: after idling it is
    /// measured over the whole quiet period, so a burst arriving then would otherwise get a block of a few turns and
    /// most of its claims would fall back to turns of their own with the store healthy.</param>
    public static int BlockToClaim(long remaining, double claimsPerSecond, long waiting = 0)
    {
        var needed = Math.Max(0, waiting) + RefillBelow(claimsPerSecond) - remaining;
        if (needed <= 0)
        {
            return 0;
        }

        var wanted = Math.Max(needed, Math.Ceiling(Math.Max(0, claimsPerSecond) * Horizon.TotalSeconds));
        return (int)Math.Clamp(wanted, MinBlock, MaxBlock);
    }

    /// <summary>
    /// The claim rate to plan with: a moving average that rises at once with a burst (the larger of the two) and decays
    /// by half per sync when the traffic drops.
    /// </summary>
    public static double NextRate(double previous, long claims, TimeSpan elapsed)
    {
        if (elapsed <= TimeSpan.Zero)
        {
            return previous;
        }

        var observed = claims / elapsed.TotalSeconds;
        return Math.Max(observed, (previous + observed) / 2);
    }
}

/// <summary>
/// The turns this instance has claimed from the shared cursor and not used yet: a queue of contiguous blocks.
/// Not thread-safe: the owner (<see cref="SharedTurns"/>) locks around it.
/// </summary>
internal sealed class TurnBlocks
{
    // The block being used, [_next, _end), and the ones claimed after it.
    private readonly Queue<(long First, long End)> _queued = new();
    private long _next;
    private long _end;

    /// <summary>Turns left in every block.</summary>
    public long Remaining { get; private set; }

    /// <summary>The last turn handed out (from a block or not); -1 before the first.</summary>
    public long Last { get; private set; } = -1;

    /// <summary>Adds the claimed turns [<paramref name="first"/>, first + count).</summary>
    public void Add(long first, int count)
    {
        if (count <= 0)
        {
            return;
        }

        _queued.Enqueue((first, first + count));
        Remaining += count;
    }

    /// <summary>Takes the next claimed turn, if any is left.</summary>
    public bool TryTake(out long turn)
    {
        if (_next >= _end)
        {
            if (!_queued.TryDequeue(out var block))
            {
                turn = 0;
                return false;
            }

            (_next, _end) = block;
        }

        turn = _next++;
        Remaining--;
        Last = turn;
        return true;
    }

    /// <summary>A turn of this instance alone, after the last one handed out: may repeat another instance's turn.</summary>
    public long TakeLocal() => ++Last;
}
