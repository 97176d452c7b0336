using Azure.Core;
using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace AoaiProxy.FunctionApp;

/// <summary>
/// What the worker is made of: the ASP.NET Core integration, the engine and its telemetry. Program calls it, and so do
/// the tests, so they check the very services the deployed worker runs with.
/// </summary>
internal static class ProxyFunctionApp
{
    /// <summary>The app setting with the Application Insights resource to export to (set by infra).</summary>
    internal const string ConnectionStringSetting = "APPLICATIONINSIGHTS_CONNECTION_STRING";

    /// <summary>How to authenticate to it: "Authorization=AAD[;ClientId=...]" (set by infra; the host reads it too).</summary>
    internal const string AuthenticationStringSetting = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING";

    /// <summary>ASP.NET Core's per-request logging category, off in the worker (see <see cref="Configure"/>).</summary>
    internal const string HostingDiagnosticsCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    /// <summary>Adds the ASP.NET Core integration, the engine and, in Azure, telemetry to <paramref name="builder"/>.</summary>
    /// <param name="builder">The worker's builder, from <see cref="FunctionsApplication.CreateBuilder(string[])"/>.</param>
    internal static void Configure(FunctionsApplicationBuilder builder)
    {
        // ASP.NET Core integration: the Functions host forwards each HTTP request to this worker's own Kestrel, so the
        // function gets the real HttpContext and the engine can stream the response (and set its body limit on that request).
        // It adds that web host to these same services, so the KestrelServerOptions the engine configures below (the
        // response header encoding) apply to the worker's Kestrel. Called first so that the engine's options configuration
        // runs after the web host defaults.
        builder.ConfigureFunctionsWebApplication();

        builder.Services.AddAzureOpenAIProxy(builder.Configuration);

        // Production log levels, as the standalone host's appsettings.json: the worker's own Kestrel would otherwise log
        // each request's start and finish at Information, and the worker sends its log lines to the host, which sends
        // them on to Application Insights (billed per GB). host.json then filters what reaches the host's sinks.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);

        // While any level of Microsoft.AspNetCore.Hosting.Diagnostics is enabled, the worker's Kestrel creates an Activity
        // and a log scope for every request the host forwards, even when nothing traces it (AoaiProxy.Server's
        // appsettings.json turns it off for the same reason). Nothing here needs that activity: the worker's telemetry
        // correlates through the invocation's own activity (UseFunctionsWorkerDefaults), which is current while the
        // function runs, and the engine sends backends a traceparent of its own when no activity is current. The
        // category logs only the request starting/finished lines, which Warning above already drops.
        builder.Logging.AddFilter(HostingDiagnosticsCategory, LogLevel.None);

        // As the Functions OpenTelemetry article does it: only where a resource is configured (locally there is none).
        // UseFunctionsWorkerDefaults correlates the worker's telemetry with the host's invocation; the exporter sends
        // logs, traces and the engine's meter. Keyless: the Application Insights resource refuses keys
        // (disableLocalAuth), so the exporter authenticates as the identity the authentication string names.
        var connectionString = builder.Configuration[ConnectionStringSetting];
        if (!string.IsNullOrWhiteSpace(connectionString))
        {
            var credential = CredentialFor(builder.Configuration[AuthenticationStringSetting]);
            builder.Services.AddOpenTelemetry()
                .UseFunctionsWorkerDefaults()
                .WithMetrics(metrics => metrics.AddMeter(ProxyTelemetry.MeterName))
                .UseAzureMonitorExporter(options =>
                {
                    options.ConnectionString = connectionString;
                    options.Credential = credential;
                });
        }
    }

    /// <summary>
    /// The credential the Application Insights authentication string asks for: "Authorization=AAD;ClientId=&lt;id&gt;" is
    /// that user-assigned managed identity, "Authorization=AAD" the system-assigned one; anything else (or nothing) is
    /// no credential, i.e. the connection string's key, which a resource with local authentication disabled refuses.
    /// </summary>
    internal static TokenCredential? CredentialFor(string? authenticationString)
    {
        if (string.IsNullOrWhiteSpace(authenticationString))
        {
            return null;
        }

        string? authorization = null, clientId = null;
        foreach (var part in authenticationString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                continue;
            }

            var name = part[..eq].Trim();
            var value = part[(eq + 1)..].Trim();
            if (name.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
            {
                authorization = value;
            }
            else if (name.Equals("ClientId", StringComparison.OrdinalIgnoreCase))
            {
                clientId = value;
            }
        }

        if (!string.Equals(authorization, "AAD", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        return string.IsNullOrEmpty(clientId)
            ? new ManagedIdentityCredential(ManagedIdentityId.SystemAssigned)
            : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId));
    }
}
