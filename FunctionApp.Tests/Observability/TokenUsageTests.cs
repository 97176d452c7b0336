using AoaiProxy.Observability;

namespace AoaiProxy.Tests.Observability;

public sealed class TokenUsageTests
{
    [Theory]
    [InlineData("""{"prompt_tokens":12,"completion_tokens":7,"total_tokens":19,"prompt_tokens_details":{"cached_tokens":3}}""", 12L, 7L, 19L)]
    [InlineData("""{"input_tokens":40,"input_tokens_details":{"cached_tokens":0},"output_tokens":9,"total_tokens":49}""", 40L, 9L, 49L)]
    [InlineData("""{"total_tokens":5}""", null, null, 5L)]
    [InlineData("""{"prompt_tokens":"twelve","total_tokens":5}""", null, null, 5L)]
    public void Parse_UsageObject_TopLevelCounts(string json, long? prompt, long? completion, long? total)
    {
        Assert.Equal(new TokenUsage(prompt, completion, total), TokenUsage.Parse(System.Text.Encoding.UTF8.GetBytes(json)));
    }

    [Theory]
    [InlineData("""{}""")]
    [InlineData("""{"prompt_tokens":"twelve"}""")]
    [InlineData("""{"details":{"total_tokens":5}}""")]
    [InlineData("""{"total_tokens":5""")]
    [InlineData("""not json""")]
    public void Parse_NoTopLevelCountsOrNotJson_Null(string json)
    {
        Assert.Null(TokenUsage.Parse(System.Text.Encoding.UTF8.GetBytes(json)));
    }
}
