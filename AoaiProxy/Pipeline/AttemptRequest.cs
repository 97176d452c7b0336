using System.Text;
using AoaiProxy.Affinity;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Routing;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Pipeline;

/// <summary>What the attempts of one admitted and routed request need, besides the backend.</summary>
/// <param name="Context">The caller's request.</param>
/// <param name="Path">The validated target.</param>
/// <param name="Deployment">The request's deployment (null: none known).</param>
/// <param name="Body">The buffered body, replayable.</param>
/// <param name="HasBody">Whether the caller's request had a body (even an empty one).</param>
/// <param name="Cancellation">The request's one cancellation: the caller gone, or its deadline passed (shared by all attempts).</param>
/// <param name="Route">What the request names and does (objects, stateful or not, a list to merge).</param>
/// <param name="ByClientKey">Whether the caller authenticated with one of the proxy's client keys (never passed on to a backend).</param>
/// <param name="Model">Where a v1 body names the deployment ("model"), for backends that call it differently.</param>
/// <param name="Cost">The request's estimated tokens (<see cref="Throttling.RequestCost"/>); null when it has no estimate.</param>
internal sealed record AttemptRequest(
    HttpContext Context, ProxyPath Path, string? Deployment, RequestBody Body, bool HasBody, RequestCancellation Cancellation,
    RequestRoute Route, bool ByClientKey, ModelLocation Model = default, long? Cost = null)
{
    /// <summary>
    /// The target and body edit for <paramref name="backend"/>: the caller's deployment replaced by the backend's own
    /// name (Proxy:Backends:{i}:Deployments), in the path or in the v1 body's "model".
    /// </summary>
    public (ProxyPath Path, BodyEdit? Edit) TargetFor(BackendOptions backend)
    {
        ArgumentNullException.ThrowIfNull(backend);
        if (Deployment is null || backend.DeploymentNameFor(Deployment) is not { } name || name.Equals(Deployment, StringComparison.OrdinalIgnoreCase))
        {
            return (Path, null);
        }

        if (Path.Deployment is not null)
        {
            return (DeploymentMap.RewritePath(Path, name), null);
        }

        return Model.Model is null ? (Path, null) : (Path, new BodyEdit(Model.Start, Model.Length, Encoding.UTF8.GetBytes("\"" + name + "\"")));
    }
}
