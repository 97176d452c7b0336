using System.Collections.Immutable;

namespace AoaiProxy.State;

/// <summary>Set arithmetic on cooldown maps (key to deadline). Pure: <c>now</c> is a parameter.</summary>
internal static class CooldownMaps
{
    /// <summary>
    /// <paramref name="local"/> with every live entry of <paramref name="remote"/> merged in, never shortening one;
    /// the same instance when nothing changes (no allocation on the usual read, where nothing is new).
    /// </summary>
    public static ImmutableDictionary<string, Cooldown> Merge(
        ImmutableDictionary<string, Cooldown> local, ImmutableDictionary<string, Cooldown> remote, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(remote);
        var merged = local;
        foreach (var (key, cooldown) in remote)
        {
            if (cooldown.Until <= now)
            {
                continue;
            }

            if (!merged.TryGetValue(key, out var mine))
            {
                merged = merged.Add(key, cooldown);
            }
            else if (Cooldown.Merge(mine, cooldown) != mine)
            {
                merged = merged.SetItem(key, cooldown);
            }
        }

        return merged;
    }

    /// <summary>True when <paramref name="local"/> knows a live cooldown that <paramref name="remote"/> lacks or ends sooner.</summary>
    public static bool HasNews(ImmutableDictionary<string, Cooldown> local, ImmutableDictionary<string, Cooldown> remote, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentNullException.ThrowIfNull(remote);
        foreach (var (key, cooldown) in local)
        {
            if (cooldown.Until > now && (!remote.TryGetValue(key, out var theirs) || theirs.Until < cooldown.Until))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The live entries only; the same instance when none has expired.</summary>
    public static ImmutableDictionary<string, Cooldown> Live(ImmutableDictionary<string, Cooldown> cooldowns, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(cooldowns);
        List<string>? expired = null;
        foreach (var (key, cooldown) in cooldowns)
        {
            if (cooldown.Until <= now)
            {
                (expired ??= []).Add(key);
            }
        }

        return expired is null ? cooldowns : cooldowns.RemoveRange(expired);
    }
}
