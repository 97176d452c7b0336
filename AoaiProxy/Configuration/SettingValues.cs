using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;

namespace AoaiProxy.Configuration;

/// <summary>
/// The reading primitives every options reader shares: one setting each, its fallback when unset, and a problem naming
/// the exact setting (and quoting the value as written) when it is set but not valid. Units are in the names.
/// </summary>
internal static class SettingValues
{
    /// <summary>The longest duration in seconds or milliseconds any setting takes: an hour.</summary>
    private const double MaxSeconds = 3600;

    private const double SecondsPerMillisecond = 1.0 / 1000;

    /// <summary>The setting's full name, e.g. Proxy:Cooldown:MaxSeconds.</summary>
    public static string PathOf(IConfigurationSection section, string key) => $"{section.Path}:{key}";

    /// <summary>A whole number from <paramref name="min"/> to <paramref name="max"/>.</summary>
    public static long WholeNumber(IConfigurationSection section, string key, long fallback, long min, long max, List<string> errors)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        if (!long.TryParse(value.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) || parsed < min || parsed > max)
        {
            errors.Add($"{PathOf(section, key)} must be a whole number from {min} to {max}; got '{value}'.");
            return fallback;
        }

        return parsed;
    }

    /// <summary>A share: more than 0, at most 1.</summary>
    public static double Ratio(IConfigurationSection section, string key, double fallback, List<string> errors)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        if (!double.TryParse(value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var ratio) || !(ratio > 0) || ratio > 1)
        {
            errors.Add($"{PathOf(section, key)} must be a number greater than 0 and at most 1; got '{value}'.");
            return fallback;
        }

        return ratio;
    }

    /// <summary>A number of seconds, more than 0 (or 0 itself when <paramref name="zeroTurnsOff"/>) and at most an hour.</summary>
    public static TimeSpan Seconds(IConfigurationSection section, string key, TimeSpan fallback, List<string> errors, bool zeroTurnsOff = false) =>
        Duration(section, key, fallback, "seconds", MaxSeconds, static s => TimeSpan.FromSeconds(s), errors, zeroTurnsOff);

    /// <summary>A number of milliseconds, more than 0 and at most an hour.</summary>
    public static TimeSpan Milliseconds(IConfigurationSection section, string key, TimeSpan fallback, List<string> errors) =>
        Duration(section, key, fallback, "milliseconds", MaxSeconds / SecondsPerMillisecond, static ms => TimeSpan.FromSeconds(ms * SecondsPerMillisecond), errors);

    /// <summary>A number of days, more than 0 and at most <paramref name="maxDays"/>.</summary>
    public static TimeSpan Days(IConfigurationSection section, string key, TimeSpan fallback, double maxDays, List<string> errors) =>
        Duration(section, key, fallback, "days", maxDays, static d => TimeSpan.FromDays(d), errors);

    /// <summary>true or false.</summary>
    public static bool Boolean(IConfigurationSection section, string key, bool fallback, List<string> errors)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        if (!bool.TryParse(value.Trim(), out var parsed))
        {
            errors.Add($"{PathOf(section, key)} must be true or false; got '{value}'.");
            return fallback;
        }

        return parsed;
    }

    /// <summary>A GUID; <paramref name="meaning"/> says what it identifies (the message reads "must be {meaning}, a GUID").</summary>
    public static Guid? Guid(IConfigurationSection section, string key, string meaning, List<string> errors)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }

        if (!System.Guid.TryParse(value.Trim(), out var id))
        {
            errors.Add($"{PathOf(section, key)} must be {meaning}, a GUID; got '{value}'.");
            return null;
        }

        return id;
    }

    /// <summary>
    /// The items of a list setting ({path}:0, {path}:1, ...) that have a value, in index order; a plain value where the
    /// list belongs, or an index that is not a number, is a problem.
    /// </summary>
    public static List<IConfigurationSection> ListItems(IConfigurationSection section, List<string> errors)
    {
        if (!string.IsNullOrEmpty(section.Value))
        {
            errors.Add($"{section.Path} is a list: set {section.Path}:0, {section.Path}:1, ... " +
                $"(environment variables {section.Path.Replace(":", "__", StringComparison.Ordinal)}__0, ...).");
        }

        var items = new List<(int Index, IConfigurationSection Item)>();
        foreach (var child in section.GetChildren())
        {
            if (!int.TryParse(child.Key, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
            {
                errors.Add($"{child.Path} is not a list index: use {section.Path}:0, {section.Path}:1, ...");
            }
            else if (!string.IsNullOrWhiteSpace(child.Value))
            {
                items.Add((index, child));
            }
        }

        return items.OrderBy(i => i.Index).Select(i => i.Item).ToList();
    }

    /// <summary>True for a loopback host (localhost, 127.0.0.0/8, ::1): the only hosts plain http is allowed to.</summary>
    public static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));

    private static TimeSpan Duration(
        IConfigurationSection section, string key, TimeSpan fallback, string unit, double maxUnits, Func<double, TimeSpan> toDuration, List<string> errors,
        bool zeroTurnsOff = false)
    {
        var value = section[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            return fallback;
        }

        if (!double.TryParse(value.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var units) || !(units > 0 || (zeroTurnsOff && units == 0)) || units > maxUnits)
        {
            errors.Add(zeroTurnsOff
                ? $"{PathOf(section, key)} must be 0 (off) or a number of {unit} greater than 0 and at most {maxUnits}; got '{value}'."
                : $"{PathOf(section, key)} must be a number of {unit} greater than 0 and at most {maxUnits}; got '{value}'.");
            return fallback;
        }

        return toDuration(units);
    }
}
