using System.Buffers;
using System.Text;
using System.Text.Json;

namespace AoaiProxy.Throttling;

/// <summary>
/// What a request costs against a deployment's token quota, estimated as Azure OpenAI does at admission (before the
/// model runs): prompt characters / 4 plus the most tokens the answer may take (<c>max_tokens</c>,
/// <c>max_completion_tokens</c> or <c>max_output_tokens</c>). Pure.
/// </summary>
/// <param name="PromptCharacters">Characters of the prompt text: message contents, a completion's prompt, an embedding's or a response's input and instructions.</param>
/// <param name="MaxTokens">The request's limit on completion tokens; null when it sets none.</param>
internal readonly record struct RequestCost(long PromptCharacters, long? MaxTokens)
{
    /// <summary>
    /// The completion allowance assumed when a request sets no limit. Azure's admission estimate for such a request is not
    /// documented; a typical chat answer's length, so that such requests neither look free nor block a window alone.
    /// </summary>
    public const long DefaultMaxTokens = 1000;

    /// <summary>Characters per token in the admission estimate.</summary>
    private const int CharactersPerToken = 4;

    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true, MaxDepth = 256 };

    /// <summary>The estimated tokens the request is charged at admission.</summary>
    public long Tokens => ((PromptCharacters + CharactersPerToken - 1) / CharactersPerToken) + Math.Max(0, MaxTokens ?? DefaultMaxTokens);

    /// <summary>
    /// The estimate of a JSON body (chat completions, completions, embeddings, responses, both API shapes), or null when
    /// it is not a JSON object (no estimate: the request is not counted against any headroom). Never throws.
    /// </summary>
    public static RequestCost? FromJson(ReadOnlySequence<byte> body)
    {
        if (body.IsEmpty)
        {
            return null;
        }

        var reader = new Utf8JsonReader(body, ReaderOptions);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            long characters = 0;
            long? maxTokens = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var prompt = reader.ValueTextEquals("messages"u8) || reader.ValueTextEquals("prompt"u8) || reader.ValueTextEquals("input"u8)
                    || reader.ValueTextEquals("instructions"u8);
                var limit = reader.ValueTextEquals("max_tokens"u8) || reader.ValueTextEquals("max_completion_tokens"u8)
                    || reader.ValueTextEquals("max_output_tokens"u8);
                if (!reader.Read())
                {
                    return null;
                }

                if (prompt)
                {
                    characters += PromptText(ref reader);
                }
                else if (limit && reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var max))
                {
                    maxTokens = max;
                }
                else
                {
                    reader.Skip();
                }
            }

            return new RequestCost(characters, maxTokens);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// Characters of the prompt text in the value the reader is on: a string, an array of strings (a batch prompt or
    /// input), or objects whose "content" and "text" strings are the text (chat messages and their parts). Anything else
    /// (an image's URL or base64 data, a tool's JSON schema, token arrays) is not text and counts nothing.
    /// </summary>
    private static long PromptText(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                return Characters(ref reader);
            case JsonTokenType.StartArray:
                long total = 0;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    total += PromptText(ref reader);
                }

                return total;
            case JsonTokenType.StartObject:
                long text = 0;
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isText = reader.ValueTextEquals("content"u8) || reader.ValueTextEquals("text"u8);
                    reader.Read();
                    if (isText)
                    {
                        text += PromptText(ref reader);
                    }
                    else
                    {
                        reader.Skip();
                    }
                }

                return text;
            default:
                reader.Skip();
                return 0;
        }
    }

    /// <summary>UTF-16 characters of the string token, unescaped (a prompt's newlines come as \n).</summary>
    private static long Characters(ref Utf8JsonReader reader)
    {
        var raw = reader.HasValueSequence ? (int)reader.ValueSequence.Length : reader.ValueSpan.Length;
        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            return Encoding.UTF8.GetCharCount(reader.ValueSpan);
        }

        // Unescaped text is never longer than its escaped form.
        var buffer = ArrayPool<char>.Shared.Rent(Math.Max(1, raw));
        try
        {
            return reader.CopyString(buffer);
        }
        finally
        {
            ArrayPool<char>.Shared.Return(buffer);
        }
    }
}
