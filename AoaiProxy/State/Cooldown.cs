namespace AoaiProxy.State;

/// <summary>Why a backend (or one of its deployments) is cooling down. Decides the status of an exhausted answer.</summary>
internal enum CooldownReason
{
    /// <summary>The backend answered 429: the cause of an exhausted answer is throttling (429).</summary>
    Throttled = 0,

    /// <summary>A 5xx/408 or a transport failure (502 when every candidate failed this way).</summary>
    Failed = 1,

    /// <summary>No response headers within the timeout (504 when every candidate failed this way).</summary>
    TimedOut = 2,
}

/// <summary>A deadline until which a cooldown key is skipped, and why.</summary>
/// <param name="Until">When it ends.</param>
/// <param name="Reason">Why.</param>
/// <param name="Headroom">
/// For throttling: the estimated tokens the throttled window still takes (the 429's x-ratelimit-remaining-tokens), so
/// that requests that fit it are not kept from it; null when the backend said none or nothing.
/// </param>
internal readonly record struct Cooldown(DateTimeOffset Until, CooldownReason Reason, long? Headroom = null)
{
    /// <summary>A new cooldown never shortens a longer one already recorded: the one that ends later.</summary>
    public static Cooldown Merge(Cooldown existing, Cooldown incoming) => incoming.Until > existing.Until ? incoming : existing;
}

/// <summary>Cooldown keys: throttling is per deployment, transport failures per backend.</summary>
internal static class CooldownKeys
{
    /// <summary>Stands for "every deployment of this backend".</summary>
    public const string AnyDeployment = "*";

    public static string For(string backend, string? deployment) =>
        string.Concat(backend, "/", string.IsNullOrEmpty(deployment) ? AnyDeployment : deployment);

    public static string ForBackend(string backend) => For(backend, AnyDeployment);
}
