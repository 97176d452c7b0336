using AoaiProxy.Configuration;
using AoaiProxy.State;

namespace AoaiProxy.Planning;

/// <summary>The ordered backends (indices into the configured list) one request will try, each at most once.</summary>
/// <param name="Attempts">Backends to try, best first. Empty when every backend is cooling.</param>
/// <param name="Cooling">Backends left out because they were cooling when the plan was made.</param>
/// <param name="Panic">
/// Every backend was cooling because of failures (none for throttling), so one is tried anyway (the only attempt):
/// failure cooldowns are evidence of trouble, not proof, and an answer unseen would be a certain failure.
/// </param>
internal sealed record AttemptPlan(IReadOnlyList<int> Attempts, IReadOnlyList<int> Cooling, bool Panic = false)
{
    /// <summary>The attempts whose backend's last report says the request does not fit (at the end of <see cref="Attempts"/>).</summary>
    public IReadOnlyList<int> Strained { get; init; } = [];

    /// <summary>True when every attempt is strained: none of the backends that can serve the request reports room for it.</summary>
    public bool OnlyStrained => Strained.Count > 0 && Strained.Count == Attempts.Count;
}

/// <summary>
/// Turns (backends, cooldowns, cursor turn, now) into an attempt order. Pure.
/// The first attempt rotates, driven by the shared turn, over the available backends of the best priority tier that
/// has any; weights repeat a backend in that rotation (smooth weighted round-robin, so repeats are interleaved).
/// The rest of that tier, then the worse tiers (each rotated the same way), follow as failover candidates.
/// Rotating over the available backends only keeps the spread even while one of them cools.
/// </summary>
internal static class AttemptPlanner
{
    /// <param name="backends">The configured backends.</param>
    /// <param name="cooldowns">Each backend's cooldown for this request.</param>
    /// <param name="turn">The shared rotation turn.</param>
    /// <param name="now">The current time.</param>
    /// <param name="eligible">
    /// Which backends may serve this request at all (they serve its deployment, or hold the object it names); null: all.
    /// The others are left out of the plan entirely, neither tried nor counted as cooling.
    /// </param>
    /// <param name="strained">
    /// Which backends' last report says this request does not fit what they have left; null: none. They are not left
    /// out, but tried only after every other available backend (each tier rotated the same way), so that a request spends
    /// no 429 on them while another candidate can take it.
    /// </param>
    public static AttemptPlan Plan(
        IReadOnlyList<BackendOptions> backends, IReadOnlyList<Cooldown?> cooldowns, long turn, DateTimeOffset now, IReadOnlyList<bool>? eligible = null,
        IReadOnlyList<bool>? strained = null)
    {
        ArgumentNullException.ThrowIfNull(backends);
        ArgumentNullException.ThrowIfNull(cooldowns);
        if (cooldowns.Count != backends.Count)
        {
            throw new ArgumentException("One cooldown slot per backend is required.", nameof(cooldowns));
        }

        var attempts = new List<int>(backends.Count);
        var cooling = new List<int>();
        var available = new List<int>(backends.Count);
        List<int>? last = null;
        for (var i = 0; i < backends.Count; i++)
        {
            if (eligible is not null && !eligible[i])
            {
                continue;
            }

            if (cooldowns[i] is { } c && c.Until > now)
            {
                cooling.Add(i);
            }
            else if (strained is not null && strained[i])
            {
                (last ??= []).Add(i);
            }
            else
            {
                available.Add(i);
            }
        }

        AppendTiers(backends, available, turn, attempts);
        if (last is not null)
        {
            AppendTiers(backends, last, turn, attempts);
        }

        if (attempts.Count == 0 && PanicCandidate(backends, cooldowns, cooling) is { } candidate)
        {
            return new AttemptPlan([candidate], cooling, Panic: true);
        }

        return new AttemptPlan(attempts, cooling) { Strained = last ?? (IReadOnlyList<int>)[] };
    }

