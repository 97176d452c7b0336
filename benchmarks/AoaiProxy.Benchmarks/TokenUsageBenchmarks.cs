using System.Text;
using AoaiProxy.Observability;
using BenchmarkDotNet.Attributes;

namespace AoaiProxy.Benchmarks;

/// <summary>
/// What reading token usage adds to the relay: scanning each relayed chunk for the usage object, against copying the same
/// chunk (which the relay does anyway, into the response body). Baseline: the copy.
/// </summary>
[MemoryDiagnoser]
public class TokenUsageBenchmarks
{
    private const int ChunkSize = 16 * 1024;

    private readonly byte[] _target = new byte[ChunkSize];
    private byte[] _chatAnswer = null!;
    private byte[] _sseChunk = null!;

    [GlobalSetup]
    public void Setup()
    {
        // A 16 KiB non-streamed chat answer: long content, the usage object at its end.
        var content = new StringBuilder();
        while (content.Length < ChunkSize - 400)
        {
            content.Append("The proxy relays this sentence unchanged. ");
        }

        _chatAnswer = Encoding.UTF8.GetBytes(
            "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" +
            content.ToString(0, ChunkSize - 400) +
            "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":120,\"completion_tokens\":3500,\"total_tokens\":3620,\"prompt_tokens_details\":{\"cached_tokens\":0}}}");

        // One small SSE event as a stream sends it (include_usage: "usage":null on every chunk but the last).
        _sseChunk = Encoding.UTF8.GetBytes(
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" word\"}}],\"usage\":null}\n\n");
    }

    [Benchmark(Baseline = true, Description = "copy a 16 KiB chat answer (what the relay does anyway)")]
    public int CopyChatAnswer()
    {
        _chatAnswer.CopyTo(_target, 0);
        return _target[0];
    }

    [Benchmark(Description = "TokenUsageReader: 16 KiB chat answer, usage at the end")]
    public long? ScanChatAnswer()
    {
        var reader = new TokenUsageReader();
        reader.Observe(_chatAnswer);
        return reader.Usage?.TotalTokens;
    }

    [Benchmark(Description = "TokenUsageReader: one SSE event with \"usage\":null")]
    public long? ScanSseChunk()
    {
        var reader = new TokenUsageReader();
        reader.Observe(_sseChunk);
        return reader.Usage?.TotalTokens;
    }
}
