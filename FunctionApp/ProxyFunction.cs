using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
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

    // The engine has already written status, headers and body when ProxyAsync returns. The worker executes a returned
    // IActionResult after the function, and EmptyResult is the result whose execution writes nothing.
    private static readonly EmptyResult ResponseAlreadyWritten = new();

    private readonly IAzureOpenAIProxy _proxy;

    /// <summary>Creates the function with the engine registered by <c>AddAzureOpenAIProxy</c>.</summary>
    /// <param name="proxy">The proxy engine.</param>
    public ProxyFunction(IAzureOpenAIProxy proxy) => _proxy = proxy;

    /// <summary>Proxies one request. Anonymous at the Functions level: the engine authenticates callers.</summary>
    /// <param name="req">The incoming request; its <see cref="HttpContext"/> carries the response the engine writes.</param>
    /// <returns>An empty result: the engine has already written, and streamed, the response.</returns>
    // No methods listed: a trigger without methods answers every HTTP method, both in the host and in the worker's routing.
    [Function(Name)]
    public async Task<IActionResult> RunAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, Route = "openai/{*path}")] HttpRequest req)
    {
        await _proxy.ProxyAsync(req.HttpContext);
        return ResponseAlreadyWritten;
    }
}
