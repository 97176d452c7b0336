using System.Text.Json;

namespace AoaiProxy.Affinity;

/// <summary>The id of the object a backend's answer just created. Pure; never throws on what it reads.</summary>
internal static class CreatedObjectId
{
    /// <summary>
    /// The id of an object in a backend's answer: the top-level "id" of a JSON body, or for server-sent events the
    /// first event's <c>response.id</c> (the Responses API's response.created) or top-level "id".
    /// <paramref name="prefix"/> may be the first part of a longer body.
    /// </summary>
    public static string? Of(ReadOnlySpan<byte> prefix, bool eventStream)
    {
        if (eventStream)
        {
            var data = prefix.IndexOf("data:"u8);
            if (data < 0)
            {
                return null;
            }

            prefix = prefix[(data + 5)..];
            var end = prefix.IndexOf((byte)'\n');
            prefix = end < 0 ? prefix : prefix[..end];
        }

        var reader = new Utf8JsonReader(prefix, isFinalBlock: false, default);
        string? nested = null;
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return null;
            }

            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName)
                {
                    continue;
                }

                if (reader.CurrentDepth == 1 && reader.ValueTextEquals("id"u8))
                {
                    reader.Read();
                    return reader.TokenType == JsonTokenType.String && ObjectId.IsValid(reader.GetString()) ? reader.GetString() : null;
                }

                if (reader.CurrentDepth == 2 && eventStream && reader.ValueTextEquals("id"u8) && nested is null)
                {
                    reader.Read();
                    nested = reader.TokenType == JsonTokenType.String && ObjectId.IsValid(reader.GetString()) ? reader.GetString() : null;
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not JSON, or cut where the id would have been.
        }

        return nested;
    }
}
