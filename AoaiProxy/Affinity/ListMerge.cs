using System.Text.Json;
using System.Text.Json.Nodes;

namespace AoaiProxy.Affinity;

/// <summary>
/// Lists without an id (GET files, batches, assistants, vector stores, fine-tuning jobs) are answered from every
/// backend at once: each holds only its own objects, and a caller listing its files expects all of them, not those of
/// whichever backend the rotation picked. Pure: which requests merge, and the merged page.
/// </summary>
internal static class ListMerge
{
    private static readonly string[] Lists = ["files", "batches", "assistants", "vector_stores", "fine_tuning/jobs"];

    /// <summary>
    /// True for a first page of a top-level list. A page after a cursor (<c>after</c>, <c>before</c>) names an object of
    /// one backend and is routed to it like any other id.
    /// </summary>
    public static bool Applies(string method, string operation, string pathAndQuery)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(pathAndQuery);
        return string.Equals(method, "GET", StringComparison.OrdinalIgnoreCase) &&
            Lists.Contains(operation, StringComparer.OrdinalIgnoreCase) && QueryValue(pathAndQuery, "after") is null &&
            QueryValue(pathAndQuery, "before") is null;
    }

    /// <summary>The cursor of a later page (an object id), if any.</summary>
    public static string? Cursor(string pathAndQuery) => QueryValue(pathAndQuery, "after") ?? QueryValue(pathAndQuery, "before");

    /// <summary>
    /// One list page from the backends' pages: the items of all, newest first (oldest first with <c>order=asc</c>) by
    /// <c>created_at</c>, at most <c>limit</c> when the caller set one. Null when a page is not a list (the caller then
    /// gets the first backend's answer as it is).
    /// </summary>
    public static byte[]? Merge(IReadOnlyList<byte[]> pages, string pathAndQuery)
    {
        ArgumentNullException.ThrowIfNull(pages);
        var items = new List<JsonNode>();
        var hasMore = false;

        // Only fields a backend sent: the merged page says nothing the pages did not (first_id / last_id are the v1
        // lists' and Assistants', not every list's).
        var fields = new HashSet<string>(StringComparer.Ordinal);
        try
        {
            foreach (var page in pages)
            {
                if (JsonNode.Parse(page) is not JsonObject list || list["data"] is not JsonArray data)
                {
                    return null;
                }

                foreach (var (name, _) in list)
                {
                    fields.Add(name);
                }

                hasMore |= list["has_more"]?.GetValueKind() == JsonValueKind.True;
                foreach (var item in data)
                {
                    if (item is not null)
                    {
                        items.Add(item.DeepClone());
                    }
                }
            }
        }
        catch (JsonException)
        {
            return null;
        }

        var ascending = string.Equals(QueryValue(pathAndQuery, "order"), "asc", StringComparison.OrdinalIgnoreCase);
        var ordered = ascending ? items.OrderBy(CreatedAt).ToList() : items.OrderByDescending(CreatedAt).ToList();
        if (int.TryParse(QueryValue(pathAndQuery, "limit"), out var limit) && limit > 0 && ordered.Count > limit)
        {
            ordered = ordered.Take(limit).ToList();
            hasMore = true;
        }

        var merged = new JsonObject();
        if (fields.Contains("object"))
        {
            merged["object"] = "list";
        }

        merged["data"] = new JsonArray([.. ordered]);
        if (fields.Contains("first_id"))
        {
            merged["first_id"] = ordered.Count > 0 ? ordered[0]["id"]?.DeepClone() : null;
        }

        if (fields.Contains("last_id"))
        {
            merged["last_id"] = ordered.Count > 0 ? ordered[^1]["id"]?.DeepClone() : null;
        }

        if (fields.Contains("has_more") || hasMore)
        {
            merged["has_more"] = hasMore;
        }

        return JsonSerializer.SerializeToUtf8Bytes(merged);
    }

    private static long CreatedAt(JsonNode item) =>
        item["created_at"] is JsonValue value && value.TryGetValue<long>(out var seconds) ? seconds : 0;

    private static string? QueryValue(string pathAndQuery, string name)
    {
        var start = pathAndQuery.IndexOf('?', StringComparison.Ordinal);
        if (start < 0)
        {
            return null;
        }

        foreach (var pair in pathAndQuery[(start + 1)..].Split('&'))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            var key = equals < 0 ? pair : pair[..equals];
            if (key.Equals(name, StringComparison.Ordinal))
            {
                return equals < 0 ? "" : Uri.UnescapeDataString(pair[(equals + 1)..]);
            }
        }

        return null;
    }
}
