namespace AoaiProxy.Routing;

/// <summary>A validated /openai/... request target, forwarded verbatim.</summary>
/// <param name="PathAndQuery">The raw target as the caller sent it, starting with "/openai/".</param>
/// <param name="Deployment">The deployment named in /openai/deployments/{d}/..., null otherwise.</param>
/// <param name="IsV1">True for the v1 API (/openai/v1/...), where the deployment is the body's "model".</param>
internal readonly record struct ProxyPath(string PathAndQuery, string? Deployment, bool IsV1);

/// <summary>Result of <see cref="ProxyPathParser.Parse"/>: a path, or why it was refused (400).</summary>
/// <param name="Path">The validated target (default when <paramref name="Error"/> is set).</param>
/// <param name="Error">Why the target was refused, null when valid.</param>
/// <param name="NotUnderPrefix">True when the target is simply not an /openai/ path (404 rather than 400).</param>
internal readonly record struct ProxyPathResult(ProxyPath Path, string? Error, bool NotUnderPrefix = false)
{
    public bool IsValid => Error is null;
}

/// <summary>
/// Validates the raw request target. Pure. The target is forwarded verbatim (no re-encoding), so it is the raw form
/// that must be proven to stay under /openai/: dot segments, their percent-encoded and double-encoded variants,
/// backslashes and control characters are refused, in any target (<see cref="ProxyPathResult.NotUnderPrefix"/> only for
/// a target that is safe but not under /openai/).
/// </summary>
internal static class ProxyPathParser
{
    private const string Prefix = "/openai/";

    public static ProxyPathResult Parse(string? rawTarget)
    {
        if (string.IsNullOrEmpty(rawTarget) || rawTarget[0] != '/')
        {
            return Fail("The request target must be an origin-form path starting with /openai/.");
        }

        // Spans throughout: this runs for every request, and the only string a valid target needs is the deployment's.
        // The safety checks come first, whatever the path: a target that a server would normalize into another path (one
        // of the proxy's own endpoints, say) is refused as written, before anything matches it.
        var queryStart = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var rawPath = queryStart < 0 ? rawTarget.AsSpan() : rawTarget.AsSpan(0, queryStart);
        // No Azure OpenAI path segment contains a slash: an encoded one only serves to make a segment mean two things
        // (what the proxy keys cooldowns by vs. what a backend decodes), so it is refused outright.
        if (rawPath.Contains("%2f", StringComparison.OrdinalIgnoreCase))
        {
            return Fail("The path contains an encoded slash (%2F).");
        }

        if (!TryDecode(rawPath, out var decodedString))
        {
            return Fail("The path contains an invalid percent-encoding.");
        }

        var decoded = decodedString is null ? rawPath : decodedString.AsSpan();
        foreach (var c in decoded)
        {
            if (c == '\\' || char.IsControl(c))
            {
                return Fail("The path contains a backslash or a control character.");
            }
        }

        // A second decoding (by a gateway or the backend) must not be able to produce a separator or a dot segment.
        if (ContainsEncodedSeparatorOrDot(decoded))
        {
            return Fail("The path contains double-encoded separators or dots.");
        }

        if (HasDotOrEmptySegment(decoded))
        {
            return Fail("The path contains dot segments or empty segments.");
        }

        if (!rawPath.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return new ProxyPathResult(default, "Only paths under /openai/ are proxied.", NotUnderPrefix: true);
        }

        // Segments: "", "openai", then "deployments", "{d}" | "v1" | another operation.
        ReadOnlySpan<char> third = default, fourth = default;
        var index = 0;
        foreach (var range in decoded.Split('/'))
        {
            if (index == 2)
            {
                third = decoded[range];
            }
            else if (index == 3)
            {
                fourth = decoded[range];
                break;
            }

            index++;
        }

        if (third.IsEmpty)
        {
            return Fail("The path must name an operation under /openai/.");
        }

        string? deployment = null;
        var isV1 = false;
        if (third.Equals("deployments", StringComparison.OrdinalIgnoreCase))
        {
            if (fourth.IsEmpty)
            {
                return Fail("The path /openai/deployments/ must name a deployment.");
            }

            deployment = fourth.ToString();
        }
        else if (third.Equals("v1", StringComparison.OrdinalIgnoreCase))
        {
            isV1 = true;
        }

        return new ProxyPathResult(new ProxyPath(rawTarget, deployment, isV1), null);
    }

    /// <summary>True when a segment (other than a single trailing one) is empty, "." or "..".</summary>
    private static bool HasDotOrEmptySegment(ReadOnlySpan<char> path)
    {
        // The first segment is the empty one before the leading '/'; the last may be empty for a trailing slash.
        var first = true;
        var previousEmpty = false;
        foreach (var range in path.Split('/'))
        {
            if (first)
            {
                first = false;
                continue;
            }

            if (previousEmpty)
            {
                return true;
            }

            var s = path[range];
            if (s is "." or "..")
            {
                return true;
            }

            previousEmpty = s.IsEmpty;
        }

        return false;
    }

    private static bool ContainsEncodedSeparatorOrDot(ReadOnlySpan<char> decoded)
    {
        for (var i = decoded.IndexOf('%'); i >= 0 && i + 2 < decoded.Length; i = NextPercent(decoded, i + 1))
        {
            var code = decoded.Slice(i + 1, 2);
            if (code.Equals("2e", StringComparison.OrdinalIgnoreCase) || code.Equals("2f", StringComparison.OrdinalIgnoreCase) ||
                code.Equals("5c", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static int NextPercent(ReadOnlySpan<char> value, int from)
    {
        var found = value[from..].IndexOf('%');
        return found < 0 ? -1 : from + found;
    }

    /// <summary>Percent-decodes the path; <paramref name="decoded"/> is null when there was nothing to decode.</summary>
    private static bool TryDecode(ReadOnlySpan<char> value, out string? decoded)
    {
        decoded = null;
        if (!value.Contains('%'))
        {
            return true;
        }

        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] == '%' && (i + 2 >= value.Length || !char.IsAsciiHexDigit(value[i + 1]) || !char.IsAsciiHexDigit(value[i + 2])))
            {
                return false;
            }
        }

        decoded = Uri.UnescapeDataString(value);
        return true;
    }

    private static ProxyPathResult Fail(string error) => new(default, error);
}
