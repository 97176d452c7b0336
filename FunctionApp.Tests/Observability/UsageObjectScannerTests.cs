using System.Text;
using AoaiProxy.Observability;

namespace AoaiProxy.Tests.Observability;

public sealed class UsageObjectScannerTests
{
    private const string ChatCompletion =
        """{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"The \"usage\": {\"prompt_tokens\": 99} of words"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}""";

    [Fact]
    public void Scan_JsonAnswerInOneChunk_ReadsTheUsageObject()
    {
        var scanner = new UsageObjectScanner();

        scanner.Scan(Encoding.UTF8.GetBytes(ChatCompletion));

        Assert.Equal(new TokenUsage(12, 7, 19), scanner.Usage);
    }

    [Fact]
    public void Scan_JsonAnswerSplitAtEveryPosition_ReadsTheSameUsage()
    {
        var bytes = Encoding.UTF8.GetBytes(ChatCompletion);
        for (var split = 0; split <= bytes.Length; split++)
        {
            var scanner = new UsageObjectScanner();

            scanner.Scan(bytes.AsSpan(0, split));
            scanner.Scan(bytes.AsSpan(split));

            Assert.Equal(new TokenUsage(12, 7, 19), scanner.Usage);
        }
    }

    [Fact]
    public void Scan_JsonAnswerByteByByte_ReadsTheUsage()
    {
        var scanner = new UsageObjectScanner();

        foreach (var b in Encoding.UTF8.GetBytes(ChatCompletion))
        {
            scanner.Scan([b]);
        }

        Assert.Equal(new TokenUsage(12, 7, 19), scanner.Usage);
    }

    [Fact]
    public void Scan_StreamWithIncludeUsage_ReadsTheLastChunksUsage()
    {
        // stream_options.include_usage: every chunk has "usage":null, a last chunk with empty choices carries the counts.
        var stream = """
            data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}],"usage":null}

            data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}

            data: {"id":"c","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":30,"completion_tokens":2,"total_tokens":32}}

            data: [DONE]


            """;
        var scanner = new UsageObjectScanner();

        foreach (var chunk in stream.Split("\n\n"))
        {
            scanner.Scan(Encoding.UTF8.GetBytes(chunk + "\n\n"));
        }

        Assert.Equal(new TokenUsage(30, 2, 32), scanner.Usage);
    }

    [Fact]
    public void Scan_ResponsesApiUsage_ReadsInputAndOutputTokens()
    {
        var scanner = new UsageObjectScanner();

        scanner.Scan("""{"object":"response","usage":{"input_tokens":40,"input_tokens_details":{"cached_tokens":0},"output_tokens":9,"total_tokens":49}}"""u8);

        Assert.Equal(new TokenUsage(40, 9, 49), scanner.Usage);
    }

    [Theory]
    [InlineData("""{"choices":[]}""")]
    [InlineData("""{"usage":null}""")]
    [InlineData("""{"note":"usage","x":{"usage":"not an object"}}""")]
    [InlineData("""{"usage":{"prompt_tokens":"twelve"}}""")]
    [InlineData("""{"data":[{"embedding":[0.1,0.2]}]}""")]
    public void Scan_NoUsageObject_HasNone(string body)
    {
        var scanner = new UsageObjectScanner();

        scanner.Scan(Encoding.UTF8.GetBytes(body));

        Assert.Null(scanner.Usage);
    }

    [Fact]
    public void Scan_ObjectOverTheBound_IsNotTakenForUsageAndLaterOnesStillAre()
    {
        var huge = "{\"usage\":{\"prompt_tokens\":1,\"pad\":\"" + new string('x', UsageObjectScanner.MaxUsageBytes) + "\"}}";
        var scanner = new UsageObjectScanner();

        scanner.Scan(Encoding.UTF8.GetBytes(huge));
        Assert.Null(scanner.Usage);

        scanner.Scan("""{"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"""u8);
        Assert.Equal(new TokenUsage(3, 4, 7), scanner.Usage);
    }

    [Fact]
    public void Scan_KeyStraddlingChunksAfterAFalseStart_FindsIt()
    {
        var scanner = new UsageObjectScanner();

        scanner.Scan("""{"a":"x","us"""u8);
        scanner.Scan("""age":{"total_tokens":5}}"""u8);

        Assert.Equal(new TokenUsage(null, null, 5), scanner.Usage);
    }
}
