using System.Collections.Immutable;
using System.Globalization;
using AoaiProxy.State;

namespace AoaiProxy.Tests.State;

/// <summary>
/// <see cref="CooldownMaps"/>. Maps are written "key:seconds" (the deadline, from now; negative is expired), comma
/// separated; a trailing "f" marks a failure, otherwise the cooldown is a throttling.
/// </summary>
public sealed class CooldownMapsTests
{
    private static readonly DateTimeOffset Now = new(2025, 1, 15, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("", "", "", true)]
    [InlineData("a:10", "", "a:10", true)]
    [InlineData("", "a:10", "a:10", false)]
    [InlineData("a:10", "a:5f", "a:10", true)]
    [InlineData("a:10", "a:10f", "a:10", true)]
    [InlineData("a:5", "a:10f", "a:10f", false)]
    [InlineData("a:10", "b:-1", "a:10", true)]
    [InlineData("a:10", "b:0", "a:10", true)]
    [InlineData("a:-1", "", "a:-1", true)]
    [InlineData("a:10,b:3", "b:7f,c:2", "a:10,b:7f,c:2", false)]
    public void Merge_LocalAndRemote_AddsLiveRemoteEntriesNeverShortening(string local, string remote, string expected, bool sameInstance)
    {
        var mine = Map(local);

        var merged = CooldownMaps.Merge(mine, Map(remote), Now);

        Assert.Equal(Map(expected).OrderBy(e => e.Key), merged.OrderBy(e => e.Key));
        Assert.Equal(sameInstance, ReferenceEquals(mine, merged));
    }

    [Theory]
    [InlineData("", "", false)]
    [InlineData("a:10", "", true)]
    [InlineData("a:10", "a:10f", false)]
    [InlineData("a:10", "a:5", true)]
    [InlineData("a:5", "a:10", false)]
    [InlineData("a:-1", "", false)]
    [InlineData("a:0", "", false)]
    [InlineData("a:10,b:5", "a:10,b:5,c:1", false)]
    [InlineData("a:10,b:5", "a:10", true)]
    public void HasNews_LocalAgainstRemote_TrueOnlyForALiveCooldownTheRemoteLacksOrEndsSooner(string local, string remote, bool expected)
    {
        Assert.Equal(expected, CooldownMaps.HasNews(Map(local), Map(remote), Now));
    }

    [Theory]
    [InlineData("", "", true)]
    [InlineData("a:10,b:1", "a:10,b:1", true)]
    [InlineData("a:10,b:0", "a:10", false)]
    [InlineData("a:-5,b:-1", "", false)]
    [InlineData("a:-5,b:3f,c:-1", "b:3f", false)]
    public void Live_Map_KeepsOnlyEntriesNotExpiredYet(string cooldowns, string expected, bool sameInstance)
    {
        var map = Map(cooldowns);

        var live = CooldownMaps.Live(map, Now);

        Assert.Equal(Map(expected).OrderBy(e => e.Key), live.OrderBy(e => e.Key));
        Assert.Equal(sameInstance, ReferenceEquals(map, live));
    }

    private static ImmutableDictionary<string, Cooldown> Map(string entries)
    {
        var map = StoreRead.NoCooldowns;
        foreach (var entry in entries.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var (key, value) = (entry[..entry.IndexOf(':', StringComparison.Ordinal)], entry[(entry.IndexOf(':', StringComparison.Ordinal) + 1)..]);
            var failed = value.EndsWith('f');
            var seconds = int.Parse(failed ? value[..^1] : value, CultureInfo.InvariantCulture);
            map = map.Add(key, new Cooldown(Now.AddSeconds(seconds), failed ? CooldownReason.Failed : CooldownReason.Throttled));
        }

        return map;
    }
}
