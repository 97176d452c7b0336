namespace AoaiProxy.Answers;

/// <summary>Header names the proxy sets or reads.</summary>
internal static class ProxyHeaders
{
    /// <summary>Names the backend that served the response.</summary>
    public const string Backend = "x-proxy-backend";

    /// <summary>How many backends this request was sent to.</summary>
    public const string Attempts = "x-proxy-attempts";

    /// <summary>Azure OpenAI's millisecond form of Retry-After (honoured by the OpenAI SDKs).</summary>
    public const string RetryAfterMs = "retry-after-ms";

    /// <summary>How long a request waited inside the proxy for a throttled deployment's next window, in milliseconds.</summary>
    public const string WaitMs = "x-proxy-wait-ms";

    /// <summary>
    /// On a merged list page, each answering backend's request id (its apim-request-id, else x-request-id) as
    /// <c>name=id</c>: the page carries the first backend's own headers, and Azure support asks for the id of each.
    /// </summary>
    public const string ListRequestIds = "x-proxy-list-request-ids";

    /// <summary>Names the backends a merged list page lacks (cooling or failed), so that a partial list is never silent.</summary>
    public const string ListIncomplete = "x-proxy-list-incomplete";
}
