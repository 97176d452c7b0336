using System.Collections.Frozen;

namespace AoaiProxy.Forwarding;

/// <summary>Headers that belong to one connection and are never forwarded, in either direction (RFC 9110 §7.6.1).</summary>
internal static class HopByHopHeaders
{
    public static readonly FrozenSet<string> Names = new[]
    {
        "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
        "TE", "Trailer", "Transfer-Encoding", "Upgrade",
    }.ToFrozenSet(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// True for a hop-by-hop header, an HTTP/2 pseudo-header, or a header the Connection header names.
    /// </summary>
    public static bool IsHopByHop(string name, string? connectionHeader)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.StartsWith(':') || Names.Contains(name))
        {
            return true;
        }

        if (string.IsNullOrEmpty(connectionHeader))
        {
            return false;
        }

        // Span tokens: this runs for every header of every attempt, and most HTTP/1.1 callers send "Connection: keep-alive".
        var header = connectionHeader.AsSpan();
        foreach (var range in header.Split(','))
        {
            if (header[range].Trim().Equals(name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
