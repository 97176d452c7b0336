using System.Buffers;
using System.Globalization;
using System.Net;
using AoaiProxy.Answers;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Logging;
using AoaiProxy.Observability;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Pipeline;

/// <summary>How relaying a backend's answer ended.</summary>
internal enum RelayResult
{
    /// <summary>The whole body reached the caller.</summary>
    Completed,

    /// <summary>The backend's body broke off: counted against it.</summary>
    BackendBroke,

    /// <summary>The backend sent nothing for the idle timeout: counted against it.</summary>
    BackendStalled,

    /// <summary>The caller went away or stopped reading: nobody's fault but the caller's.</summary>
    CallerFailed,
}

/// <summary>
/// Copies a backend's answer to the caller: status and headers (minus hop-by-hop), then the body, flushed per chunk.
/// Once started there is no failover; a failure aborts the caller's connection rather than faking an ending.
/// </summary>
internal sealed class ResponseRelay
{
    private const int RelayBufferSize = 16 * 1024;

    /// <summary>Advertises the backend's own alternative endpoints; relayed, it would claim them for the proxy's origin.</summary>
    private const string AltSvcHeader = "Alt-Svc";

    /// <summary>
    /// A backend's cookie (App Service's ARRAffinity, a session) belongs to the backend's domain; relayed, the caller's
    /// browser or client would keep it for the proxy's. The proxy strips callers' cookies on the way in too.
    /// </summary>
    private const string SetCookieHeader = "Set-Cookie";

    private readonly ProxyOptions _options;
    private readonly ILogger _logger;
    private readonly ProxyMetrics? _metrics;

    public ResponseRelay(ProxyOptions options, ILogger logger, ProxyMetrics? metrics = null)
    {
        _options = options;
        _logger = logger;
        _metrics = metrics;
    }

