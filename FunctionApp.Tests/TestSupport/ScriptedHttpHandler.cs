namespace AoaiProxy.Tests.TestSupport;

/// <summary>An HTTP handler whose every exchange is a script: answer, throw, or wait for the cancellation.</summary>
public sealed class ScriptedHttpHandler(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> script) : HttpMessageHandler
{
    private readonly List<HttpRequestMessage> _requests = [];

    public IReadOnlyList<HttpRequestMessage> Requests => _requests;

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        _requests.Add(request);
        return script(request, cancellationToken);
    }
}
