using System.Buffers;
using System.IO.Compression;

namespace AoaiProxy.Content;

/// <summary>
/// Decodes a body by its Content-Encoding, either chunk by chunk as the bytes pass (<see cref="Write"/>, then
/// <see cref="TryRead"/> until it returns false) or whole (<see cref="Decode"/>), and never yields more decoded bytes than
/// its limit: half a megabyte of gzip inflates to half a gigabyte of zeros. Past the limit decoding stops, the
/// <see cref="Status"/> says so, and the decoder's memory (the native zlib or brotli state, its buffers) is released. Bad
/// data ends in a status too, not an exception.
/// </summary>
internal sealed class ContentDecoder : IDisposable
{
    /// <summary>Decoded bytes handed out per <see cref="TryRead"/>: a relay chunk's worth.</summary>
    private const int OutputBytes = 16 * 1024;

    /// <summary>A whole body's first guess at its decoded size, as a multiple of the encoded size (JSON compresses 5-10x).</summary>
    private const int ExpectedRatio = 8;

    private readonly long _limit;
    private EncodedFeed? _feed;
    private Stream? _decoder;
    private byte[]? _output;

    /// <param name="coding">The body's encoding; identity passes the bytes through (and counts them against the limit).</param>
    /// <param name="limit">The most decoded bytes this decoder yields.</param>
    public ContentDecoder(ContentCoding coding, long limit)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(limit);
        _limit = limit;
        if (coding == ContentCoding.Unsupported)
        {
            Status = DecodeStatus.UnsupportedCoding;
            return;
        }

        _feed = new EncodedFeed();
        _decoder = coding switch
        {
            ContentCoding.Gzip => new GZipStream(_feed, CompressionMode.Decompress),
            ContentCoding.Deflate => new ZLibStream(_feed, CompressionMode.Decompress),
            ContentCoding.Brotli => new BrotliStream(_feed, CompressionMode.Decompress),
            _ => _feed,
        };
    }

    /// <summary>Ok while decoding goes well; otherwise why it stopped (nothing more is yielded then).</summary>
    public DecodeStatus Status { get; private set; }

    /// <summary>Decoded bytes yielded so far, at most the limit.</summary>
    public long DecodedBytes { get; private set; }

    /// <summary>
    /// A whole encoded body decoded, or why not: past <paramref name="limit"/> decoded bytes (an identity body longer than
    /// that, too) nothing is kept and the status is <see cref="DecodeStatus.LimitReached"/>.
    /// </summary>
    public static DecodedBody Decode(byte[] encoded, ContentCoding coding, long limit)
    {
        ArgumentNullException.ThrowIfNull(encoded);
        if (coding == ContentCoding.Identity)
        {
            return new DecodedBody(encoded.Length <= limit ? DecodeStatus.Ok : DecodeStatus.LimitReached, encoded.Length <= limit ? encoded : null);
        }

        using var decoder = new ContentDecoder(coding, limit);
        decoder._feed?.Set(encoded);
        var decoded = new ArrayBufferWriter<byte>((int)Math.Max(1, Math.Min(encoded.Length * (long)ExpectedRatio, Math.Min(limit, Array.MaxLength))));
        while (decoder.TryRead(out var piece))
        {
            decoded.Write(piece);
        }

        return decoder.Status == DecodeStatus.Ok ? new DecodedBody(DecodeStatus.Ok, decoded.WrittenSpan.ToArray()) : new DecodedBody(decoder.Status, null);
    }

    /// <summary>Gives the decoder the next encoded bytes of the body (copied: the caller may reuse its buffer).</summary>
    public void Write(ReadOnlySpan<byte> encoded) => _feed?.Copy(encoded);

    /// <summary>
    /// The next decoded bytes of what was written, valid until the next call; false when the decoder needs more encoded
    /// bytes, or has stopped (<see cref="Status"/>). At the limit it yields what still fits, then stops.
    /// </summary>
    public bool TryRead(out ReadOnlySpan<byte> decoded)
    {
        decoded = default;
        if (_decoder is null)
        {
            return false;
        }

        if (Status != DecodeStatus.Ok)
        {
            // Stopped at the limit by the previous call, whose bytes the caller held until now.
            Release();
            return false;
        }

        _output ??= ArrayPool<byte>.Shared.Rent(OutputBytes);
        int read;
        try
        {
            read = _decoder.Read(_output, 0, OutputBytes);
        }
        catch (Exception ex) when (ex is InvalidDataException or InvalidOperationException)
        {
            // zlib reports bad data as InvalidDataException, brotli as InvalidOperationException.
            Status = DecodeStatus.Corrupt;
            Release();
            return false;
        }

        var room = _limit - DecodedBytes;
        if (read > room)
        {
            Status = DecodeStatus.LimitReached;
            read = (int)room;
        }

        if (read == 0)
        {
            if (Status != DecodeStatus.Ok)
            {
                Release();
            }

            return false;
        }

        DecodedBytes += read;
        decoded = _output.AsSpan(0, read);
        return true;
    }

    /// <summary>Releases the native decoder state and the buffers.</summary>
    public void Dispose() => Release();

    private void Release()
    {
        _decoder?.Dispose();
        _decoder = null;
        _feed?.Dispose();
        _feed = null;
        if (_output is { } output)
        {
            _output = null;
            ArrayPool<byte>.Shared.Return(output);
        }
    }
}
