using System.Collections.Immutable;
using AoaiProxy.Configuration;
using AoaiProxy.State;

namespace AoaiProxy.Observability;

/// <summary>One live cooldown, resolved back from its store key to a configured backend and a deployment (null: the whole backend).</summary>
internal readonly record struct CooldownView(string Backend, string? Deployment, CooldownReason Reason, TimeSpan Left)
{
    /// <summary>The live cooldowns of configured backends, in configuration order. Pure: <paramref name="now"/> is a parameter.</summary>
    public static List<CooldownView> Of(ProxyOptions options, ImmutableDictionary<string, Cooldown> cooldowns, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(cooldowns);
        var views = new List<CooldownView>();
        foreach (var backend in options.Backends)
        {
            var prefix = backend.Name + "/";
            foreach (var (key, cooldown) in cooldowns)
            {
                if (cooldown.Until <= now || !key.StartsWith(prefix, StringComparison.Ordinal))
                {
                    continue;
                }

                var deployment = key[prefix.Length..];
                views.Add(new CooldownView(backend.Name, deployment == CooldownKeys.AnyDeployment ? null : deployment, cooldown.Reason, cooldown.Until - now));
            }
        }

        return views;
    }
}
