using System.Buffers;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Logging;
using AoaiProxy.Observability;
using AoaiProxy.Planning;
using AoaiProxy.Routing;
using AoaiProxy.State;
using AoaiProxy.Throttling;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Pipeline;

/// <summary>
/// One request, one way through: admission (caller, path, method, body), plan (claim a turn, pure planning), attempts
/// (failover on 429/408/5xx/timeout/transport before any byte reached the caller), relay (streamed, flushed per chunk),
/// or the exhausted answer.
/// </summary>
internal sealed class ProxyHandler : IAzureOpenAIProxy
{
    private const int RelayBufferSize = 16 * 1024;

    /// <summary>Advertises the backend's own alternative endpoints; relayed, it would claim them for the proxy's origin.</summary>
    private const string AltSvcHeader = "Alt-Svc";

    /// <summary>
    /// Far above any Azure OpenAI deployment name. A longer name (a caller's v1 "model" is otherwise unbounded) names no
    /// deployment anywhere and is not used as a cooldown key, log field or part of an answer: the Table entity refuses a
    /// Cooldowns property over 64 KiB, so one such key would stop every state write.
    /// </summary>
    private const int MaxDeploymentNameLength = 256;

    private static readonly HashSet<string> AllowedMethods = new(StringComparer.OrdinalIgnoreCase)
    {
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
    };

    private readonly ProxyOptions _options;
    private readonly SharedState _state;
    private readonly HttpMessageInvoker _client;
    private readonly TimeProvider _time;
    private readonly ILogger<ProxyHandler> _logger;
    private readonly CallerAuthenticator _callers;
    private readonly BackendCredentials _credentials;
    private readonly ProxyMetrics _metrics;

    public ProxyHandler(
        ProxyOptions options, SharedState state, BackendClient client, TimeProvider time, ILogger<ProxyHandler> logger,
        CallerAuthenticator callers, BackendCredentials credentials, ProxyMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(client);
        _metrics = metrics;
        _callers = callers;
        _credentials = credentials;
        _options = options;
        _state = state;
        _client = client.Invoker;
        _time = time;
        _logger = logger;
    }

