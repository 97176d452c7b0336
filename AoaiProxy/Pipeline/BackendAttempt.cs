using System.Net;
using System.Net.Http;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Throttling;

namespace AoaiProxy.Pipeline;

/// <summary>
/// Sends one attempt and says how it ended, as a value: nothing else. A response to relay is returned open; every other
/// answer is disposed here. What the outcome means for the backend's health (cooldowns, failure rate, metrics, the log)
/// is <see cref="BackendHealth"/>'s.
/// </summary>
internal sealed class BackendAttempt
{
    /// <summary>Statuses below are informational (1xx): HttpClient passes only 101 on, and neither is a final answer.</summary>
    private const int FirstFinalStatus = 200;

    private readonly HttpMessageInvoker _client;
    private readonly ProxyOptions _options;
    private readonly TimeProvider _time;
    private readonly TargetUris _targets;

    public BackendAttempt(ProxyOptions options, HttpMessageInvoker client, TimeProvider time)
    {
        _targets = new TargetUris(options.Backends);
        _options = options;
        _client = client;
        _time = time;
    }

    /// <param name="request">The request and its deadline.</param>
    /// <param name="index">The backend's index in the configured list.</param>
    /// <param name="attempt">Which send of the request this is (1 for the first).</param>
    /// <param name="credential">How to call the backend.</param>
    /// <param name="ticket">Its place in the deployment's ledger of estimated tokens, when it has a cost.</param>
    public async Task<(AttemptOutcome Outcome, HttpResponseMessage? Response)> SendAsync(
        AttemptRequest request, int index, int attempt, BackendCredential credential, Headroom.Ticket? ticket = null)
    {
        var backend = _options.Backends[index];
        var (path, edit) = request.TargetFor(backend);
        using var upstream = UpstreamRequest.Create(request.Context.Request, backend, path, request.Body, request.HasBody, credential, edit,
            _targets.For(index, path.PathAndQuery));
        var started = _time.GetTimestamp();

        HttpResponseMessage response;
        try
        {
            response = await _client.SendAsync(upstream, request.Cancellation.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (request.Context.RequestAborted.IsCancellationRequested)
        {
            return (Ended(AttemptError.CallerGone), null);
        }
        catch (Exception) when (request.Body.Failure is not null)
        {
            // The body could not be received from the caller (or stored): the handler answers from Body.Failure, as if
            // the body had failed before the attempts, and no backend is blamed.
            return (new AttemptOutcome(index, AttemptError.CallerBodyFailed), null);
        }
        catch (OperationCanceledException) when (request.Cancellation.DeadlinePassed)
        {
            // Not the backend's fault when the deadline passed while it waited for the caller's body bytes.
            return (Ended(request.Body.WaitingForCaller ? AttemptError.DeadlineWaitingForCaller : AttemptError.DeadlineExceeded), null);
        }
        catch (Exception ex) when (IsNotStarted(ex))
        {
            return (Ended(AttemptError.NotStarted) with { Detail = ex.Message }, null);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            return (Ended(AttemptError.Transport) with { Detail = ex.Message }, null);
        }

        var status = (int)response.StatusCode;
        var left = QuotaLeft.From(response);
        if (!CooldownPolicy.IsFailover(response.StatusCode) && status >= FirstFinalStatus)
        {
            return (Ended(AttemptError.None, status) with { Left = left }, response);
        }

        using (response)
        {
            return status < FirstFinalStatus ? (Ended(AttemptError.NotFinal, status), null)
                : response.StatusCode == HttpStatusCode.TooManyRequests
                ? (Ended(AttemptError.Throttled, status) with { Throttle = ThrottleHeaderValues.From(response), Left = left }, null)
                : (Ended(AttemptError.FailureStatus, status) with { Left = left }, null);
        }

        AttemptOutcome Ended(AttemptError error, int status = 0) =>
            new(index, error, status) { Attempt = attempt, Started = started, Elapsed = _time.GetElapsedTime(started), Ticket = ticket };
    }

    /// <summary>
    /// True when the request cannot have left the proxy: no name, no connection, no TLS session. A cancellation that is
    /// neither the caller's nor the deadline's is SocketsHttpHandler's connect timeout, the only timer of its own.
    /// </summary>
    private static bool IsNotStarted(Exception ex) =>
        ex is HttpRequestException { HttpRequestError: HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError or HttpRequestError.SecureConnectionError }
        || ex is OperationCanceledException;
}
