using System.Buffers;
using System.Text.Json;

namespace AoaiProxy.Routing;

/// <summary>
/// Finds the deployment of a v1 API request: the top-level "model" of a JSON body. Pure; never throws on bad JSON
/// (the proxy does not judge request content, it only forwards it).
/// </summary>
internal static class ModelName
{
    private static ReadOnlySpan<byte> ModelProperty => "model"u8;

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    public static string? FromJson(ReadOnlySequence<byte> body)
    {
        if (body.IsEmpty)
        {
            return null;
        }

        // JSON text may start with a UTF-8 byte order mark (RFC 8259 lets parsers ignore it); Utf8JsonReader does not.
        // The first bytes are copied to the stack (they may span segments) rather than to a new array per request.
        Span<byte> start = stackalloc byte[Utf8Bom.Length];
        if (body.Length >= Utf8Bom.Length)
        {
            body.Slice(0, Utf8Bom.Length).CopyTo(start);
            if (start.SequenceEqual(Utf8Bom))
            {
                body = body.Slice(Utf8Bom.Length);
            }
        }

        try
        {
            var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isModel = reader.ValueTextEquals(ModelProperty);
                if (!reader.Read())
                {
                    return null;
                }

                if (isModel)
                {
                    return reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                }

                reader.Skip();
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not our business: the backend will answer malformed JSON itself. GetString throws
            // InvalidOperationException (not JsonException) for a string that is not valid UTF-8.
        }

        return null;
    }
}
