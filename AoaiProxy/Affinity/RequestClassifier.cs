namespace AoaiProxy.Affinity;

/// <summary>How a request is treated as far as stateful objects go: replayed or not, creating or deleting one. Pure.</summary>
internal static class RequestClassifier
{
    /// <summary>The operations that are inference: they run a model and create nothing that later requests name by path.</summary>
    private static readonly string[] InferencePrefixes =
    [
        "chat/completions", "completions", "embeddings", "images/", "audio/", "moderations", "realtime", "extensions/chat/completions",
    ];

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

        var ids = PathObjectIds.FromOperation(operation);
        var segments = operation.Split('/');
        return ids.Count == 1 && segments.Length == 2 && ids[0] == segments[1] ? ids[0] : null;
    }

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
}
