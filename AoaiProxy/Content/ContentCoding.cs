namespace AoaiProxy.Content;

/// <summary>How a body is encoded (its Content-Encoding), as far as <see cref="ContentDecoder"/> is concerned.</summary>
internal enum ContentCoding
{
    /// <summary>No Content-Encoding, or <c>identity</c>: the bytes are the content.</summary>
    Identity,

    /// <summary><c>gzip</c> (RFC 1952), also sent as <c>x-gzip</c>.</summary>
    Gzip,

    /// <summary><c>deflate</c>: a zlib stream (RFC 1950), as HTTP defines it.</summary>
    Deflate,

    /// <summary><c>br</c> (RFC 7932).</summary>
    Brotli,

    /// <summary>Another encoding (zstd, compress...), or several applied in turn: not decoded.</summary>
    Unsupported,
}

/// <summary>Reads a Content-Encoding header into a <see cref="ContentCoding"/>. Pure.</summary>
internal static class ContentCodings
{
    /// <summary>
    /// The coding of a header value such as <c>gzip</c> or <c>identity, br</c> (case and spaces do not matter;
    /// <c>identity</c> adds nothing). More than one real coding is <see cref="ContentCoding.Unsupported"/>: a backend has
    /// no reason to encode twice, and decoding a chain would let each stage multiply the other's output.
    /// </summary>
    public static ContentCoding Of(string? contentEncoding)
    {
        var coding = ContentCoding.Identity;
        var value = contentEncoding.AsSpan();
        foreach (var range in value.Split(','))
        {
            coding = Combine(coding, Token(value[range].Trim()));
        }

        return coding;
    }

    /// <summary>The coding of the header's values as HttpClient parsed them (one value per coding).</summary>
    public static ContentCoding Of(IEnumerable<string> contentEncodings)
    {
        ArgumentNullException.ThrowIfNull(contentEncodings);
        var coding = ContentCoding.Identity;
        foreach (var value in contentEncodings)
        {
            coding = Combine(coding, Of(value));
        }

        return coding;
    }

    private static ContentCoding Combine(ContentCoding sofar, ContentCoding next) =>
        sofar == ContentCoding.Identity ? next : next == ContentCoding.Identity ? sofar : ContentCoding.Unsupported;

    private static ContentCoding Token(ReadOnlySpan<char> token)
    {
        if (token.IsEmpty || token.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return ContentCoding.Identity;
        }

        if (token.Equals("gzip", StringComparison.OrdinalIgnoreCase) || token.Equals("x-gzip", StringComparison.OrdinalIgnoreCase))
        {
            return ContentCoding.Gzip;
        }

        if (token.Equals("deflate", StringComparison.OrdinalIgnoreCase))
        {
            return ContentCoding.Deflate;
        }

        return token.Equals("br", StringComparison.OrdinalIgnoreCase) ? ContentCoding.Brotli : ContentCoding.Unsupported;
    }
}
