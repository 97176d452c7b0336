using AoaiProxy.Answers;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Logging;
using AoaiProxy.Observability;
using AoaiProxy.Routing;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Pipeline;

/// <summary>What admission let through: the validated target, the buffered body and how the caller authenticated.</summary>
/// <param name="Path">The target, under /openai/.</param>
/// <param name="Body">The body, replayable (owned by the request from here on).</param>
/// <param name="HasBody">Whether the caller's request had a body (even an empty one).</param>
/// <param name="ByClientKey">Whether the caller presented one of the proxy's client keys.</param>
internal readonly record struct AdmittedRequest(ProxyPath Path, RequestBody Body, bool HasBody, bool ByClientKey);

/// <summary>
/// The first step of every request: the caller (before the body is read and before any backend is contacted), the
/// target, the method, the body (buffered up to Proxy:MaxRequestBodyBytes so that failover can replay it). A refused
/// request is answered here, in Azure's error shape, and goes no further.
/// </summary>
internal sealed class Admission
{
    private static readonly HashSet<string> AllowedMethods = new(StringComparer.OrdinalIgnoreCase)
    {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
    };

    private readonly ProxyOptions _options;
    private readonly CallerAuthenticator _callers;
    private readonly ILogger _logger;

    public Admission(ProxyOptions options, CallerAuthenticator callers, ILogger logger)
    {
        _options = options;
        _callers = callers;
        _logger = logger;
    }

    /// <summary>The admitted request, or null when it was refused (and answered).</summary>
    public async ValueTask<AdmittedRequest?> AdmitAsync(HttpContext context)
    {
        var request = context.Request;
        var aborted = context.RequestAborted;
        var caller = await _callers.AuthenticateAsync(request, aborted).ConfigureAwait(false);
        RequestTelemetry.CallerIdentified(context, caller);
        if (!caller.IsAllowed)
        {
            await CallerAuthenticator.WriteRefusalAsync(context, caller).ConfigureAwait(false);
            return null;
        }

        var target = ProxyPathParser.Parse(RawTarget.Of(context));
        if (!target.IsValid)
        {
            Log.PathRejected(_logger, target.Error!);
            await ErrorResponse.WriteAsync(context, target.NotUnderPrefix ? ProxyOutcome.NotProxied : ProxyOutcome.InvalidPath, target.Error!).ConfigureAwait(false);
            return null;
        }

        if (!AllowedMethods.Contains(request.Method))
        {
            Log.RequestRejected(_logger, "method not allowed");
            context.Response.Headers.Allow = string.Join(", ", AllowedMethods);
            await ErrorResponse.WriteAsync(context, ProxyOutcome.MethodNotAllowed, "The HTTP method is not supported by the proxy.").ConfigureAwait(false);
            return null;
        }

        if (request.ContentLength > _options.MaxRequestBodyBytes)
        {
            await RefuseBodyAsync(context).ConfigureAwait(false);
            return null;
        }

        AllowBody(context);

        // A large body nothing reads before routing (not v1's, whose "model" names the deployment; an object router only
        // scans bodies under RequestBody.MemoryThreshold) streams through the first attempt as it arrives.
        var path = target.Path;
        var read = await RequestBody.ReceiveAsync(request.Body, request.ContentLength, mayStream: !path.IsV1,
            _options.MaxRequestBodyBytes, aborted).ConfigureAwait(false);
        if (read.Failure is { } failure)
        {
            await AnswerBodyFailureAsync(context, failure).ConfigureAwait(false);
            return null;
        }

        var body = read.Body!;
        var hasBody = body.Length > 0 || request.ContentLength is not null || request.Headers.ContainsKey("Transfer-Encoding");
        return new AdmittedRequest(path, body, hasBody, caller.ByClientKey);
    }

    /// <summary>
    /// A body that could not be received, before or during the attempts: the caller's 400 for a malformed one, 413 over a
    /// limit, nothing for a caller that went away (its connection is aborted, no backend blamed), 502 when the proxy's own
    /// temporary file failed.
    /// </summary>
    public Task AnswerBodyFailureAsync(HttpContext context, BodyFailure failure)
    {
        switch (failure.Kind)
        {
            case BodyFailureKind.TooLarge:
                return RefuseBodyAsync(context);
            case BodyFailureKind.Malformed:
                Log.RequestRejected(_logger, failure.Detail);
                return ErrorResponse.WriteAsync(context, ProxyOutcome.BadRequest, failure.Message);
            case BodyFailureKind.CallerGone:
                // A reset reaches the body's read before the server marks the connection aborted: aborting it here keeps
                // the server from draining a body whose reader failed mid-read (an error log of its own) or answering 200.
                Log.CallerBodyGone(_logger, failure.Detail);
                RequestOutcome.Note(context, ProxyOutcome.CallerGone);
                context.Abort();
                return Task.CompletedTask;
            default:
                Log.BodyStorageFailed(_logger, failure.Detail);
                return ErrorResponse.WriteAsync(context, ProxyOutcome.ProxyFailure, failure.Message);
        }
    }

    /// <summary>The 413 of a body over Proxy:MaxRequestBodyBytes, before any backend sees it.</summary>
    private Task RefuseBodyAsync(HttpContext context)
    {
        Log.BodyTooLarge(_logger, _options.MaxRequestBodyBytes);
        return ErrorResponse.WriteAsync(context, ProxyOutcome.BodyTooLarge,
            $"The request body exceeds the proxy's limit of {_options.MaxRequestBodyBytes} bytes (Proxy:MaxRequestBodyBytes).");
    }

    /// <summary>
    /// The server's body limit for this request, which belongs to the engine (not to the server as a whole): a little
    /// above Proxy:MaxRequestBodyBytes, so that the proxy answers 413 itself (Azure's error shape) and the server can still
    /// drain a slightly larger unread body, and the caller receives that 413 instead of a reset connection.
    /// </summary>
    private void AllowBody(HttpContext context)
    {
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = _options.MaxRequestBodyBytes + ProxyOptions.BodyDrainAllowanceBytes;
        }
    }
}
