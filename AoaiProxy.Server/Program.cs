using AoaiProxy;
using AoaiProxy.Server;
using Microsoft.Extensions.Options;
using OpenTelemetry;
using OpenTelemetry.Metrics;

// The standalone host: the same engine as the Functions app, without Core Tools or an Azure account.
// Configuration comes from appsettings.json (committed: production log levels), environment variables
// (Proxy__Backends__0__Endpoint=...) and the command line (--Proxy:Backends:0:Endpoint=...): exactly the settings the
// Functions app reads.

// Before anything opens a socket: completions run on the epoll threads unless the operator chose (see SocketDefaults).
SocketDefaults.PreferInlineCompletions();
try
{
    // appsettings.json (production log levels) is read from next to the host's dll, not from the working directory, so
    // that `dotnet path/to/AoaiProxy.Server.dll` started from anywhere gets the same defaults as `dotnet run`.
    var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
    builder.Services.AddAzureOpenAIProxy(builder.Configuration);

    // The engine's meter, scraped at GET /metrics (Prometheus text: aoaiproxy_* series) and, when the standard
    // OTEL_EXPORTER_OTLP_ENDPOINT is set, pushed over OTLP together with the logs (the exporter reads the OTEL_* variables).
    var otel = builder.Services.AddOpenTelemetry()
        .WithMetrics(metrics => metrics.AddMeter(ProxyTelemetry.MeterName).AddPrometheusExporter());
    if (!string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
    {
        otel.WithLogging().UseOtlpExporter();

        // Log records pushed over OTLP carry the trace of the request they belong to only if the request has an Activity,
        // which ASP.NET Core creates while this category logs at any level (appsettings.json turns it off for speed).
        builder.Logging.AddFilter("Microsoft.AspNetCore.Hosting.Diagnostics", LogLevel.Critical);
    }

    var app = builder.Build();
    var status = app.Services.GetRequiredService<IProxyStatusEndpoint>();

    // /metrics, exactly as sent (not /openai/../metrics, which the server would normalize to it): the access rule of the
    // status (caller authentication, or loopback only without it) runs first.
    app.UseOpenTelemetryPrometheusScrapingEndpoint(
        meterProvider: null,
        predicate: context => ProxyStatusApplicationBuilderExtensions.IsRequestFor(context, "/metrics"),
        path: null,
        configureBranchedPipeline: branch => branch.Use(async (context, next) =>
        {
            if (await status.AdmitAsync(context))
            {
                await next(context);
            }
        }),
        optionsName: null);

    // /proxy (status page) and /proxy/status (JSON).
    app.UseAzureOpenAIProxyStatus();

    // Every other request goes to the engine, which answers anything outside /openai/ with a 404 in Azure's error shape and
    // refuses targets that try to leave /openai/ before any routing could normalize them away.
    var proxy = app.Services.GetRequiredService<IAzureOpenAIProxy>();
    app.Run(proxy.ProxyAsync);
    await app.RunAsync();
    return 0;
}
catch (OptionsValidationException ex)
{
    // A configuration mistake is not a crash: say what to fix, one setting per line, without a stack trace.
    await Console.Error.WriteLineAsync("The proxy is not configured correctly:");
    foreach (var failure in ex.Failures)
    {
        await Console.Error.WriteLineAsync("  - " + failure);
    }

    await Console.Error.WriteLineAsync("See README.md, section 'Configuration reference'.");
    return 1;
}
