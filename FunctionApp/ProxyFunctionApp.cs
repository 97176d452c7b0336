using Microsoft.Extensions.Logging;
using Microsoft.Azure.Functions.Worker.Builder;

namespace AoaiProxy.FunctionApp;

/// <summary>
/// What the worker is made of: the ASP.NET Core integration and the engine. Program calls it, and so do the tests, so
/// they check the very services the deployed worker runs with.
/// </summary>
internal static class ProxyFunctionApp
{
    /// <summary>Adds the ASP.NET Core integration and the engine to <paramref name="builder"/>.</summary>
    /// <param name="builder">The worker's builder, from <see cref="FunctionsApplication.CreateBuilder(string[])"/>.</param>
    internal static void Configure(FunctionsApplicationBuilder builder)
    {
        // ASP.NET Core integration: the Functions host forwards each HTTP request to this worker's own Kestrel, so the
        // function gets the real HttpContext and the engine can stream the response. It adds that web host to these same
        // services, which is why the KestrelServerOptions (request body limit) that the engine configures below apply to
        // the worker's Kestrel. Called first so that the engine's options configuration runs after the web host defaults.
        builder.ConfigureFunctionsWebApplication();

        builder.Services.AddAzureOpenAIProxy(builder.Configuration);

        // Production log levels, as the standalone host's appsettings.json: the worker's own Kestrel would otherwise log
        // each request's start and finish at Information, and the worker sends its log lines to the host, which sends
        // them on to Application Insights (billed per GB). host.json then filters what reaches the host's sinks.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
    }
}
