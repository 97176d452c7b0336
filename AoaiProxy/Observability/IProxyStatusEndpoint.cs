using Microsoft.AspNetCore.Http;

namespace AoaiProxy;

/// <summary>
/// The engine's status surface as a host sees it: <c>GET /proxy</c> (the status page), <c>GET /proxy/status</c> (JSON),
/// and the access rule that also guards a host's <c>/metrics</c>.
/// </summary>
public interface IProxyStatusEndpoint
{
    /// <summary>Answers one request under <c>/proxy</c> completely (page, status JSON, or an error in Azure's shape).</summary>
    Task ServeAsync(HttpContext context);

    /// <summary>
    /// Applies the access rule of status and metrics: with caller authentication configured, the same credentials as
    /// <c>/openai/</c>; without it, loopback callers only. Returns false after writing the refusal (401/403/503).
    /// </summary>
    ValueTask<bool> AdmitAsync(HttpContext context);
}
