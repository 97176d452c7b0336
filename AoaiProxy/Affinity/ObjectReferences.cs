using System.Buffers;
using System.Collections.Frozen;
using System.Text.Json;
using AoaiProxy.Routing;

namespace AoaiProxy.Affinity;

/// <summary>What a request is, as far as stateful objects go.</summary>
internal enum RequestKind
{
    /// <summary>Inference (chat, completions, embeddings, images, audio, responses): may fail over after a 5xx.</summary>
    Inference,

    /// <summary>Reads objects (GET, HEAD, OPTIONS) without changing them.</summary>
    Read,

    /// <summary>Creates or changes a stateful object (files, batches, fine-tuning, assistants, threads, vector stores...).</summary>
    Stateful,
}

/// <summary>
/// Finds the stateful objects a request names (path segments and body fields) and classifies the request. Pure; never
/// throws on malformed JSON (the backend answers that itself).
/// </summary>
internal static class ObjectReferences
{
    /// <summary>An id is recorded as a Table row key: only these characters, and not more than this many.</summary>
    internal const int MaxIdLength = 256;

    /// <summary>Path segments that name a collection of objects: the segment after one is an object id.</summary>
    private static readonly FrozenSet<string> Collections = FrozenSet.ToFrozenSet(
    [
        "files", "uploads", "batches", "jobs", "checkpoints", "assistants", "threads", "messages", "runs", "steps",
        "vector_stores", "file_batches", "responses", "conversations", "items", "containers", "parts",
    ], StringComparer.OrdinalIgnoreCase);

    /// <summary>Segments after a collection that are operations or sub-collections, not ids.</summary>
    private static readonly FrozenSet<string> NotIds = FrozenSet.ToFrozenSet(
    [
        "cancel", "content", "input_items", "input_tokens", "submit_tool_outputs", "complete", "pause", "resume", "events",
        "search", "compact",
    ], StringComparer.OrdinalIgnoreCase);

    /// <summary>Body fields whose string value (or array of strings) names an object.</summary>
    private static readonly FrozenSet<string> IdFields = FrozenSet.ToFrozenSet(
    [
        "previous_response_id", "conversation", "conversation_id", "thread_id", "assistant_id", "file_id", "file_ids",
        "input_file_id", "training_file", "validation_file", "vector_store_id", "vector_store_ids", "response_id", "container",
    ], StringComparer.Ordinal);

    /// <summary>The operations that are inference: they run a model and create nothing that later requests name by path.</summary>
    private static readonly string[] InferencePrefixes =
    [
        "chat/completions", "completions", "embeddings", "images/", "audio/", "moderations", "realtime", "extensions/chat/completions",
    ];

    private static readonly SearchValues<char> IdChars =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.");

    /// <summary>
    /// The operation path: what follows /openai/, /openai/v1/ or /openai/deployments/{d}/, without the query.
    /// </summary>
    public static string OperationOf(ProxyPath path)
    {
        var raw = path.PathAndQuery.AsSpan();
        var query = raw.IndexOf('?');
        raw = (query < 0 ? raw : raw[..query]).TrimEnd('/');

        // "", "openai", then "v1" | "deployments", "{d}" | the operation: what follows the skip-th '/' (a span walk rather
        // than split and join, which cost every request about half a kilobyte).
        var skip = path.IsV1 ? 3 : path.Deployment is not null ? 4 : 2;
        var start = 0;
        for (var n = 0; n < skip; n++)
        {
            var slash = raw[start..].IndexOf('/');
            if (slash < 0)
            {
                return "";
            }

            start += slash + 1;
        }

        return raw[start..].ToString();
    }

    /// <summary>How a request of <paramref name="method"/> on <paramref name="operation"/> is treated (replay, recording).</summary>
    public static RequestKind Classify(string method, string operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        if (IsInference(operation))
        {
            return RequestKind.Inference;
        }

        return method.ToUpperInvariant() is "GET" or "HEAD" or "OPTIONS" ? RequestKind.Read : RequestKind.Stateful;
    }