    public async Task ProxyAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        ProxyMetrics.RequestStarted(context); // metrics (issue 10)
        try
        {
            await HandleAsync(context).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The caller went away: nothing to answer and nobody to blame.
        }
        catch (BadHttpRequestException ex)
        {
            // Kestrel's own limits (e.g. its body size limit) and malformed framing surface here.
            var outcome = ex.StatusCode == StatusCodes.Status413PayloadTooLarge ? ProxyOutcome.BodyTooLarge : ProxyOutcome.BadRequest;
            Log.RequestRejected(_logger, ex.Message);
            await ErrorResponse.WriteAsync(context, outcome, outcome == ProxyOutcome.BodyTooLarge
                ? $"The request body exceeds the proxy's limit of {_options.MaxRequestBodyBytes} bytes."
                : "The request could not be read: " + ex.Message).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            // Last resort: a defect of the proxy itself. Never an empty 500: answer in Azure's shape if nothing was sent
            // yet, otherwise abort so the caller does not take a cut-off body for a complete one.
            Log.UnexpectedFailure(_logger, ex.GetType().Name, ex.Message, context.Response.HasStarted);
            if (context.Response.HasStarted)
            {
                context.Abort();
                return;
            }

            context.Response.Headers.Clear();
            await ErrorResponse.WriteAsync(context, ProxyOutcome.ProxyFailure,
                "The proxy failed to handle the request (" + ex.GetType().Name + "); it has been logged.").ConfigureAwait(false);
        }
        finally
        {
            _metrics.RequestCompleted(context); // metrics (issue 10)
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var aborted = context.RequestAborted;

        // Before the body is read and before any backend is contacted.
        var caller = await _callers.AuthenticateAsync(request, aborted).ConfigureAwait(false);
        ProxyMetrics.CallerIdentified(context, caller); // metrics (issue 10)
        if (!caller.IsAllowed)
        {
            await CallerAuthenticator.WriteRefusalAsync(context, caller).ConfigureAwait(false);
            return;
        }

        var target = ProxyPathParser.Parse(RawTarget(context));
        if (!target.IsValid)
        {
            Log.PathRejected(_logger, target.Error!);
            var outcome = target.NotUnderPrefix ? ProxyOutcome.NotProxied : ProxyOutcome.InvalidPath;
            await ErrorResponse.WriteAsync(context, outcome, target.Error!).ConfigureAwait(false);
            return;
        }

        if (!AllowedMethods.Contains(request.Method))
        {
            Log.RequestRejected(_logger, "method not allowed");
            context.Response.Headers.Allow = string.Join(", ", AllowedMethods);
            await ErrorResponse.WriteAsync(context, ProxyOutcome.MethodNotAllowed, "The HTTP method is not supported by the proxy.").ConfigureAwait(false);
            return;
        }

        if (request.ContentLength > _options.MaxRequestBodyBytes)
        {
            await RefuseBodyAsync(context).ConfigureAwait(false);
            return;
        }

        var read = await RequestBody.ReadAsync(request.Body, _options.MaxRequestBodyBytes, aborted).ConfigureAwait(false);
        if (read.TooLarge)
        {
            await RefuseBodyAsync(context).ConfigureAwait(false);
            return;
        }

        await using var body = read.Body!;
        var path = target.Path;
        var deployment = path.Deployment ?? (path.IsV1 ? await ModelOfAsync(body, aborted).ConfigureAwait(false) : null);
        if (deployment is { Length: > MaxDeploymentNameLength })
        {
            deployment = null;
        }
        ProxyMetrics.DeploymentResolved(context, deployment); // metrics (issue 10)
        var hasBody = body.Length > 0 || request.ContentLength is not null || request.Headers.ContainsKey("Transfer-Encoding");

        var claim = await _state.ClaimAsync(aborted).ConfigureAwait(false);
        var now = _time.GetUtcNow();
        var plan = AttemptPlanner.Plan(_options.Backends, CooldownsFor(claim.Cooldowns, deployment), claim.Turn, now);

        var failures = new List<string>();
        // Plain loops, not Any/All with lambdas: those captured 'deployment', which cost every request (refused ones
        // included) a closure, plus a delegate per lambda.
        var throttled = AnyCooling(plan.Cooling, deployment, CooldownReason.Throttled);
        // 504 only when timeouts are all there was: attempts that timed out, and backends cooling because they timed out.
        var onlyTimeouts = AllCooling(plan.Cooling, deployment, CooldownReason.TimedOut);
        var attempt = 0;
        BackendCredential? unavailable = null;

        // Indexed loops over the plan: a foreach over IReadOnlyList boxes an enumerator on every request.
        for (var n = 0; n < plan.Attempts.Count; n++)
        {
            var index = plan.Attempts[n];
            var backend = _options.Backends[index];

            // Another request may have cooled it since the plan was made.
            if (CooldownFor(_state.Cooldowns, index, deployment) is { } late && late.Until > _time.GetUtcNow())
            {
                throttled |= late.Reason == CooldownReason.Throttled;
                onlyTimeouts &= late.Reason == CooldownReason.TimedOut;
                failures.Add($"{backend.Name}: cooling down");
                continue;
            }

            var credential = await _credentials.ForAsync(backend, context.RequestAborted).ConfigureAwait(false);
            if (credential.Kind == BackendCredentialKind.PassThrough && caller.ByClientKey)
            {
                credential = BackendCredential.Withheld;
            }

            if (credential.Kind == BackendCredentialKind.Unavailable)
            {
                // The proxy's own problem: the backend is neither called nor cooled.
                unavailable = credential;
                onlyTimeouts = false;
                failures.Add($"{backend.Name}: no proxy token");
                continue;
            }

            attempt++;
            var result = await AttemptAsync(context, backend, path, deployment, body, hasBody, attempt, credential).ConfigureAwait(false);
            switch (result.Kind)
            {
                case AttemptKind.Served:
                    return;
                case AttemptKind.CallerGone:
                    return;
                case AttemptKind.Throttled:
                    throttled = true;
                    onlyTimeouts = false;
                    failures.Add($"{backend.Name}: 429");
                    break;
                case AttemptKind.TimedOut:
                    failures.Add($"{backend.Name}: timed out");
                    break;
                default:
                    onlyTimeouts = false;
                    failures.Add($"{backend.Name}: {result.Detail}");
                    break;
            }
        }

        if (attempt == 0 && unavailable is { } missing)
        {
            await ErrorResponse.WriteAsync(context, ProxyOutcome.ProxyIdentityUnavailable,
                $"The proxy could not obtain its own Entra ID token to call the backends ({missing.Failure}). " +
                "This is a problem of the proxy's identity, not of the request; the proxy's log has the details.", missing.RetryAfter).ConfigureAwait(false);
            return;
        }

        await WriteExhaustedAsync(context, deployment, attempt, throttled, onlyTimeouts, failures).ConfigureAwait(false);
    }

