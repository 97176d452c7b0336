using System.Collections.Frozen;

namespace AoaiProxy.Affinity;

/// <summary>The object ids a request's path names (files/{id}, threads/{id}/runs/{id}). Pure.</summary>
internal static class PathObjectIds
{
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

    /// <summary>Object ids in the operation path, outermost first (thread before run).</summary>
    public static List<string> FromOperation(string operation)
    {
        ArgumentNullException.ThrowIfNull(operation);
        var ids = new List<string>();
        var segments = operation.Split('/');
        for (var i = 1; i < segments.Length; i++)
        {
            if (Collections.Contains(segments[i - 1]) && !Collections.Contains(segments[i]) && !NotIds.Contains(segments[i]) &&
                ObjectId.IsValid(segments[i]))
            {
                ids.Add(segments[i]);
            }
        }

        return ids;
    }
}
