using AoaiProxy.Content;

namespace AoaiProxy.Observability;

/// <summary>
/// The token usage of a relayed answer, read from its bytes while they stream by (<see cref="UsageObjectScanner"/>).
/// A compressed answer (the caller's Accept-Encoding goes to the backend, and the relay passes bytes as they are) is
/// decoded on the side for the scan only, by <see cref="ContentDecoder"/>: it pulls each chunk's bytes as they pass,
/// nothing is held back, and it stops at the decoded-bytes limit. The caller's relay is never affected by what the scan
/// makes of the bytes.
/// </summary>
internal sealed class TokenUsageReader : IDisposable
{
    private readonly UsageObjectScanner _scanner = new();
    private ContentDecoder? _decoder;
    private bool _unreadable;
    private bool _limitReached;

    /// <summary>
    /// The last complete usage object seen so far, or null; always null once the decoded answer passed the limit (counts
    /// from an answer not read to its end could be anyone's).
    /// </summary>
    public TokenUsage? Usage => _limitReached ? null : _scanner.Usage;

    /// <summary>
    /// Says how the body is encoded (its Content-Encoding), before the first chunk. gzip, deflate and br are decoded for
    /// the scan, up to <paramref name="maxDecodedBytes"/>; another encoding is not scanned at all (its bytes would only
    /// be noise).
    /// </summary>
    public void UseEncoding(string? contentEncoding, long maxDecodedBytes)
    {
        Dispose();
        _limitReached = false;
        var coding = ContentCodings.Of(contentEncoding);
        _unreadable = coding == ContentCoding.Unsupported;
        _decoder = coding is ContentCoding.Identity or ContentCoding.Unsupported ? null : new ContentDecoder(coding, maxDecodedBytes);
    }

    /// <summary>Scans the next chunk of the body.</summary>
    public void Observe(ReadOnlySpan<byte> chunk)
    {
        if (_unreadable)
        {
            return;
        }

        if (_decoder is null)
        {
            _scanner.Scan(chunk);
            return;
        }

        _decoder.Write(chunk);
        while (_decoder.TryRead(out var decoded))
        {
            _scanner.Scan(decoded);
        }

        // Corrupt (not what the header said): no counts rather than counts read from garbage; past the limit: none at all.
        _unreadable = _decoder.Status != DecodeStatus.Ok;
        _limitReached = _decoder.Status == DecodeStatus.LimitReached;
    }

    /// <summary>Releases the decoder's native state (zlib, brotli), if the body was compressed, and the pooled usage buffer.</summary>
    public void Dispose()
    {
        _decoder?.Dispose();
        _decoder = null;
        _scanner.Dispose();
    }
}