    private async Task<AttemptResult> AttemptAsync(
        HttpContext context, BackendOptions backend, ProxyPath path, string? deployment, RequestBody body, bool hasBody, int attempt, BackendCredential credential)
    {
        var deploymentLabel = deployment ?? CooldownKeys.AnyDeployment;
        var aborted = context.RequestAborted;
        using var upstream = CreateUpstreamRequest(context.Request, backend, path, body, hasBody, credential);
        using var headersTimeout = new CancellationTokenSource(_options.ResponseHeadersTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(aborted, headersTimeout.Token);
        var started = _time.GetTimestamp();

        HttpResponseMessage response;
        try
        {
            response = await _client.SendAsync(upstream, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            Log.CallerCancelled(_logger, attempt, backend.Name);
            return new AttemptResult(AttemptKind.CallerGone, null);
        }
        catch (OperationCanceledException) when (headersTimeout.IsCancellationRequested)
        {
            Log.AttemptTimedOut(_logger, attempt, backend.Name, deploymentLabel, (long)_options.ResponseHeadersTimeout.TotalMilliseconds);
            _metrics.AttemptTimedOut(backend.Name, deployment, attempt); // metrics (issue 10)
            Cool(backend, deployment, CooldownPolicy.ForFailure(CooldownReason.TimedOut, _time.GetUtcNow(), _options));
            return new AttemptResult(AttemptKind.TimedOut, null);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or OperationCanceledException)
        {
            Log.AttemptTransportFailed(_logger, attempt, backend.Name, deploymentLabel, ElapsedMs(started), ex.Message);
            _metrics.AttemptFailed(backend.Name, deployment, attempt); // metrics (issue 10)

            // A transport failure is the backend's, not one deployment's.
            Cool(backend, null, CooldownPolicy.ForFailure(CooldownReason.Failed, _time.GetUtcNow(), _options));
            return new AttemptResult(AttemptKind.Failed, "transport error");
        }

        using (response)
        {
            // Disarm the headers timer: from here on only the caller's cancellation stops the relay.
            headersTimeout.CancelAfter(Timeout.InfiniteTimeSpan);
            var status = (int)response.StatusCode;
            Log.AttemptCompleted(_logger, attempt, backend.Name, deploymentLabel, status, ElapsedMs(started));
            _metrics.AttemptCompleted(context, backend.Name, deployment, attempt, status, started); // metrics (issue 10)

            if (CooldownPolicy.IsFailover(response.StatusCode))
            {
                var now = _time.GetUtcNow();
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    var requested = ThrottleHeaders.RequestedDelay(ThrottleHeaderValues.From(response), now);
                    Cool(backend, deployment, CooldownPolicy.ForThrottle(requested, now, _options));
                    return new AttemptResult(AttemptKind.Throttled, null);
                }

                Cool(backend, deployment, CooldownPolicy.ForFailure(CooldownReason.Failed, now, _options));
                return new AttemptResult(AttemptKind.Failed, status.ToString(CultureInfo.InvariantCulture));
            }

            await RelayAsync(context, backend, response, attempt).ConfigureAwait(false);
            return new AttemptResult(AttemptKind.Served, null);
        }
    }

    private static HttpRequestMessage CreateUpstreamRequest(
        HttpRequest request, BackendOptions backend, ProxyPath path, RequestBody body, bool hasBody, BackendCredential credential)
    {
        // Endpoint ends with '/', the path starts with '/': join without doubling and without re-encoding.
        var target = new Uri(string.Concat(backend.Endpoint.AbsoluteUri.AsSpan(0, backend.Endpoint.AbsoluteUri.Length - 1), path.PathAndQuery), UriKind.Absolute);
        var upstream = new HttpRequestMessage(new HttpMethod(request.Method), target)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };

        if (hasBody)
        {
            upstream.Content = body.CreateContent();
        }

        var connection = request.Headers.Connection.ToString();
        foreach (var header in request.Headers)
        {
            var name = header.Key;
            if (HopByHopHeaders.IsHopByHop(name, connection) ||
                name.Equals("Host", StringComparison.OrdinalIgnoreCase) ||
                name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) ||
                name.Equals("Expect", StringComparison.OrdinalIgnoreCase) ||
                (credential.ReplacesCallerCredentials && CallerCredential.IsCredentialHeader(name)))
            {
                continue;
            }

            // The usual single value goes in as is: converting it to an array (and enumerating that) costs two
            // allocations per header, and HttpHeaders adds a one-element sequence exactly like a single value.
            if (header.Value.Count == 1)
            {
                var value = header.Value[0];
                if (!upstream.Headers.TryAddWithoutValidation(name, value))
                {
                    upstream.Content?.Headers.TryAddWithoutValidation(name, value);
                }

                continue;
            }

            var values = (string?[]?)header.Value ?? [];
            if (!upstream.Headers.TryAddWithoutValidation(name, values))
            {
                upstream.Content?.Headers.TryAddWithoutValidation(name, values);
            }
        }