    /// <summary>
    /// True when a 2xx answer to this request carries the id of an object just created on the backend: a POST that
    /// is not plain inference (a stored response is created by POST responses).
    /// </summary>
    public static bool Creates(string method, string operation) =>
        string.Equals(method, "POST", StringComparison.OrdinalIgnoreCase) &&
        (!IsInference(operation) || operation.Equals("responses", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// The id a successful DELETE removes: a top-level object (DELETE files/{id}). A nested DELETE
    /// (vector_stores/{vs}/files/{file}) detaches rather than deletes, so nothing is forgotten for it.
    /// </summary>
    public static string? DeletedId(string method, string operation)
    {
        if (!string.Equals(method, "DELETE", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var ids = FromOperation(operation);
        var segments = operation.Split('/');
        return ids.Count == 1 && segments.Length == 2 && ids[0] == segments[1] ? ids[0] : null;
    }

    /// <summary>Object ids in the operation path, outermost first (thread before run).</summary>
    public static List<string> FromOperation(string operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var ids = new List<string>();
        var segments = operation.Split('/');
        for (var i = 1; i < segments.Length; i++)
        {
            if (Collections.Contains(segments[i - 1]) && !Collections.Contains(segments[i]) && !NotIds.Contains(segments[i]) &&
                IsId(segments[i]))
            {
                ids.Add(segments[i]);
            }
        }

        return ids;
    }

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

    /// <summary>
    /// The id of an object in a backend's answer: the top-level "id" of a JSON body, or for server-sent events the
    /// first event's <c>response.id</c> (the Responses API's response.created) or top-level "id".
    /// <paramref name="prefix"/> may be the first part of a longer body.
    /// </summary>
    public static string? CreatedId(ReadOnlySpan<byte> prefix, bool eventStream)
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
                    return reader.TokenType == JsonTokenType.String && IsId(reader.GetString()) ? reader.GetString() : null;
                }

                if (reader.CurrentDepth == 2 && eventStream && reader.ValueTextEquals("id"u8) && nested is null)
                {
                    reader.Read();
                    nested = reader.TokenType == JsonTokenType.String && IsId(reader.GetString()) ? reader.GetString() : null;
                }
            }
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not JSON, or cut where the id would have been.
        }

        return nested;
    }

    /// <summary>Ids are short and plain (file-abc, resp_123): anything else is never recorded or looked up.</summary>
    public static bool IsId(string? value) =>
        value is { Length: > 0 and <= MaxIdLength } && !value.AsSpan().ContainsAnyExcept(IdChars) && value[0] != '.';

    private static bool IsInference(string operation)
    {
        if (operation.Equals("responses", StringComparison.OrdinalIgnoreCase))
        {
            return true;
        }

        foreach (var prefix in InferencePrefixes)
        {
            if (operation.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
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
        if (IsId(id) && !ids.Contains(id!))
        {
            ids.Add(id!);
        }
    }
}

/// <summary>What routing learned about a request's objects.</summary>
/// <param name="Kind">Inference, read, or stateful (the replay rule).</param>
/// <param name="Ids">The object ids it names, outermost first.</param>
/// <param name="Creates">A good answer carries the id of an object just created.</param>
/// <param name="Deleted">The object a good answer deletes, if any.</param>
/// <param name="Owner">The backend holding <paramref name="Holder"/>, when known: the only one the request goes to.</param>
/// <param name="Holder">The id that bound the request to <paramref name="Owner"/>.</param>
/// <param name="Probing">It names objects nobody recorded: backends are tried in turn on 404.</param>
/// <param name="MergesList">A first page of a list without an id: every backend answers, merged (<see cref="ListMerge"/>).</param>
/// <param name="Cursor">The id a later list page continues after (or before), also in <paramref name="Ids"/>; a good answer does not prove where it is.</param>
internal sealed record RequestRoute(
    RequestKind Kind, IReadOnlyList<string> Ids, bool Creates, string? Deleted, int? Owner = null, string? Holder = null, bool Probing = false,
    bool MergesList = false, string? Cursor = null);
