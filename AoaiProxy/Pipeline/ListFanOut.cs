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
    /// Sends a first list page to every backend of the plan at once and answers: the one page that came back as it came
    /// (bytes and headers), or the pages merged, with the first answering backend's headers and every answering backend's
    /// request id. False, with the outcomes (and the proxy's own credential if it was missing), when no backend answered
    /// well. A backend that is cooling or failed is named in x-proxy-list-incomplete rather than failing the whole list;
    /// one whose page decodes past Proxy:MaxDecodedBodyBytes gets the caller a 502 naming it.
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

        // In plan order (Task.WhenAll keeps it): the first page is the first answering backend of the rotation.
        var pages = new List<Page>();
        var missing = plan.Cooling.Select(i => _options.Backends[i].Name).ToList();
        try
        {
            foreach (var (outcome, response) in await Task.WhenAll(sends).ConfigureAwait(false))
            {
                var name = _options.Backends[outcome.Backend].Name;
                if (response is not null && response.IsSuccessStatusCode &&
                    await ReadAsync(response, _options.MaxDecodedBodyBytes, request.Cancellation.Token).ConfigureAwait(false) is { } raw)
                {
                    pages.Add(new Page(outcome.Backend, response, raw));
                    await _health.PageReadAsync(outcome.Backend, request.Deployment).ConfigureAwait(false);
                    continue;
                }

                response?.Dispose();
                outcomes.Add(response is null ? outcome : outcome with { Error = AttemptError.FailureStatus });
                missing.Add(name);
            }

            if (pages.Count == 0)
            {
                return (false, unavailable);
            }

            await request.Body.ReleaseAsync().ConfigureAwait(false);
            await (pages.Count == 1
                ? AnswerAsync(context, pages[0], pages[0].Raw, missing, sends.Count)
                : MergeAsync(request, pages, missing, sends.Count)).ConfigureAwait(false);
            return (true, unavailable);
        }
        finally
        {
            foreach (var page in pages)
            {
                page.Response.Dispose();
            }
        }
    }

    /// <summary>The pages merged into one list; a page that decodes past the limit is the caller's 502, naming its backend.</summary>
    private Task MergeAsync(AttemptRequest request, List<Page> pages, List<string> missing, int attempts)
    {
        var decoded = new List<byte[]>(pages.Count);
        foreach (var page in pages)
        {
            var body = ContentDecoder.Decode(page.Raw, ContentCodings.Of(page.Response.Content.Headers.ContentEncoding), _options.MaxDecodedBodyBytes);
            if (body.Status == DecodeStatus.LimitReached)
            {
                var name = _options.Backends[page.Backend].Name;
                request.Context.Response.Headers[ProxyHeaders.Attempts] = attempts.ToString(CultureInfo.InvariantCulture);
                return ErrorResponse.WriteAsync(request.Context, ProxyOutcome.BackendsFailed,
                    $"Backend '{name}' answered a list page that decodes to more than {_options.MaxDecodedBodyBytes} bytes (Proxy:MaxDecodedBodyBytes); it was not read further.");
            }

            if (!body.Complete)
            {
                // An encoding the proxy cannot read, or bytes that do not decode: that backend is missing from the list.
                missing.Add(_options.Backends[page.Backend].Name);
                continue;
            }

            decoded.Add(body.Bytes);
        }

        var merged = decoded.Count > 0 ? ListMerge.Merge(decoded, request.Path.PathAndQuery) : null;
        if (merged is null)
        {
            // Not lists after all (or none readable): the first backend's answer, as it came.
            return AnswerAsync(request.Context, pages[0], pages[0].Raw, missing, attempts);
        }

        var answer = request.Context.Response;
        ResponseRelay.CopyHeaders(pages[0].Response, answer.Headers, withContent: false);
        answer.ContentType = "application/json";
        answer.Headers[ProxyHeaders.ListRequestIds] = string.Join(", ", pages.Select(p => _options.Backends[p.Backend].Name + "=" + RequestIdOf(p.Response)));
        return WriteAsync(request.Context, pages, merged, missing, attempts);
    }

    /// <summary>One backend's page as it came: its status, headers and bytes (still encoded as it sent them).</summary>
    private Task AnswerAsync(HttpContext context, Page page, byte[] body, List<string> missing, int attempts)
    {
        context.Response.StatusCode = (int)page.Response.StatusCode;
        ResponseRelay.CopyHeaders(page.Response, context.Response.Headers, withContent: true);
        return WriteAsync(context, [page], body, missing, attempts);
    }

    private Task WriteAsync(HttpContext context, List<Page> pages, byte[] body, List<string> missing, int attempts)
    {
        RequestOutcome.Note(context, ProxyOutcome.Relayed);
        var answer = context.Response;
        answer.Headers[ProxyHeaders.Backend] = string.Join(',', pages.Select(p => _options.Backends[p.Backend].Name));
        answer.Headers[ProxyHeaders.Attempts] = attempts.ToString(CultureInfo.InvariantCulture);
        if (missing.Count > 0)
        {
            answer.Headers[ProxyHeaders.ListIncomplete] = string.Join(',', missing);
        }

        answer.ContentLength = body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : answer.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    /// <summary>One backend's page: sent, and its outcome reported to <see cref="BackendHealth"/> as soon as it is known.</summary>
    private async Task<(AttemptOutcome Outcome, HttpResponseMessage? Response)> SendAsync(AttemptRequest request, int index, int attempt, BackendCredential credential)
    {
        var (outcome, response) = await _attempt.SendAsync(request, index, attempt, credential).ConfigureAwait(false);
        await _health.AttemptEndedAsync(request.Context, request.Deployment, outcome).ConfigureAwait(false);
        return (outcome, response);
    }

    /// <summary>
    /// A page's bytes as the backend sent them, at most <paramref name="limit"/> of them, or null when it broke off or was
    /// longer (the backend is then reported missing from the list).
    /// </summary>
    private static async Task<byte[]?> ReadAsync(HttpResponseMessage response, long limit, CancellationToken cancellationToken)
    {
        try
        {
            // Merging (up to 10,000 files per backend, parsed, cloned, sorted, written) continues on the pool: the page's
            // last bytes arrive on a socket thread, which with inline socket completions (the standalone host's default)
            // is an epoll thread serving every other connection of its share. A list is rare; the hop costs nothing.
            var source = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
            await using (source.ConfigureAwait(false))
            {
                using var bytes = new MemoryStream();
                var buffer = new byte[RequestBufferSize];
                int read;
                while ((read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    if (bytes.Length + read > limit)
                    {
                        return null;
                    }

                    bytes.Write(buffer, 0, read);
                }

                return bytes.ToArray();
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException || (ex is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            return null;
        }
    }

    /// <summary>What a caller quotes to Azure support: the answer's apim-request-id, else its x-request-id.</summary>
    private static string RequestIdOf(HttpResponseMessage response) =>
        response.Headers.NonValidated.TryGetValues("apim-request-id", out var apim) ? apim.ToString()
        : response.Headers.NonValidated.TryGetValues("x-request-id", out var request) ? request.ToString()
        : "-";

    private const int RequestBufferSize = 16 * 1024;

    /// <summary>A page a backend answered well: its answer (headers) and its bytes as sent.</summary>
    private sealed record Page(int Backend, HttpResponseMessage Response, byte[] Raw);
}
