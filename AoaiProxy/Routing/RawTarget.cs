using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace AoaiProxy.Routing;

/// <summary>
/// The request target as the caller sent it. A server decodes and normalizes <see cref="HttpRequest.Path"/> (it resolves
/// dot segments, so <c>/openai/../proxy/status</c> reads as <c>/proxy/status</c>); the proxy decides on what was sent.
/// </summary>
internal static class RawTarget
{
    /// <summary>The raw target: path and query as sent.</summary>
    public static string Of(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (!string.IsNullOrEmpty(raw) && raw[0] == '/')
        {
            return raw;
        }

        // Absolute-form targets, or hosts that do not expose the raw target: rebuild it from the (escaped) parts.
        var request = context.Request;
        return request.PathBase.Add(request.Path).ToUriComponent() + request.QueryString.ToUriComponent();
    }

    /// <summary>
    /// True when the raw target's path is exactly <paramref name="path"/> (case-insensitive, as Functions routes are; a
    /// single trailing slash allowed): no other spelling of it, encoded or with dot segments, reaches that endpoint.
    /// </summary>
    public static bool IsExactly(HttpContext context, string path)
    {
        var target = Of(context).AsSpan();
        var query = target.IndexOf('?');
        var raw = query < 0 ? target : target[..query];
        if (raw.Length == path.Length + 1 && raw[^1] == '/')
        {
            raw = raw[..^1];
        }

        return raw.Equals(path, StringComparison.OrdinalIgnoreCase);
    }
}
