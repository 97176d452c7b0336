using System.Diagnostics;
using System.Net;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Routing;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Forwarding;

/// <summary>Builds the request one attempt sends: the caller's target, method, body and end-to-end headers.</summary>
internal static class UpstreamRequest
{
    /// <param name="request">The caller's request.</param>
    /// <param name="backend">The backend to send to.</param>
    /// <param name="path">The target, possibly rewritten for the backend.</param>
    /// <param name="body">The buffered body.</param>
    /// <param name="hasBody">Whether the caller's request had a body.</param>
    /// <param name="credential">How the backend is called.</param>
    /// <param name="edit">A change to the body while sending (a v1 "model" renamed), if any.</param>
    /// <param name="target">The absolute target, when the caller has it already (<see cref="TargetUris"/>).</param>
    public static HttpRequestMessage Create(
        HttpRequest request, BackendOptions backend, ProxyPath path, RequestBody body, bool hasBody, BackendCredential credential,
        BodyEdit? edit = null, Uri? target = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(body);

        target ??= TargetUris.Join(backend.Endpoint, path.PathAndQuery);
        var upstream = new HttpRequestMessage(HttpMethod.Parse(request.Method), target)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };

        if (hasBody)
        {
            upstream.Content = body.CreateContent(edit);
        }

        // Without a current activity HttpClient injects no trace context: the proxy's own span id goes under the caller's
        // trace here (TraceContextPropagator.ChildTraceparent). With one, HttpClient's propagation replaces the header.
        // A trace started anew (the caller sent no valid traceparent) does not carry the caller's tracestate (W3C).
        string? traceparent = null;
        var continued = false;
        if (Activity.Current is null)
        {
            var caller = request.Headers.TryGetValue(TraceContextPropagator.TraceparentHeader, out var callers) && callers.Count == 1 ? callers[0] : null;
            traceparent = TraceContextPropagator.ChildTraceparent(caller, out continued);
        }

        var connection = request.Headers.Connection.ToString();
        foreach (var header in request.Headers)
        {
            var name = header.Key;
            if ((traceparent is not null && (name.Equals(TraceContextPropagator.TraceparentHeader, StringComparison.OrdinalIgnoreCase) ||
                    (!continued && name.Equals(TraceContextPropagator.TracestateHeader, StringComparison.OrdinalIgnoreCase)))) ||
                HopByHopHeaders.IsHopByHop(name, connection) ||
                PlatformHeaders.IsPlatform(name) ||
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
                    ContentOf(upstream).Headers.TryAddWithoutValidation(name, value);
                }

                continue;
            }

            var values = (string?[]?)header.Value ?? [];
            if (!upstream.Headers.TryAddWithoutValidation(name, values))
            {
                ContentOf(upstream).Headers.TryAddWithoutValidation(name, values);
            }
        }

        if (traceparent is not null)
        {
            upstream.Headers.TryAddWithoutValidation(TraceContextPropagator.TraceparentHeader, traceparent);
        }

        credential.ApplyTo(upstream);
        return upstream;
    }

    /// <summary>
    /// HttpClient sends content headers only with a content: a body-less request that carries one (Content-Type on a
    /// DELETE, say) gets an empty content, as in YARP, instead of losing the header.
    /// </summary>
    private static HttpContent ContentOf(HttpRequestMessage upstream) => upstream.Content ??= new EmptyContent();

    private sealed class EmptyContent : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) => Task.CompletedTask;

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) => Task.CompletedTask;

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return true;
        }
    }
}
