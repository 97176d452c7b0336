using System.Net;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Routing;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Forwarding;

/// <summary>Builds the request one attempt sends: the caller's target, method, body and end-to-end headers.</summary>
internal static class UpstreamRequest
{
    public static HttpRequestMessage Create(
        HttpRequest request, BackendOptions backend, ProxyPath path, RequestBody body, bool hasBody, BackendCredential credential,
        BodyEdit? edit = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(body);

        // Endpoint ends with '/', the path starts with '/': join without doubling and without re-encoding.
        var target = new Uri(string.Concat(backend.Endpoint.AbsoluteUri.AsSpan(0, backend.Endpoint.AbsoluteUri.Length - 1), path.PathAndQuery), UriKind.Absolute);
        var upstream = new HttpRequestMessage(new HttpMethod(request.Method), target)
        {
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
        };

        if (hasBody)
        {
            upstream.Content = body.CreateContent(edit);
        }

        var connection = request.Headers.Connection.ToString();
        foreach (var header in request.Headers)
        {
            var name = header.Key;
            if (HopByHopHeaders.IsHopByHop(name, connection) ||
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
