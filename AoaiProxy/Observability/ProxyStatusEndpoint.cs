using System.Net;
using System.Reflection;
using System.Text.Json;
using AoaiProxy.Answers;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Logging;
using AoaiProxy.Routing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Observability;

/// <summary>
/// Serves <c>GET /proxy</c> (a self-contained HTML page that polls the status) and <c>GET /proxy/status</c>.
/// The status needs the same credentials as <c>/openai/</c>; without caller authentication configured, it is served to
/// loopback callers only. The page holds no data (it asks for a credential and fetches the status with it), so with
/// caller authentication it is served to anyone, since a browser cannot send a header when opening a page.
/// </summary>
internal sealed class ProxyStatusEndpoint(
    ProxyStatus status, CallerAuthenticator callers, ProxyOptions options, ILogger<ProxyStatusEndpoint> logger) : IProxyStatusEndpoint
{
    private readonly AuthOptions _auth = options.Auth;

    /// <summary>The path of the page.</summary>
    public const string PagePath = "/proxy";

    /// <summary>The path of the status JSON.</summary>
    public const string StatusPath = "/proxy/status";

    /// <summary>
    /// No external anything: scripts and styles are the page's own inline ones, and it connects only to its own origin.
    /// </summary>
    internal const string PageContentSecurityPolicy =
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    private static readonly Lazy<byte[]> Page = new(LoadPage);

    public async Task ServeAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        var request = context.Request;
        var isPage = RawTarget.IsExactly(context, PagePath);
        var isStatus = RawTarget.IsExactly(context, StatusPath);
        if (!isPage && !isStatus)
        {
            await ErrorResponse.WriteAsync(context, ProxyOutcome.NotProxied, $"Not found. The proxy serves {PagePath} (status page) and {StatusPath} (JSON).").ConfigureAwait(false);
            return;
        }

        if (!HttpMethods.IsGet(request.Method) && !HttpMethods.IsHead(request.Method))
        {
            context.Response.Headers.Allow = "GET, HEAD";
            await ErrorResponse.WriteAsync(context, ProxyOutcome.MethodNotAllowed, "The status page and status are read with GET.").ConfigureAwait(false);
            return;
        }

        if (isPage ? !_auth.AuthenticatesCallers && !await AdmitAsync(context).ConfigureAwait(false) : !await AdmitAsync(context).ConfigureAwait(false))
        {
            return;
        }

        var response = context.Response;
        response.Headers.CacheControl = "no-store";
        response.Headers.XContentTypeOptions = "nosniff";
        if (isPage)
        {
            response.ContentType = "text/html; charset=utf-8";
            response.Headers.ContentSecurityPolicy = PageContentSecurityPolicy;
            response.Headers["Referrer-Policy"] = "no-referrer";
            await WriteAsync(context, Page.Value).ConfigureAwait(false);
            return;
        }

        using var buffer = new MemoryStream();
        await using (var json = new Utf8JsonWriter(buffer))
        {
            status.Write(json);
        }

        response.ContentType = "application/json; charset=utf-8";
        await WriteAsync(context, buffer.ToArray()).ConfigureAwait(false);
    }

    public async ValueTask<bool> AdmitAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (_auth.AuthenticatesCallers)
        {
            var check = await callers.AuthenticateAsync(context.Request, context.RequestAborted).ConfigureAwait(false);
            if (!check.IsAllowed)
            {
                await CallerAuthenticator.WriteRefusalAsync(context, check).ConfigureAwait(false);
                return false;
            }

            return true;
        }

        if (IsLoopback(context))
        {
            return true;
        }

        Log.StatusRefusedRemote(logger, context.Request.Path.Value ?? "");
        await ErrorResponse.WriteAsync(context, ProxyOutcome.Forbidden,
            "Without caller authentication (Proxy:Auth:ClientKeys or Proxy:Auth:EntraId) status and metrics are served to loopback callers only.").ConfigureAwait(false);
        return false;
    }

    /// <summary>
    /// A caller on this machine. A request relayed by a local front end (the Functions host, a reverse proxy) arrives
    /// from loopback too, so a forwarding header naming anyone else makes it remote.
    /// </summary>
    internal static bool IsLoopback(HttpContext context)
    {
        var remote = context.Connection.RemoteIpAddress;
        if (remote is null || !IPAddress.IsLoopback(remote))
        {
            return false;
        }

        var headers = context.Request.Headers;
        foreach (var value in headers["X-Forwarded-For"])
        {
            foreach (var part in (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!IPAddress.TryParse(part, out var forwarded) || !IPAddress.IsLoopback(forwarded))
                {
                    return false;
                }
            }
        }

        // RFC 7239 Forwarded carries the same information in another syntax: any use of it counts as relayed.
        return headers["Forwarded"].Count == 0;
    }

    private static async Task WriteAsync(HttpContext context, byte[] body)
    {
        context.Response.ContentLength = body.Length;
        if (!HttpMethods.IsHead(context.Request.Method))
        {
            await context.Response.Body.WriteAsync(body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private static byte[] LoadPage()
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream("AoaiProxy.Observability.StatusPage.html")
            ?? throw new InvalidOperationException("The status page resource is missing from the engine assembly.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
