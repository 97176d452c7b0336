using AoaiProxy.State;

namespace AoaiProxy.Throttling;

/// <summary>Whether a backend can take one request now.</summary>
internal enum Fit
{
    /// <summary>Not cooling, and what it reported left fits the request (or nothing is known).</summary>
    Open,

    /// <summary>Not cooling, but its last report says the request does not fit: tried only after the open ones.</summary>
    Strained,

    /// <summary>Cooling for this request: left out of its plan.</summary>
    Cooling,
}

/// <summary>Whether a backend deployment can take a request of a given estimated cost. Pure.</summary>
internal static class BackendFit
{
    /// <param name="cooldown">The cooldown that applies to the request on this backend (see <see cref="CooldownLookup"/>).</param>
    /// <param name="headroom">This instance's headroom of the backend deployment.</param>
    /// <param name="cost">The request's estimated tokens; null when it has no estimate.</param>
    /// <param name="now">The current time.</param>
    public static Fit Of(Cooldown? cooldown, in Headroom headroom, long? cost, DateTimeOffset now)
    {
        if (cooldown is { } c && c.Until > now)
        {
            // A throttled window still takes what fits its headroom: the lower of what the 429 reported and this
            // instance's count since. A request of unknown cost, or a failure's cooldown, waits for the end.
            return c.Reason == CooldownReason.Throttled && cost is { } tokens && Left(c.Headroom, headroom.TokensLeft(now)) is { } left
                && left >= tokens && headroom.RequestsLeft(now) is not <= 0
                ? Fit.Open
                : Fit.Cooling;
        }

        return cost is not { } estimate || headroom.Fits(estimate, now) ? Fit.Open : Fit.Strained;
    }

    private static long? Left(long? reported, long? counted) =>
        reported is { } r && counted is { } c ? Math.Min(r, c) : reported ?? counted;
}
