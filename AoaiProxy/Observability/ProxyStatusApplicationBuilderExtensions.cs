using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace AoaiProxy;

/// <summary>How a plain ASP.NET Core host serves the status surface.</summary>
public static class ProxyStatusApplicationBuilderExtensions
{
    /// <summary>Branches requests under <c>/proxy</c> (page and status JSON) to the engine's <see cref="IProxyStatusEndpoint"/>.</summary>
    public static IApplicationBuilder UseAzureOpenAIProxyStatus(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var status = app.ApplicationServices.GetRequiredService<IProxyStatusEndpoint>();
        return app.MapWhen(
            context => context.Request.Path.StartsWithSegments(Observability.ProxyStatusEndpoint.PagePath, StringComparison.OrdinalIgnoreCase),
            branch => branch.Run(status.ServeAsync));
    }
}
