namespace AoaiProxy.Answers;

/// <summary>How a wait is written in Retry-After (whole seconds) and retry-after-ms. Pure.</summary>
internal static class RetryAfter
{
    /// <summary>Whole seconds for Retry-After, rounded up (never 0 for a positive wait).</summary>
    public static long Seconds(TimeSpan remaining) =>
        remaining <= TimeSpan.Zero ? 0 : (long)Math.Ceiling(remaining.TotalSeconds);

    /// <summary>Milliseconds for retry-after-ms, rounded up.</summary>
    public static long Milliseconds(TimeSpan remaining) =>
        remaining <= TimeSpan.Zero ? 0 : (long)Math.Ceiling(remaining.TotalMilliseconds);
}
