using System.Text;
using AoaiProxy.Content;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Content;

public sealed class ContentDecoderTests
{
    private const long Limit = 1024 * 1024;

    /// <summary>Several kilobytes of JSON, as a list page or an answer would be.</summary>
    private static readonly byte[] Json = Encoding.UTF8.GetBytes(
        "{\"object\":\"list\",\"data\":[" + string.Join(',', Enumerable.Range(0, 200).Select(i => $"{{\"id\":\"file-{i}\",\"created_at\":{1700000000 + i}}}")) + "]}");

    [Theory]
    [InlineData("identity")]
    [InlineData("gzip")]
    [InlineData("x-gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public void Decode_EachCoding_TheContent(string encoding)
    {
        var coding = ContentCodings.Of(encoding);
        var encoded = encoding == "identity" ? Json : Compression.Encode(encoding, Json);

        var decoded = ContentDecoder.Decode(encoded, coding, Limit);

        Assert.True(decoded.Complete);
        Assert.Equal(DecodeStatus.Ok, decoded.Status);
        Assert.Equal(Json, decoded.Bytes);
    }

    [Theory]
    [InlineData("identity")]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public void TryRead_EncodedBytesOneByOne_TheContentInOrder(string encoding)
    {
        var coding = ContentCodings.Of(encoding);
        var encoded = encoding == "identity" ? Json : Compression.Encode(encoding, Json);
        using var decoder = new ContentDecoder(coding, Limit);
        var decoded = new List<byte>();

        foreach (var b in encoded)
        {
            decoder.Write([b]);
            while (decoder.TryRead(out var piece))
            {
                decoded.AddRange(piece.ToArray());
            }
        }

        Assert.Equal(DecodeStatus.Ok, decoder.Status);
        Assert.Equal(Json, decoded);
        Assert.Equal(Json.Length, decoder.DecodedBytes);
    }

    [Theory]
    [InlineData("zstd")]
    [InlineData("gzip, br")]
    [InlineData("compress")]
    public void Decode_UnknownOrSeveralEncodings_UnsupportedWithoutBytes(string contentEncoding)
    {
        var coding = ContentCodings.Of(contentEncoding);
        using var decoder = new ContentDecoder(coding, Limit);
        decoder.Write(Json);

        var decoded = ContentDecoder.Decode(Json, coding, Limit);

        Assert.Equal(new DecodedBody(DecodeStatus.UnsupportedCoding, null), decoded);
        Assert.False(decoder.TryRead(out _));
        Assert.Equal(DecodeStatus.UnsupportedCoding, decoder.Status);
    }

    public static TheoryData<string, byte[]> CorruptBodies()
    {
        var data = new TheoryData<string, byte[]>();
        foreach (var encoding in (string[])["gzip", "deflate", "br"])
        {
            data.Add(encoding, "plain text, not what the header says"u8.ToArray());
            var flipped = Compression.Encode(encoding, Json);
            for (var i = 10; i < 40; i++)
            {
                flipped[i] ^= 0x5a;
            }

            data.Add(encoding, flipped);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(CorruptBodies))]
    public void Decode_CorruptData_CorruptWithoutAnException(string encoding, byte[] encoded)
    {
        var coding = ContentCodings.Of(encoding);
        using var decoder = new ContentDecoder(coding, Limit);
        decoder.Write(encoded);
        while (decoder.TryRead(out _))
        {
        }

        var decoded = ContentDecoder.Decode(encoded, coding, Limit);

        Assert.Equal(DecodeStatus.Corrupt, decoded.Status);
        Assert.Null(decoded.Bytes);
        Assert.Equal(DecodeStatus.Corrupt, decoder.Status);
        Assert.False(decoder.TryRead(out _));
    }

    [Theory]
    [InlineData("identity", 0, "Ok")]
    [InlineData("identity", 1, "LimitReached")]
    [InlineData("gzip", 0, "Ok")]
    [InlineData("gzip", 1, "LimitReached")]
    [InlineData("br", 1, "LimitReached")]
    public void Decode_ContentAtOrOverTheLimit_WholeOrNothing(string encoding, int over, string status)
    {
        var coding = ContentCodings.Of(encoding);
        var expected = Enum.Parse<DecodeStatus>(status);
        var encoded = encoding == "identity" ? Json : Compression.Encode(encoding, Json);

        var decoded = ContentDecoder.Decode(encoded, coding, Json.Length - over);

        Assert.Equal(expected, decoded.Status);
        Assert.Equal(expected == DecodeStatus.Ok ? Json : null, decoded.Bytes);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public void TryRead_Bomb_YieldsExactlyTheLimitThenStopsWithLittleMemory(string encoding)
    {
        var coding = ContentCodings.Of(encoding);
        var bomb = Compression.Bomb(encoding);
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        using var decoder = new ContentDecoder(coding, Limit);
        long yielded = 0;
        var chunks = 0;

        for (var offset = 0; offset < bomb.Length && decoder.Status == DecodeStatus.Ok; offset += 16 * 1024, chunks++)
        {
            decoder.Write(bomb.AsSpan(offset, Math.Min(16 * 1024, bomb.Length - offset)));
            while (decoder.TryRead(out var piece))
            {
                yielded += piece.Length;
            }
        }

        Assert.Equal(DecodeStatus.LimitReached, decoder.Status);
        Assert.Equal(Limit, yielded);
        Assert.Equal(Limit, decoder.DecodedBytes);
        Assert.False(decoder.TryRead(out _));

        // Pooled buffers and the native decoder's state: a fraction of the limit, nothing like the bomb's half gigabyte.
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - allocated, 0, Limit / 4);
        Assert.True(chunks * 16L * 1024 < bomb.Length, $"stopped after {chunks} chunks of {bomb.Length / (16 * 1024)}");
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public void Decode_Bomb_LimitReachedWithoutBytesAndMemoryBoundedByTheLimit(string encoding)
    {
        var coding = ContentCodings.Of(encoding);
        var bomb = Compression.Bomb(encoding);
        var allocated = GC.GetAllocatedBytesForCurrentThread();

        var decoded = ContentDecoder.Decode(bomb, coding, Limit);

        Assert.Equal(new DecodedBody(DecodeStatus.LimitReached, null), decoded);

        // The growing output (doubling up to the limit) and the decoder: a few times the limit, not the bomb's 512 MiB.
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - allocated, 0, 4 * Limit);
    }

    [Fact]
    public void Dispose_Midway_LaterReadsYieldNothing()
    {
        var decoder = new ContentDecoder(ContentCoding.Gzip, Limit);
        decoder.Write(Compression.Encode("gzip", Json));
        Assert.True(decoder.TryRead(out _));

        decoder.Dispose();

        Assert.False(decoder.TryRead(out _));
    }
}
