using System.Globalization;
using AoaiProxy.Affinity;
using AoaiProxy.Answers;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Content;
using AoaiProxy.Planning;
using AoaiProxy.State;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Pipeline;

/// <summary>
/// The first page of a list without an id (<see cref="ListMerge"/>), asked of every available backend at once: each
/// holds only its own objects. The merge is pure; this class sends and answers.
/// </summary>
internal sealed class ListFanOut
{
    private readonly ProxyOptions _options;
    private readonly BackendAttempt _attempt;
    private readonly BackendHealth _health;
    private readonly BackendCredentials _credentials;

    public ListFanOut(ProxyOptions options, BackendAttempt attempt, BackendHealth health, BackendCredentials credentials)
    {
        _options = options;
        _attempt = attempt;
        _health = health;
        _credentials = credentials;
    }

    /// <summary>
    /// Sends a first list page to every backend of the plan at once and answers with the merged page. False, with the
    /// outcomes (and the proxy's own credential if it was missing), when no backend answered well. A backend that is
    /// cooling or failed is named in x-proxy-list-incomplete rather than failing the whole list.
    /// </summary>
    public async Task<(bool Answered, BackendCredential? Unavailable)> ListAsync(AttemptPlan plan, AttemptRequest request, List<AttemptOutcome> outcomes)
    {
        var context = request.Context;
        var aborted = context.RequestAborted;
        BackendCredential? unavailable = null;
        var sends = new List<Task<(AttemptOutcome Outcome, HttpResponseMessage? Response)>>(plan.Attempts.Count);
        for (var n = 0; n < plan.Attempts.Count; n++)
        {
            var index = plan.Attempts[n];
            var credential = await _credentials.ForAsync(_options.Backends[index], request.ByClientKey, aborted).ConfigureAwait(false);
            if (credential.Kind == BackendCredentialKind.Unavailable)
            {
                unavailable = credential;
                outcomes.Add(new AttemptOutcome(index, AttemptError.NoCredential));
                continue;
            }

            sends.Add(SendAsync(request, index, sends.Count + 1, credential));
        }

        var pages = new List<byte[]>();
        var answered = new List<string>();
        var missing = plan.Cooling.Select(i => _options.Backends[i].Name).ToList();
        foreach (var (outcome, response) in await Task.WhenAll(sends).ConfigureAwait(false))
        {
            var name = _options.Backends[outcome.Backend].Name;
            using (response)
            {
                if (response is not null && response.IsSuccessStatusCode &&
                    await PageOfAsync(response, _options.MaxDecodedBodyBytes, request.Cancellation.Token).ConfigureAwait(false) is { Bytes: { } page })
                {
                    pages.Add(page);
                    answered.Add(name);
                    await _health.PageReadAsync(outcome.Backend, request.Deployment).ConfigureAwait(false);
                    continue;
                }
            }

            outcomes.Add(response is null ? outcome : outcome with { Error = AttemptError.FailureStatus });
            missing.Add(name);
        }

        if (pages.Count == 0)
        {
            return (false, unavailable);
        }

        await request.Body.ReleaseAsync().ConfigureAwait(false);
        var merged = ListMerge.Merge(pages, request.Path.PathAndQuery) ?? pages[0];
        RequestOutcome.Note(context, ProxyOutcome.Relayed);
        var answer = context.Response;
        answer.StatusCode = StatusCodes.Status200OK;
        answer.ContentType = "application/json";
        answer.Headers[ProxyHeaders.Backend] = string.Join(',', answered);
        answer.Headers[ProxyHeaders.Attempts] = sends.Count.ToString(CultureInfo.InvariantCulture);
        if (missing.Count > 0)
        {
            answer.Headers[ProxyHeaders.ListIncomplete] = string.Join(',', missing);
        }

        answer.ContentLength = merged.Length;
        await answer.Body.WriteAsync(merged, aborted).ConfigureAwait(false);
        return (true, unavailable);
    }

    /// <summary>One backend's page: sent, and its outcome reported to <see cref="BackendHealth"/> as soon as it is known.</summary>
    private async Task<(AttemptOutcome Outcome, HttpResponseMessage? Response)> SendAsync(AttemptRequest request, int index, int attempt, BackendCredential credential)
    {
        var (outcome, response) = await _attempt.SendAsync(request, index, attempt, credential).ConfigureAwait(false);
        await _health.AttemptEndedAsync(request.Context, request.Deployment, outcome).ConfigureAwait(false);
        return (outcome, response);
    }

    /// <summary>
    /// A list page's body as JSON text (<see cref="DecodedBody.Complete"/>), or why not: null when it broke off, otherwise
    /// the status of an encoding the proxy cannot read, bytes that do not decode, or more than
    /// <paramref name="maxDecodedBytes"/> of them (the backend is then reported missing from the list). A caller that
    /// accepts gzip (httpx, the Python SDK's client, does by default) gets each page compressed: the merged page is built
    /// from the decoded pages and answered uncompressed.
    /// </summary>
    private static async Task<DecodedBody?> PageOfAsync(HttpResponseMessage response, long maxDecodedBytes, CancellationToken cancellationToken)
    {
        try
        {
            // Decoding and merging (up to 10,000 files per backend, parsed, cloned, sorted, written) continue on the pool:
            // the page's last bytes arrive on a socket thread, which with inline socket completions (the standalone host's
            // default) is an epoll thread serving every other connection of its share. A list is rare; the hop costs nothing.
            var bytes = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
            return ContentDecoder.Decode(bytes, ContentCodings.Of(response.Content.Headers.ContentEncoding), maxDecodedBytes);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }
}