    /// <summary>Relays <paramref name="upstream"/> to the caller and says how it ended.</summary>
    /// <param name="context">The caller's request.</param>
    /// <param name="backend">The backend that answered.</param>
    /// <param name="upstream">Its answer, headers received.</param>
    /// <param name="attempt">Which attempt it was (x-proxy-attempts).</param>
    /// <param name="cancellation">The request's: from here on its deadline no longer applies, the idle timeout does.</param>
    /// <param name="watcher">Sees each chunk pass; the answer's last byte waits for it.</param>
    public async Task<RelayResult> RelayAsync(
        HttpContext context, BackendOptions backend, HttpResponseMessage upstream, int attempt, RequestCancellation cancellation, IRelayWatcher? watcher = null)
    {
        cancellation.StartRelay(_options.RelayIdleTimeout);
        var response = context.Response;
        response.StatusCode = (int)upstream.StatusCode;
        CopyHeaders(upstream, response.Headers, withContent: true);
        response.Headers[ProxyHeaders.Backend] = backend.Name;
        response.Headers[ProxyHeaders.Attempts] = attempt.ToString(CultureInfo.InvariantCulture);

        // Server-sent events must reach the caller chunk by chunk.
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var aborted = context.RequestAborted;
        if (HttpMethods.IsHead(context.Request.Method) || upstream.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotModified)
        {
            await response.StartAsync(aborted).ConfigureAwait(false);
            return RelayResult.Completed;
        }

        var usage = RequestTelemetry.RelayStarted(context, backend.Name, _options.MaxDecodedBodyBytes);

        // As YARP's activity timeout: every read and every write counts as activity, so only a stall ends a long stream.
        var token = cancellation.Token;
        var reading = true;
        byte[]? buffer = null;
        var length = upstream.Content.Headers.ContentLength;
        long written = 0;
        try
        {
            var source = await upstream.Content.ReadAsStreamAsync(token).ConfigureAwait(false);
            await using (source.ConfigureAwait(false))
            {
                await response.StartAsync(token).ConfigureAwait(false);
                while (true)
                {
                    int read;
                    try
                    {
                        reading = true;
                        cancellation.Touch();

                        // A zero-byte read waits for data without a buffer: a stream idling between events holds none.
                        // Streams that cannot wait that way complete it at once, which costs nothing.
                        var wait = source.ReadAsync(Memory<byte>.Empty, token);
                        if (!wait.IsCompletedSuccessfully)
                        {
                            if (buffer is not null)
                            {
                                ArrayPool<byte>.Shared.Return(buffer);
                                buffer = null;
                            }

                            await wait.ConfigureAwait(false);
                        }
                        else
                        {
                            // A ValueTask is consumed exactly once, also when it completed at once (a pooled source may
                            // be reused only after its result was taken).
                            _ = wait.Result;
                        }

                        buffer ??= ArrayPool<byte>.Shared.Rent(RelayBufferSize);
                        read = await source.ReadAsync(buffer, token).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!aborted.IsCancellationRequested && !cancellation.IdleTimedOut && ex is HttpRequestException or IOException)
                    {
                        // Bytes may already be with the caller: no failover, no fake ending.
                        Log.RelayFailed(_logger, backend.Name, ex.Message);
                        context.Abort();
                        return RelayResult.BackendBroke;
                    }

                    if (read == 0)
                    {
                        if (watcher is not null && written != length)
                        {
                            // Unframed (chunked, or a stream): the caller has the end when the answer completes after this.
                            await watcher.BeforeLastByteAsync().ConfigureAwait(false);
                        }

                        return RelayResult.Completed;
                    }

                    reading = false;
                    cancellation.Touch();
                    _metrics?.FirstByte(context, backend.Name);

                    // Token usage read from the bytes as they pass: nothing is held back or copied.
                    usage.Observe(buffer.AsSpan(0, read));
                    written += read;
                    if (watcher is not null)
                    {
                        watcher.Relayed();
                        if (written == length)
                        {
                            await watcher.BeforeLastByteAsync().ConfigureAwait(false);
                        }
                    }

                    await response.Body.WriteAsync(buffer.AsMemory(0, read), token).ConfigureAwait(false);
                    await response.Body.FlushAsync(token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (cancellation.IdleTimedOut && !aborted.IsCancellationRequested && ex is OperationCanceledException or IOException or HttpRequestException)
        {
            Log.RelayIdleTimedOut(_logger, backend.Name, (long)_options.RelayIdleTimeout.TotalMilliseconds, reading ? "backend" : "caller");
            context.Abort();
            return reading ? RelayResult.BackendStalled : RelayResult.CallerFailed;
        }
        catch (Exception ex) when (aborted.IsCancellationRequested && ex is OperationCanceledException or IOException)
        {
            Log.CallerCancelled(_logger, attempt, backend.Name);
            return RelayResult.CallerFailed;
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// Copies what of a backend's answer headers reaches the caller: everything but hop-by-hop headers, Alt-Svc and its
    /// cookies, and, with <paramref name="withContent"/>, its content headers too (an answer built by the proxy has
    /// its own).
    /// </summary>
    internal static void CopyHeaders(HttpResponseMessage upstream, IHeaderDictionary to, bool withContent)
    {
        // NonValidated: the typed Connection property would parse the whole header collection on every answer.
        var connection = upstream.Headers.NonValidated.TryGetValues("Connection", out var named) ? named.ToString() : null;
        CopyHeaders(upstream.Headers, to, connection, skipContentLength: false);
        if (withContent)
        {
            // A message with both is framed by Transfer-Encoding (RFC 9112 §6.3): relaying the Content-Length as well would
            // make the server cut or fail the body on a length that does not describe it. YARP drops it the same way.
            CopyHeaders(upstream.Content.Headers, to, connection, skipContentLength: upstream.Headers.NonValidated.Contains("Transfer-Encoding"));
        }
    }

    private static void CopyHeaders(System.Net.Http.Headers.HttpHeaders from, IHeaderDictionary to, string? connection, bool skipContentLength)
    {
        // NonValidated: the values as received, neither parsed nor re-serialized (nor reordered).
        foreach (var (name, values) in from.NonValidated)
        {
            if (!HopByHopHeaders.IsHopByHop(name, connection) && !name.Equals(AltSvcHeader, StringComparison.OrdinalIgnoreCase) &&
                !name.Equals(SetCookieHeader, StringComparison.OrdinalIgnoreCase) &&
                !(skipContentLength && name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)))
            {
                to[name] = values.Count == 1 ? values.ToString() : values.ToArray();
            }
        }
    }
}
