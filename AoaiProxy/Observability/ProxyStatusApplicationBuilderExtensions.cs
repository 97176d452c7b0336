using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy;

/// <summary>How a plain ASP.NET Core host serves the status surface.</summary>
public static class ProxyStatusApplicationBuilderExtensions
{
    /// <summary>
    /// Branches <c>/proxy</c> (page) and <c>/proxy/status</c> (JSON), exactly as sent, to the engine's
    /// <see cref="IProxyStatusEndpoint"/>. Any other spelling of them (with dot segments, encoded) is not theirs: the
    /// engine refuses it like any other target.
    /// </summary>
    public static IApplicationBuilder UseAzureOpenAIProxyStatus(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var status = app.ApplicationServices.GetRequiredService<IProxyStatusEndpoint>();
        return app.MapWhen(
            context => IsRequestFor(context, Observability.ProxyStatusEndpoint.PagePath) || IsRequestFor(context, Observability.ProxyStatusEndpoint.StatusPath),
            branch => branch.Run(status.ServeAsync));
    }

    /// <summary>
    /// True when the request's target, as the caller sent it (not as the server normalized it), is exactly
    /// <paramref name="path"/>, e.g. a host's <c>/metrics</c>.
    /// </summary>
    public static bool IsRequestFor(HttpContext context, string path) => Routing.RawTarget.IsExactly(context, path);
}
