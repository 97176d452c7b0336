using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace AoaiProxy.FunctionApp;

/// <summary>
/// The one HTTP function: hands every <c>/openai/{*path}</c> request, whatever its method, to the engine.
/// </summary>
/// <remarks>
/// Public, not internal sealed: the isolated worker documents function methods as public members of public classes,
/// and the SDK's generated executor calls functions of non-public classes only through its reflection fallback.
/// </remarks>
public sealed class ProxyFunction
{
    /// <summary>The function name; Functions logs this function's invocations under <c>Function.Proxy</c>.</summary>
    public const string Name = "Proxy";

    private readonly IAzureOpenAIProxy _proxy;

    /// <summary>Creates the function with the engine registered by <c>AddAzureOpenAIProxy</c>.</summary>
    /// <param name="proxy">The proxy engine.</param>
    public ProxyFunction(IAzureOpenAIProxy proxy) => _proxy = proxy;

    /// <summary>Proxies one request. Anonymous at the Functions level: the engine authenticates callers.</summary>
    /// <param name="req">The incoming request; its <see cref="HttpContext"/> carries the response the engine writes.</param>
    /// <returns>Completes when the engine has written, and streamed, the whole response.</returns>
    /// <remarks>
    /// No result: the response is written when this returns, and a function without one has no <c>$return</c> binding,
    /// so the worker executes and serializes nothing after it and sends the host no return value (the worker's proxying
    /// middleware only traces "No HTTP response returned" at Trace).
    /// </remarks>
    // No methods listed: a trigger without methods answers every HTTP method, both in the host and in the worker's routing.
    [Function(Name)]
    public Task RunAsync([HttpTrigger(AuthorizationLevel.Anonymous, Route = "openai/{*path}")] HttpRequest req) =>
        _proxy.ProxyAsync(req.HttpContext);
}
