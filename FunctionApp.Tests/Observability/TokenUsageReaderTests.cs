using System.Text;
using AoaiProxy.Observability;

namespace AoaiProxy.Tests.Observability;

public sealed class TokenUsageReaderTests
{
    private const string ChatCompletion =
        """{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"The \"usage\": {\"prompt_tokens\": 99} of words"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}""";

    [Fact]
    public void Observe_JsonAnswerInOneChunk_ReadsTheUsageObject()
    {
        var reader = new TokenUsageReader();

        reader.Observe(Encoding.UTF8.GetBytes(ChatCompletion));

        Assert.Equal(new TokenUsage(12, 7, 19), reader.Usage);
    }

    [Fact]
    public void Observe_JsonAnswerSplitAtEveryPosition_ReadsTheSameUsage()
    {
        var bytes = Encoding.UTF8.GetBytes(ChatCompletion);
        for (var split = 0; split <= bytes.Length; split++)
        {
            var reader = new TokenUsageReader();

            reader.Observe(bytes.AsSpan(0, split));
            reader.Observe(bytes.AsSpan(split));

            Assert.Equal(new TokenUsage(12, 7, 19), reader.Usage);
        }
    }

    [Fact]
    public void Observe_JsonAnswerByteByByte_ReadsTheUsage()
    {
        var reader = new TokenUsageReader();

        foreach (var b in Encoding.UTF8.GetBytes(ChatCompletion))
        {
            reader.Observe([b]);
        }

        Assert.Equal(new TokenUsage(12, 7, 19), reader.Usage);
    }

    [Theory]
    [InlineData("gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    public void Observe_CompressedAnswerByteByByte_ReadsTheUsage(string encoding)
    {
        var compressed = new MemoryStream();
        using (Stream encoder = encoding switch
        {
            "gzip" => new System.IO.Compression.GZipStream(compressed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true),
            "deflate" => new System.IO.Compression.ZLibStream(compressed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true),
            _ => new System.IO.Compression.BrotliStream(compressed, System.IO.Compression.CompressionLevel.Optimal, leaveOpen: true),
        })
        {
            encoder.Write(Encoding.UTF8.GetBytes(ChatCompletion));
        }

        using var reader = new TokenUsageReader();
        reader.UseEncoding(encoding);
        foreach (var b in compressed.ToArray())
        {
            reader.Observe([b]);
        }

        Assert.Equal(new TokenUsage(12, 7, 19), reader.Usage);
    }

    [Theory]
    [InlineData("zstd")]
    [InlineData("gzip")]
    public void Observe_EncodingItCannotRead_HasNoUsage(string encoding)
    {
        // zstd: not decoded here; gzip over plain bytes: not what the header says. Either way no counts from noise.
        using var reader = new TokenUsageReader();
        reader.UseEncoding(encoding);

        reader.Observe(Encoding.UTF8.GetBytes(ChatCompletion));

        Assert.Null(reader.Usage);
    }

    [Fact]
    public void Observe_StreamWithIncludeUsage_ReadsTheLastChunksUsage()
    {
        // stream_options.include_usage: every chunk has "usage":null, a last chunk with empty choices carries the counts.
        var stream = """
            data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}

            data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}

            data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":2,"total_tokens":32}}

            data: [DONE]


            """;
        var reader = new TokenUsageReader();

        foreach (var chunk in stream.Split("\n\n"))
        {
            reader.Observe(Encoding.UTF8.GetBytes(chunk + "\n\n"));
        }

        Assert.Equal(new TokenUsage(30, 2, 32), reader.Usage);
    }

    [Fact]
    public void Observe_ResponsesApiUsage_ReadsInputAndOutputTokens()
    {
        var reader = new TokenUsageReader();

        reader.Observe("""{"object":"response","usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":0},"output_tokens":9,"total_tokens":49}}"""u8);

        Assert.Equal(new TokenUsage(40, 9, 49), reader.Usage);
    }

    [Theory]
    [InlineData("""{"choices":[]}""")]
    [InlineData("""{"usage":null}""")]
    [InlineData("""{"note":"usage","x":{"usage":"not an object"}}""")]
    [InlineData("""{"usage":{"prompt_tokens":"twelve"}}""")]
    [InlineData("""{"data":[{"embedding":[0.1,0.2]}]}""")]
    public void Observe_NoUsageObject_HasNone(string body)
    {
        var reader = new TokenUsageReader();

        reader.Observe(Encoding.UTF8.GetBytes(body));

        Assert.Null(reader.Usage);
    }

    [Fact]
    public void Observe_ObjectOverTheBound_IsNotTakenForUsageAndLaterOnesStillAre()
    {
        var huge = "{\"usage\":{\"prompt_tokens\":1,\"pad\":\"" + new string('x', TokenUsageReader.MaxUsageBytes) + "\"}}";
        var reader = new TokenUsageReader();

        reader.Observe(Encoding.UTF8.GetBytes(huge));
        Assert.Null(reader.Usage);

        reader.Observe("""{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"""u8);
        Assert.Equal(new TokenUsage(3, 4, 7), reader.Usage);
    }

    [Fact]
    public void Observe_KeyStraddlingChunksAfterAFalseStart_FindsIt()
    {
        var reader = new TokenUsageReader();

        reader.Observe("""{"a":"x","us"""u8);
        reader.Observe("""age":{"total_tokens":5}}"""u8);

        Assert.Equal(new TokenUsage(null, null, 5), reader.Usage);
    }
}
