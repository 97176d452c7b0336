using System.Buffers;
using System.Collections.Frozen;
using System.Text.Json;

namespace AoaiProxy.Affinity;

/// <summary>
/// The object ids a request's JSON body names (previous_response_id, file_id, vector_store_ids...). Pure; never throws on
/// malformed JSON (the backend answers that itself).
/// </summary>
internal static class BodyObjectIds
{
    /// <summary>Body fields whose string value (or array of strings) names an object.</summary>
    private static readonly FrozenSet<string> IdFields = FrozenSet.ToFrozenSet(
    [
        "previous_response_id", "conversation", "conversation_id", "thread_id", "assistant_id", "file_id", "file_ids",
        "input_file_id", "training_file", "validation_file", "vector_store_id", "vector_store_ids", "response_id", "container",
    ], StringComparer.Ordinal);

    /// <summary>
    /// Object ids named by the body's fields (<see cref="IdFields"/>) at any depth, in document order: a string, an
    /// array of strings, or an object with an "id" (the Responses API's <c>conversation: {"id": ...}</c>).
    /// </summary>
    public static List<string> FromJson(ReadOnlySequence<byte> body)
    {
        var ids = new List<string>();
        if (body.IsEmpty)
        {
            return ids;
        }

        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return ids;
            }

            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName || !IsIdField(ref reader))
                {
                    continue;
                }

                reader.Read();
                switch (reader.TokenType)
                {
                    case JsonTokenType.String:
                        Add(ids, reader.GetString());
                        break;
                    case JsonTokenType.StartArray:
                        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                        {
                            if (reader.TokenType == JsonTokenType.String)
                            {
                                Add(ids, reader.GetString());
                            }
                            else
                            {
                                reader.Skip();
                            }
                        }

                        break;
                    case JsonTokenType.StartObject:
                        var depth = reader.CurrentDepth;
                        while (reader.Read() && !(reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == depth))
                        {
                            if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == depth + 1 && reader.ValueTextEquals("id"u8))
                            {
                                reader.Read();
                                if (reader.TokenType == JsonTokenType.String)
                                {
                                    Add(ids, reader.GetString());
                                }
                            }
                        }

                        break;
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Malformed or truncated: what was found so far is all there is.
        }

        return ids;
    }

    private static bool IsIdField(ref Utf8JsonReader reader)
    {
        if (reader.ValueSpan.Length > 32 || reader.ValueIsEscaped)
        {
            return false;
        }

        return IdFields.Contains(reader.GetString()!);
    }

    private static void Add(List<string> ids, string? id)
    {
        if (ObjectId.IsValid(id) && !ids.Contains(id!))
        {
            ids.Add(id!);
        }
    }
}