        credential.ApplyTo(upstream);
        return upstream;
    }

    private async Task RelayAsync(HttpContext context, BackendOptions backend, HttpResponseMessage upstream, int attempt)
    {
        var response = context.Response;
        response.StatusCode = (int)upstream.StatusCode;
        var connection = upstream.Headers.Connection.Count == 0 ? null : string.Join(',', upstream.Headers.Connection);
        CopyHeaders(upstream.Headers, response.Headers, connection);
        CopyHeaders(upstream.Content.Headers, response.Headers, connection);
        response.Headers[ProxyHeaders.Backend] = backend.Name;
        response.Headers[ProxyHeaders.Attempts] = attempt.ToString(CultureInfo.InvariantCulture);

        // Server-sent events must reach the caller chunk by chunk.
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var aborted = context.RequestAborted;
        if (HttpMethods.IsHead(context.Request.Method) || upstream.StatusCode is HttpStatusCode.NoContent or HttpStatusCode.NotModified)
        {
            await response.StartAsync(aborted).ConfigureAwait(false);
            return;
        }

        var usage = ProxyMetrics.RelayStarted(context, backend.Name); // metrics (issue 10)
        var buffer = ArrayPool<byte>.Shared.Rent(RelayBufferSize);
        try
        {
            var source = await upstream.Content.ReadAsStreamAsync(aborted).ConfigureAwait(false);
            await using (source.ConfigureAwait(false))
            {
                await response.StartAsync(aborted).ConfigureAwait(false);
                while (true)
                {
                    int read;
                    try
                    {
                        read = await source.ReadAsync(buffer, aborted).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (!aborted.IsCancellationRequested && ex is HttpRequestException or IOException)
                    {
                        // Bytes may already be with the caller: no failover, no fake ending. Abort so the caller sees a broken response.
                        Log.RelayFailed(_logger, backend.Name, ex.Message);
                        context.Abort();
                        return;
                    }

                    if (read == 0)
                    {
                        break;
                    }

                    _metrics.FirstByte(context, backend.Name); // metrics (issue 10): records once per request
                    usage.Observe(buffer.AsSpan(0, read)); // metrics (issue 10): token usage, no buffering
                    await response.Body.WriteAsync(buffer.AsMemory(0, read), aborted).ConfigureAwait(false);
                    await response.Body.FlushAsync(aborted).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (aborted.IsCancellationRequested && ex is OperationCanceledException or IOException)
        {
            Log.CallerCancelled(_logger, attempt, backend.Name);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static void CopyHeaders(System.Net.Http.Headers.HttpHeaders from, IHeaderDictionary to, string? connection)
    {
        // NonValidated: the values as received, neither parsed nor re-serialized (nor reordered).
        foreach (var (name, values) in from.NonValidated)
        {
            if (!HopByHopHeaders.IsHopByHop(name, connection) && !name.Equals(AltSvcHeader, StringComparison.OrdinalIgnoreCase))
            {
                to[name] = values.Count == 1 ? values.ToString() : values.ToArray();
            }
        }
    }

    private async Task WriteExhaustedAsync(HttpContext context, string? deployment, int attempts, bool throttled, bool onlyTimeouts, List<string> failures)
    {
        var now = _time.GetUtcNow();
        TimeSpan? shortest = null;
        var cooldowns = _state.Cooldowns;
        for (var i = 0; i < _options.Backends.Count; i++)
        {
            if (CooldownFor(cooldowns, i, deployment) is { } c && c.Until > now && (shortest is null || c.Until - now < shortest))
            {
                shortest = c.Until - now;
            }
        }

        var outcome = throttled ? ProxyOutcome.Throttled : onlyTimeouts ? ProxyOutcome.BackendsTimedOut : ProxyOutcome.BackendsFailed;
        var what = outcome switch
        {
            ProxyOutcome.Throttled => "throttled or unavailable",
            ProxyOutcome.BackendsTimedOut => "timed out",
            _ => "unavailable",
        };
        var message = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"All {_options.Backends.Count} backends are {what}")
            .Append(deployment is null ? "" : $" for deployment '{deployment}'")
            .Append(shortest is { } s ? string.Create(CultureInfo.InvariantCulture, $"; retry after {CooldownPolicy.RetryAfterSeconds(s)} seconds") : "")
            .Append(failures.Count == 0 ? " (every backend is cooling down)." : $" ({string.Join(", ", failures)}).")
            .ToString();

        Log.Exhausted(_logger, deployment ?? CooldownKeys.AnyDeployment, attempts, ProxyOutcomes.StatusCode(outcome),
            shortest is { } r ? CooldownPolicy.RetryAfterMilliseconds(r) : 0);
        context.Response.Headers[ProxyHeaders.Attempts] = attempts.ToString(CultureInfo.InvariantCulture);
        await ErrorResponse.WriteAsync(context, outcome, message, shortest).ConfigureAwait(false);
    }

    private Task RefuseBodyAsync(HttpContext context)
    {
        Log.BodyTooLarge(_logger, _options.MaxRequestBodyBytes);
        return ErrorResponse.WriteAsync(context, ProxyOutcome.BodyTooLarge,
            $"The request body exceeds the proxy's limit of {_options.MaxRequestBodyBytes} bytes (Proxy:MaxRequestBodyBytes).");
    }

    private void Cool(BackendOptions backend, string? deployment, Cooldown cooldown)
    {
        var key = CooldownKeys.For(backend.Name, deployment);
        _state.RecordCooldown(key, cooldown);
        _metrics.CooldownStarted(backend.Name, deployment, cooldown.Reason); // metrics (issue 10)
        Log.CoolingDown(_logger, backend.Name, deployment ?? CooldownKeys.AnyDeployment,
            Math.Round((cooldown.Until - _time.GetUtcNow()).TotalSeconds, 3), cooldown.Reason.ToString());
    }

    /// <summary>True when any of the backends cools for this deployment (or backend-wide) for <paramref name="reason"/>.</summary>
    private bool AnyCooling(IReadOnlyList<int> backends, string? deployment, CooldownReason reason)
    {
        for (var n = 0; n < backends.Count; n++)
        {
            if (CooldownFor(_state.Cooldowns, backends[n], deployment) is { } c && c.Reason == reason)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when every one of the backends (vacuously, none) cools for <paramref name="reason"/>.</summary>
    private bool AllCooling(IReadOnlyList<int> backends, string? deployment, CooldownReason reason)
    {
        for (var n = 0; n < backends.Count; n++)
        {
            if (CooldownFor(_state.Cooldowns, backends[n], deployment) is not { } c || c.Reason != reason)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The cooldown that applies to backend <paramref name="index"/> for this deployment (its own or backend-wide).</summary>
    private Cooldown? CooldownFor(ImmutableDictionary<string, Cooldown> cooldowns, int index, string? deployment)
    {
        var name = _options.Backends[index].Name;
        cooldowns.TryGetValue(CooldownKeys.ForBackend(name), out var wide);
        if (deployment is not null && cooldowns.TryGetValue(CooldownKeys.For(name, deployment), out var own))
        {
            return CooldownPolicy.Merge(wide, own);
        }

        return wide == default ? null : wide;
    }

    private Cooldown?[] CooldownsFor(ImmutableDictionary<string, Cooldown> cooldowns, string? deployment)
    {
        var result = new Cooldown?[_options.Backends.Count];
        if (cooldowns.Count > 0)
        {
            for (var i = 0; i < result.Length; i++)
            {
                result[i] = CooldownFor(cooldowns, i, deployment);
            }
        }

        return result;
    }

    /// <summary>The v1 API names the deployment in the body's "model", also in bodies spilled to a file.</summary>
    private static async Task<string?> ModelOfAsync(RequestBody body, CancellationToken cancellationToken)
    {
        if (body.InMemory)
        {
            return ModelName.FromJson(body.AsSequence());
        }

        var stream = await body.OpenFileAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            return await ModelName.FromStreamAsync(stream, cancellationToken).ConfigureAwait(false);
        }
    }

    private static string RawTarget(HttpContext context)
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget;
        if (!string.IsNullOrEmpty(raw) && raw[0] == '/')
        {
            return raw;
        }

        // Absolute-form targets, or hosts that do not expose the raw target: rebuild it from the (escaped) parts.
        var request = context.Request;
        return request.PathBase.Add(request.Path).ToUriComponent() + request.QueryString.ToUriComponent();
    }

    private long ElapsedMs(long started) => (long)_time.GetElapsedTime(started).TotalMilliseconds;

    private enum AttemptKind
    {
        Served,
        CallerGone,
        Throttled,
        Failed,
        TimedOut,
    }

    private readonly record struct AttemptResult(AttemptKind Kind, string? Detail);
}
