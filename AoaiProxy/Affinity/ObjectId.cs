using System.Buffers;

namespace AoaiProxy.Affinity;

/// <summary>What the proxy takes for an object id, to record where it lives and look it up. Pure.</summary>
internal static class ObjectId
{
    /// <summary>An id is recorded as a Table row key: only these characters, and not more than this many.</summary>
    internal const int MaxLength = 256;

    private static readonly SearchValues<char> Chars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");

    /// <summary>Ids are short and plain (file-abc, resp_123): anything else is never recorded or looked up.</summary>
    public static bool IsValid(string? value) =>
        value is { Length: > 0 and <= MaxLength } && !value.AsSpan().ContainsAnyExcept(Chars) && value[0] != '.';
}
