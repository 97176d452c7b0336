using System.Text.Json;

namespace AoaiProxy.Observability;

/// <summary>Token counts from a response's <c>usage</c> object; a count the object lacks is null.</summary>
internal readonly record struct TokenUsage(long? PromptTokens, long? CompletionTokens, long? TotalTokens)
{
    /// <summary>
    /// The top-level counts of one usage object; null when it is not valid JSON or has none. Chat Completions names the
    /// counts prompt/completion_tokens, the Responses API input/output_tokens; both are read.
    /// </summary>
    public static TokenUsage? Parse(ReadOnlySpan<byte> json)
    {
        long? prompt = null, completion = null, total = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
                {
                    continue;
                }

                var name = reader.ValueSpan;
                if (!reader.Read())
                {
                    break;
                }

                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var value))
                {
                    continue;
                }

                if (name.SequenceEqual("prompt_tokens"u8) || name.SequenceEqual("input_tokens"u8))
                {
                    prompt = value;
                }
                else if (name.SequenceEqual("completion_tokens"u8) || name.SequenceEqual("output_tokens"u8))
                {
                    completion = value;
                }
                else if (name.SequenceEqual("total_tokens"u8))
                {
                    total = value;
                }
            }
        }
        catch (JsonException)
        {
            return null;
        }

        return prompt is null && completion is null && total is null ? null : new TokenUsage(prompt, completion, total);
    }
}
