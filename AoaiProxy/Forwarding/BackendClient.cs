using System.Diagnostics;
using System.Net;
using System.Text;
using AoaiProxy.Configuration;

namespace AoaiProxy.Forwarding;

/// <summary>
/// The one outbound HTTP client, shared by every request. A proxy must relay, not interpret: no redirects followed,
/// no cookies, no decompression, no environment proxy; pooled connections are recycled so DNS changes are seen.
/// </summary>
internal sealed class BackendClient : IDisposable
{
    private static readonly TimeSpan PooledConnectionLifetime = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan MaxConnectTimeout = TimeSpan.FromSeconds(10);

    public BackendClient(ProxyOptions options)
        : this(options, static _ => { })
    {
    }

    /// <summary>For tests: <paramref name="configure"/> adjusts the handler (to trust a test certificate, say).</summary>
    internal BackendClient(ProxyOptions options, Action<SocketsHttpHandler> configure)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(configure);
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
            UseCookies = false,
            EnableMultipleHttp2Connections = true,
            PooledConnectionLifetime = PooledConnectionLifetime,
            ConnectTimeout = options.RequestTimeout < MaxConnectTimeout ? options.RequestTimeout : MaxConnectTimeout,

            // The backend must see the proxy's own outgoing span as parent, not the caller's copied traceparent.
            ActivityHeadersPropagator = new TraceContextPropagator(DistributedContextPropagator.Current),

            // Kestrel decodes a caller's header values as UTF-8; without this a non-ASCII value makes SendAsync throw, which
            // reads as the backend's transport failure and cools every backend for one caller's header.
            RequestHeaderEncodingSelector = static (_, _) => Encoding.UTF8,

            // Latin-1 maps bytes 1:1, so a backend's non-ASCII header bytes reach the caller unchanged (Kestrel is set the same way).
            ResponseHeaderEncodingSelector = static (_, _) => Encoding.Latin1,
        };
        configure(handler);
        Invoker = new HttpMessageInvoker(handler);
    }

    public HttpMessageInvoker Invoker { get; }

    public void Dispose() => Invoker.Dispose();
}
