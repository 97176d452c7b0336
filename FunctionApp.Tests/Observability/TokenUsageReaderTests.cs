using System.Text;
using AoaiProxy.Observability;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Observability;

public sealed class TokenUsageReaderTests
{
    private const long Limit = 1024 * 1024;

    private const string ChatCompletion =
        """{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"The \"usage\": {\"prompt_tokens\": 99} of words"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}""";

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("identity")]
    public void Observe_UncompressedAnswer_ReadsTheUsage(string? encoding)
    {
        using var reader = new TokenUsageReader();
        reader.UseEncoding(encoding, Limit);

        reader.Observe(Encoding.UTF8.GetBytes(ChatCompletion));

        Assert.Equal(new TokenUsage(12, 7, 19), reader.Usage);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("x-gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public void Observe_CompressedAnswerByteByByte_ReadsTheUsage(string encoding)
    {
        var compressed = Compression.Encode(encoding, Encoding.UTF8.GetBytes(ChatCompletion));

        using var reader = new TokenUsageReader();
        reader.UseEncoding(encoding, Limit);
        foreach (var b in compressed)
        {
            reader.Observe([b]);
        }

        Assert.Equal(new TokenUsage(12, 7, 19), reader.Usage);
    }

    [Theory]
    [InlineData("zstd")]
    [InlineData("gzip")]
    [InlineData("gzip, br")]
    public void Observe_EncodingItCannotRead_HasNoUsage(string encoding)
    {
        // zstd: not decoded here; gzip over plain bytes: not what the header says; two encodings: not decoded. Either way no
        // counts from noise.
        using var reader = new TokenUsageReader();
        reader.UseEncoding(encoding, Limit);

        reader.Observe(Encoding.UTF8.GetBytes(ChatCompletion));

        Assert.Null(reader.Usage);
    }

    [Fact]
    public void Observe_CompressedAnswerDecodingPastTheLimit_HasNoUsage()
    {
        // A usage object seen before the limit is not the answer's: the answer was not read to its end.
        var answer = Encoding.UTF8.GetBytes("""{"usage":{"total_tokens":1},"pad":""" + "\"" + new string('x', (int)Limit) + "\"," + ChatCompletion[1..]);
        using var reader = new TokenUsageReader();
        reader.UseEncoding("gzip", Limit);

        reader.Observe(Compression.Encode("gzip", answer));

        Assert.Null(reader.Usage);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public void Observe_Bomb_StopsAtTheLimitWithLittleMemoryAndNoUsage(string encoding)
    {
        // The bomb's usage object follows its 512 MiB of zeros: only a reader that decoded them all would see it.
        var bomb = Compression.Bomb(encoding);
        var allocated = GC.GetAllocatedBytesForCurrentThread();
        using var reader = new TokenUsageReader();
        reader.UseEncoding(encoding, Limit);

        for (var offset = 0; offset < bomb.Length; offset += 16 * 1024)
        {
            reader.Observe(bomb.AsSpan(offset, Math.Min(16 * 1024, bomb.Length - offset)));
        }

        Assert.Null(reader.Usage);
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - allocated, 0, Limit / 4);
    }

    [Fact]
    public void UseEncoding_AfterAnAnswerPastTheLimit_ReadsTheNextAnswer()
    {
        using var reader = new TokenUsageReader();
        reader.UseEncoding("br", Limit);
        reader.Observe(Compression.Bomb("br"));
        Assert.Null(reader.Usage);

        reader.UseEncoding("br", Limit);
        reader.Observe(Compression.Encode("br", Encoding.UTF8.GetBytes(ChatCompletion)));

        Assert.Equal(new TokenUsage(12, 7, 19), reader.Usage);
    }
}
