using Microsoft.AspNetCore.Http;
using Microsoft.Azure.Functions.Worker;

namespace AoaiProxy.FunctionApp;

/// <summary>
/// The second HTTP function: <c>GET /proxy</c> (status page) and <c>GET /proxy/status</c> (JSON), answered by the engine.
/// </summary>
/// <remarks>Public for the same reason as <see cref="ProxyFunction"/>.</remarks>
public sealed class ProxyStatusFunction
{
    /// <summary>The function name; Functions logs its invocations under <c>Function.ProxyStatus</c>.</summary>
    public const string Name = "ProxyStatus";

    private readonly IProxyStatusEndpoint _status;

    /// <summary>Creates the function with the engine's status endpoint.</summary>
    /// <param name="status">The engine's status endpoint.</param>
    public ProxyStatusFunction(IProxyStatusEndpoint status) => _status = status;

    /// <summary>Serves the page or the status. Anonymous at the Functions level: the engine applies its access rule.</summary>
    /// <param name="req">The incoming request.</param>
    /// <returns>Completes when the engine has written the response; no result, as <see cref="ProxyFunction"/>.</returns>
    [Function(Name)]
    public Task RunAsync([HttpTrigger(AuthorizationLevel.Anonymous, "get", "head", Route = "proxy/{*rest}")] HttpRequest req) =>
        _status.ServeAsync(req.HttpContext);
}
