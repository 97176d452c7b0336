using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

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

/// <summary>Names a host needs to export the engine's telemetry.</summary>
public static class ProxyTelemetry
{
    /// <summary>The name of the engine's one <see cref="System.Diagnostics.Metrics.Meter"/>.</summary>
    public const string MeterName = Observability.ProxyMetrics.MeterName;
}

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