    /// <summary>
    /// As YARP's healthy-or-panic policy: when every backend cools for failures, the one whose cooldown ends first (best
    /// priority, then configured order, on a tie). None when any cools for throttling: a 429's wait is exact and the
    /// caller gets it as Retry-After.
    /// </summary>
    private static int? PanicCandidate(IReadOnlyList<BackendOptions> backends, IReadOnlyList<Cooldown?> cooldowns, List<int> cooling)
    {
        int? best = null;
        foreach (var i in cooling)
        {
            var c = cooldowns[i]!.Value;
            if (c.Reason == CooldownReason.Throttled)
            {
                return null;
            }

            if (best is not { } b || c.Until < cooldowns[b]!.Value.Until ||
                (c.Until == cooldowns[b]!.Value.Until && backends[i].Priority < backends[b].Priority))
            {
                best = i;
            }
        }

        return best;
    }

    /// <summary>Appends <paramref name="available"/> tier by tier, best first, each tier in rotation order.</summary>
    private static void AppendTiers(IReadOnlyList<BackendOptions> backends, List<int> available, long turn, List<int> attempts)
    {
        // Tiers best first, each in configured order. One pass per tier rather than GroupBy/OrderBy: planning runs on
        // every request, and the LINQ grouping allocated more than the whole plan.
        var tier = new List<int>(available.Count);
        var previous = long.MinValue;
        while (NextPriority(backends, available, previous) is { } priority)
        {
            previous = priority;
            tier.Clear();
            foreach (var i in available)
            {
                if (backends[i].Priority == priority)
                {
                    tier.Add(i);
                }
            }

            AppendRotation(backends, tier, turn, attempts);
        }
    }

    /// <summary>The best (lowest) priority above <paramref name="above"/> among the available backends, if any.</summary>
    private static int? NextPriority(IReadOnlyList<BackendOptions> backends, List<int> available, long above)
    {
        int? best = null;
        foreach (var i in available)
        {
            var priority = backends[i].Priority;
            if (priority > above && (best is null || priority < best))
            {
                best = priority;
            }
        }

        return best;
    }

    /// <summary>Appends the tier's backends in rotation order starting at the turn's slot, each once.</summary>
    private static void AppendRotation(IReadOnlyList<BackendOptions> backends, List<int> tier, long turn, List<int> into)
    {
        // Equal weights: the smooth sequence is the tier itself (see WeightedSequence), no copy needed.
        var sequence = EqualWeights(backends, tier) ? tier : WeightedSequence(backends, tier);
        var start = (int)(((turn % sequence.Count) + sequence.Count) % sequence.Count);
        var added = 0;
        for (var step = 0; step < sequence.Count && added < tier.Count; step++)
        {
            var candidate = sequence[(start + step) % sequence.Count];
            if (!into.Contains(candidate))
            {
                into.Add(candidate);
                added++;
            }
        }
    }

    /// <summary>
    /// Smooth weighted round-robin (as in nginx): weights 5,1,1 give a,a,b,a,c,a,a rather than a,a,a,a,a,b,c.
    /// Ties go to the earlier configured backend, so the sequence is deterministic.
    /// </summary>
    internal static List<int> WeightedSequence(IReadOnlyList<BackendOptions> backends, List<int> tier)
    {
        var total = 0;
        foreach (var i in tier)
        {
            total += backends[i].Weight;
        }

        if (EqualWeights(backends, tier))
        {
            // Equal weights: the smooth sequence is the tier repeated, and one pass rotates the same way.
            return [.. tier];
        }

        var sequence = new List<int>(total);
        var current = new int[tier.Count];
        for (var step = 0; step < total; step++)
        {
            var best = 0;
            for (var k = 0; k < tier.Count; k++)
            {
                current[k] += backends[tier[k]].Weight;
                if (current[k] > current[best])
                {
                    best = k;
                }
            }

            current[best] -= total;
            sequence.Add(tier[best]);
        }

        return sequence;
    }

    private static bool EqualWeights(IReadOnlyList<BackendOptions> backends, List<int> tier)
    {
        foreach (var i in tier)
        {
            if (backends[i].Weight != backends[tier[0]].Weight)
            {
                return false;
            }
        }

        return true;
    }
}
