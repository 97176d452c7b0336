using System.Collections.Immutable;
using AoaiProxy.Configuration;

namespace AoaiProxy.State;

/// <summary>Which cooldown applies to a backend for one request. Pure: reads a snapshot of the cooldown map.</summary>
internal static class CooldownLookup
{
    /// <summary>
    /// The cooldown that applies to <paramref name="backend"/> for a request of <paramref name="deployment"/>:
    /// backend-wide, merged with its scope's own (the deployment's, or that of requests without one).
    /// </summary>
    public static Cooldown? For(ImmutableDictionary<string, Cooldown> cooldowns, string backend, string? deployment)
    {
        ArgumentNullException.ThrowIfNull(cooldowns);
        if (cooldowns.Count == 0)
        {
            return null;
        }

        cooldowns.TryGetValue(CooldownKeys.ForBackend(backend), out var wide);
        if (cooldowns.TryGetValue(CooldownScope.KeyFor(backend, deployment), out var own))
        {
            return Cooldown.Merge(wide, own);
        }

        return wide == default ? null : wide;
    }

    /// <summary>
    /// Each backend's cooldown for the request, in configuration order; null for backends that cannot serve it
    /// (<paramref name="eligible"/> false).
    /// </summary>
    public static Cooldown?[] ForEach(
        ImmutableDictionary<string, Cooldown> cooldowns, IReadOnlyList<BackendOptions> backends, string? deployment, IReadOnlyList<bool>? eligible = null)
    {
        ArgumentNullException.ThrowIfNull(cooldowns);
        ArgumentNullException.ThrowIfNull(backends);
        var result = new Cooldown?[backends.Count];
        if (cooldowns.Count > 0)
        {
            for (var i = 0; i < result.Length; i++)
            {
                result[i] = eligible is null || eligible[i] ? For(cooldowns, backends[i].Name, deployment) : null;
            }
        }

        return result;
    }
}
