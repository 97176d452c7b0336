using AoaiProxy.Routing;

namespace AoaiProxy.Affinity;

/// <summary>The operation a request names, as the object rules read it. Pure.</summary>
internal static class OperationPath
{
    /// <summary>
    /// The operation path: what follows /openai/, /openai/v1/ or /openai/deployments/{d}/, without the query.
    /// </summary>
    public static string Of(ProxyPath path)
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
}
