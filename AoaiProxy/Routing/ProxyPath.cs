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
/// backslashes and control characters are refused.
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

        var queryStart = rawTarget.IndexOf('?', StringComparison.Ordinal);
        var rawPath = queryStart < 0 ? rawTarget : rawTarget[..queryStart];
        if (!rawPath.StartsWith(Prefix, StringComparison.OrdinalIgnoreCase))
        {
            return new ProxyPathResult(default, "Only paths under /openai/ are proxied.", NotUnderPrefix: true);
        }

        // No Azure OpenAI path segment contains a slash: an encoded one only serves to make a segment mean two things
        // (what the proxy keys cooldowns by vs. what a backend decodes), so it is refused outright.
        if (rawPath.Contains("%2f", StringComparison.OrdinalIgnoreCase))
        {
            return Fail("The path contains an encoded slash (%2F).");
        }

        if (!TryDecode(rawPath, out var decoded))
        {
            return Fail("The path contains an invalid percent-encoding.");
        }

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

        var segments = decoded.Split('/');

        // segments: "", "openai", ...
        string? deployment = null;
        var isV1 = false;
        if (segments.Length > 2 && segments[2].Length > 0)
        {
            if (segments[2].Equals("deployments", StringComparison.OrdinalIgnoreCase))
            {
                if (segments.Length < 4 || segments[3].Length == 0)
                {
                    return Fail("The path /openai/deployments/ must name a deployment.");
                }

                deployment = segments[3];
            }
            else if (segments[2].Equals("v1", StringComparison.OrdinalIgnoreCase))
            {
                isV1 = true;
            }
        }
        else
        {
            return Fail("The path must name an operation under /openai/.");
        }

        return new ProxyPathResult(new ProxyPath(rawTarget, deployment, isV1), null);
    }

    /// <summary>True when a segment (other than a single trailing one) is empty, "." or "..".</summary>
    private static bool HasDotOrEmptySegment(string path)
    {
        var segments = path.Split('/');

        // Index 0 is the empty string before the leading '/'; the last may be empty for a trailing slash.
        for (var i = 1; i < segments.Length; i++)
        {
            var s = segments[i];
            if (s is "." or ".." || (s.Length == 0 && i != segments.Length - 1))
            {
                return true;
            }
        }

        return false;
    }

    private static bool ContainsEncodedSeparatorOrDot(string decoded)
    {
        for (var i = decoded.IndexOf('%', StringComparison.Ordinal); i >= 0 && i + 2 < decoded.Length; i = decoded.IndexOf('%', i + 1))
        {
            var code = decoded.AsSpan(i + 1, 2);
            if (code.Equals("2e", StringComparison.OrdinalIgnoreCase) || code.Equals("2f", StringComparison.OrdinalIgnoreCase) ||
                code.Equals("5c", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    private static bool TryDecode(string value, out string decoded)
    {
        decoded = value;
        if (!value.Contains('%', StringComparison.Ordinal))
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
