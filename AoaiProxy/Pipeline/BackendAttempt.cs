using System.Net;
using System.Net.Http;
using System.Text;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Logging;
using AoaiProxy.Observability;
using AoaiProxy.Routing;
using AoaiProxy.State;
using AoaiProxy.Throttling;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Pipeline;

/// <summary>What one attempt needs besides the backend: the request and its deadline.</summary>
/// <param name="Context">The caller's request.</param>
/// <param name="Path">The validated target.</param>
/// <param name="Deployment">The request's deployment (null: none known).</param>
/// <param name="Body">The buffered body, replayable.</param>
/// <param name="HasBody">Whether the caller's request had a body (even an empty one).</param>
/// <param name="Cancellation">The request's one cancellation: the caller gone, or its deadline passed (shared by all attempts).</param>
/// <param name="Model">Where a v1 body names the deployment ("model"), for backends that call it differently.</param>
internal sealed record AttemptRequest(
    HttpContext Context, ProxyPath Path, string? Deployment, RequestBody Body, bool HasBody, RequestCancellation Cancellation,
    ModelLocation Model = default)
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

/// <summary>
/// Sends one attempt and classifies how it ended. A response to relay is returned open; every other answer is
/// disposed here. Throttling cools at once (the backend said how long); failures only feed <see cref="FailureRate"/>.
/// </summary>
internal sealed class BackendAttempt
{
    private readonly SharedState _state;
    private readonly HttpMessageInvoker _client;
    private readonly ProxyOptions _options;
    private readonly TimeProvider _time;
    private readonly FailureRate _failures;
    private readonly ILogger _logger;
    private readonly ProxyMetrics? _metrics;
    private readonly TargetUris _targets;

    public BackendAttempt(
        ProxyOptions options, SharedState state, HttpMessageInvoker client, FailureRate failures, TimeProvider time, ILogger logger,
        ProxyMetrics? metrics = null)
    {
        _metrics = metrics;
        _targets = new TargetUris(options.Backends);
        _options = options;
        _state = state;
        _client = client;
        _failures = failures;
        _time = time;
        _logger = logger;
    }

    public async Task<(AttemptOutcome Outcome, HttpResponseMessage? Response)> SendAsync(
        AttemptRequest request, int index, int attempt, BackendCredential credential)
    {
        var backend = _options.Backends[index];
        var deploymentLabel = request.Deployment ?? CooldownScope.NoDeployment;
        var aborted = request.Context.RequestAborted;
        var (path, edit) = request.TargetFor(backend);
        using var upstream = UpstreamRequest.Create(request.Context.Request, backend, path, request.Body, request.HasBody, credential, edit,
            _targets.For(index, path.PathAndQuery));
        var started = _time.GetTimestamp();

        HttpResponseMessage response;
        try
        {
            response = await _client.SendAsync(upstream, request.Cancellation.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            Log.CallerCancelled(_logger, attempt, backend.Name);
            return (new AttemptOutcome(index, AttemptError.CallerGone), null);
        }
        catch (Exception) when (request.Body.Failure is { } failure)
        {
            // A streamed body could not be received from the caller (or stored): the same failure, thrown as reading the
            // body before the attempts would have thrown it (ProxyHandler.ProxyAsync answers it), and no backend blamed.
            failure.Throw();
            throw;
        }
        catch (OperationCanceledException) when (request.Cancellation.DeadlinePassed)
        {
            Log.AttemptDeadlineExceeded(_logger, attempt, backend.Name, deploymentLabel, ElapsedMs(started), (long)_options.RequestTimeout.TotalMilliseconds);
            _metrics?.AttemptTimedOut(backend.Name, request.Deployment, attempt);
            if (!request.Body.WaitingForCaller)
            {
                // Not when the deadline passed while the proxy waited for the caller's body bytes: the caller was slow.
                await _failures.RecordAsync(backend.Name, CooldownScope.Of(request.Deployment), HealthSample.TimedOut).ConfigureAwait(false);
            }

            return (new AttemptOutcome(index, AttemptError.DeadlineExceeded), null);
        }
        catch (Exception ex) when (IsNotStarted(ex))
        {
            // No connection: the backend never saw the request, and the fault is the backend's as a whole.
            Log.AttemptNotStarted(_logger, attempt, backend.Name, deploymentLabel, ElapsedMs(started), ex.Message);
            _metrics?.AttemptFailed(backend.Name, request.Deployment, attempt);
            await _failures.RecordAsync(backend.Name, CooldownKeys.AnyDeployment, HealthSample.Failure).ConfigureAwait(false);
            return (new AttemptOutcome(index, AttemptError.NotStarted), null);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            Log.AttemptTransportFailed(_logger, attempt, backend.Name, deploymentLabel, ElapsedMs(started), ex.Message);
            _metrics?.AttemptFailed(backend.Name, request.Deployment, attempt);
            await _failures.RecordAsync(backend.Name, CooldownKeys.AnyDeployment, HealthSample.Failure).ConfigureAwait(false);
            return (new AttemptOutcome(index, AttemptError.Transport), null);
        }

        // Any answer proves the connection: the backend-wide rate (fed by connection failures above) must count it too,
        // or a few sporadic resets among thousands of answers read as a 100% failure rate and cool every deployment.
        await _failures.RecordAsync(backend.Name, CooldownKeys.AnyDeployment, HealthSample.Success).ConfigureAwait(false);
        var status = (int)response.StatusCode;
        var movesOn = CooldownPolicy.IsFailover(response.StatusCode);
        Log.AttemptCompleted(_logger, attempt, backend.Name, deploymentLabel, status, movesOn, ElapsedMs(started));
        _metrics?.AttemptCompleted(request.Context, backend.Name, request.Deployment, attempt, status, started);
        if (!movesOn)
        {
            return (new AttemptOutcome(index, AttemptError.None, status), response);
        }

        using (response)
        {
            var now = _time.GetUtcNow();
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                // Exact, per 429: the backend says how long. Keyed by the request's scope, never backend-wide.
                var requested = ThrottleHeaders.RequestedDelay(ThrottleHeaderValues.From(response), now);
                var cooldown = CooldownPolicy.ForThrottle(requested, now, _options);
                _state.RecordCooldown(CooldownScope.KeyFor(backend.Name, request.Deployment), cooldown);
                _metrics?.CooldownStarted(backend.Name, request.Deployment, cooldown.Reason);
                Log.CoolingDown(_logger, backend.Name, request.Deployment ?? CooldownScope.NoDeployment,
                    Math.Round((cooldown.Until - now).TotalSeconds, 3), cooldown.Reason.ToString());
                return (new AttemptOutcome(index, AttemptError.Throttled, status), null);
            }

            await _failures.RecordAsync(backend.Name, CooldownScope.Of(request.Deployment), HealthSample.Failure).ConfigureAwait(false);
            return (new AttemptOutcome(index, AttemptError.FailureStatus, status), null);
        }
    }

    /// <summary>
    /// True when the request cannot have left the proxy: no name, no connection, no TLS session. A cancellation that is
    /// neither the caller's nor the deadline's is SocketsHttpHandler's connect timeout, the only timer of its own.
    /// </summary>
    private static bool IsNotStarted(Exception ex) =>
        ex is HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError }
        || ex is OperationCanceledException;

    private long ElapsedMs(long started) => (long)_time.GetElapsedTime(started).TotalMilliseconds;
}
