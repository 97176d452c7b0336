using Azure.Core.Pipeline;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>Answers every request with <paramref name="respond"/> and keeps the requests, for pipeline tests.</summary>
public sealed class StubHttpHandler(Func<HttpRequestMessage, HttpResponseMessage> respond) : HttpMessageHandler
{
    private readonly List<HttpRequestMessage> _requests = [];

    public IReadOnlyList<HttpRequestMessage> Requests => _requests;

    /// <summary>An Azure.Core transport over this handler.</summary>
    public HttpPipelineTransport Transport() => new HttpClientTransport(new HttpClient(this, disposeHandler: false));

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _requests.Add(request);
        return Task.FromResult(respond(request));
    }
}
