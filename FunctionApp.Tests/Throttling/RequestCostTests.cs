using System.Buffers;
using System.Text;
using AoaiProxy.Throttling;

namespace AoaiProxy.Tests.Throttling;

public class RequestCostTests
{
    [Theory]
    // Chat: the messages' text, and the answer's limit.
    [InlineData("""{"messages":[{"role":"user","content":"12345678"}],"max_tokens":100}""", 8, 100L, 102)]
    [InlineData("""{"messages":[{"role":"system","content":"abcd"},{"role":"user","content":"efg"}],"max_completion_tokens":50}""", 7, 50L, 52)]
    [InlineData("""{"max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"abcd"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAAAAAAAAAAAAAA"}}]}]}""", 4, 10L, 11)]
    // Escaped text counts as the characters it stands for (a newline is one character).
    [InlineData("""{"messages":[{"role":"user","content":"a\nb\u00e9c"}],"max_tokens":0}""", 5, 0L, 2)]
    // No limit set: the default allowance.
    [InlineData("""{"messages":[{"role":"user","content":"abcd"}]}""", 4, null, 1 + RequestCost.DefaultMaxTokens)]
    // Completions, embeddings (a string or a batch), responses (input and instructions, max_output_tokens).
    [InlineData("""{"prompt":"abcdefgh","max_tokens":16}""", 8, 16L, 18)]
    [InlineData("""{"input":["abcd","efgh"],"model":"text-embedding-3-large"}""", 8, null, 2 + RequestCost.DefaultMaxTokens)]
    [InlineData("""{"model":"gpt-4o","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"hi!!"}]}],"max_output_tokens":20}""", 12, 20L, 23)]
    // What is not prompt text counts nothing: tools, tool call arguments, other fields.
    [InlineData("""{"tools":[{"type":"function","function":{"name":"f","description":"long description"}}],"messages":[{"role":"assistant","tool_calls":[{"function":{"arguments":"{\"x\":1}"}}]}],"max_tokens":5,"temperature":0.5}""", 0, 5L, 5)]
    public void FromJson_Body_PromptCharactersOverFourPlusTheLimit(string json, long characters, long? maxTokens, long tokens)
    {
        var cost = RequestCost.FromJson(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(json)));

        Assert.Equal(new RequestCost(characters, maxTokens), cost);
        Assert.Equal(tokens, cost!.Value.Tokens);
    }

    [Theory]
    [InlineData("")]
    [InlineData("[1,2]")]
    [InlineData("\"text\"")]
    [InlineData("""{"messages":[{"role":"user","content":"abc""")]
    [InlineData("not json")]
    public void FromJson_NotAJsonObject_NoEstimate(string body)
    {
        Assert.Null(RequestCost.FromJson(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(body))));
    }

    [Fact]
    public void FromJson_BodyAcrossSegments_SameEstimate()
    {
        var json = Encoding.UTF8.GetBytes("""{"messages":[{"role":"user","content":"a long enough prompt\nwith an escape"}],"max_tokens":7}""");
        var first = new Segment(json.AsMemory(0, 40));
        var last = first.Append(json.AsMemory(40));

        var cost = RequestCost.FromJson(new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length));

        Assert.Equal(RequestCost.FromJson(new ReadOnlySequence<byte>(json)), cost);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory) => Memory = memory;

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory) { RunningIndex = RunningIndex + Memory.Length };
            Next = next;
            return next;
        }
    }
}
