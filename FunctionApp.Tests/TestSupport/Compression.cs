using System.Collections.Concurrent;
using System.IO.Compression;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>Bodies as a backend compresses them (by Content-Encoding name), and decompression bombs made on the fly.</summary>
internal static class Compression
{
    /// <summary>What a bomb inflates to: 512 MiB of zeros, then <see cref="BombTail"/>.</summary>
    public const long BombZeros = 512L * 1024 * 1024;

    /// <summary>
    /// What follows a bomb's zeros: a usage object and an object id, which a reader only finds by decoding the whole bomb.
    /// </summary>
    public static readonly byte[] BombTail = """{"id":"file-bomb","usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}}"""u8.ToArray();

    private static readonly ConcurrentDictionary<string, Lazy<byte[]>> Bombs = new(StringComparer.Ordinal);

    /// <summary>
    /// <paramref name="content"/> encoded as <paramref name="encoding"/> (gzip, x-gzip, deflate, br) says; anything else
    /// is refused.
    /// </summary>
    public static byte[] Encode(string encoding, ReadOnlySpan<byte> content, CompressionLevel level = CompressionLevel.Optimal)
    {
        using var encoded = new MemoryStream();
        using (var encoder = Encoder(encoding, encoded, level))
        {
            encoder.Write(content);
        }

        return encoded.ToArray();
    }

    /// <summary>
    /// <see cref="BombZeros"/> zeros and <see cref="BombTail"/>, compressed as <paramref name="encoding"/>: about 0.5 MB
    /// of gzip or deflate, 0.1 MB of brotli. Compressed once per encoding while the tests run (a tenth of a second each),
    /// never stored.
    /// </summary>
    public static byte[] Bomb(string encoding) => Bombs.GetOrAdd(encoding, e => new Lazy<byte[]>(() => MakeBomb(e))).Value;

    private static byte[] MakeBomb(string encoding)
    {
        using var encoded = new MemoryStream();

        // Brotli's Optimal takes seconds over half a gigabyte; its Fastest still makes a 5000:1 bomb.
        using (var encoder = Encoder(encoding, encoded, encoding == "br" ? CompressionLevel.Fastest : CompressionLevel.Optimal))
        {
            var zeros = new byte[1024 * 1024];
            for (long written = 0; written < BombZeros; written += zeros.Length)
            {
                encoder.Write(zeros);
            }

            encoder.Write(BombTail);
        }

        return encoded.ToArray();
    }

    private static Stream Encoder(string encoding, Stream encoded, CompressionLevel level) => encoding switch
    {
        "gzip" or "x-gzip" => new GZipStream(encoded, level, leaveOpen: true),
        "deflate" => new ZLibStream(encoded, level, leaveOpen: true),
        "br" => new BrotliStream(encoded, level, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(encoding), encoding, "not an encoding the tests compress"),
    };
}
