using AoaiProxy;
using Microsoft.Extensions.Options;

// The standalone host: the same engine as the Functions app, without Core Tools or an Azure account.
// Configuration comes from appsettings.json (committed: production log levels), environment variables
// (Proxy__Backends__0__Endpoint=...) and the command line (--Proxy:Backends:0:Endpoint=...): exactly the settings the
// Functions app reads.
try
{
    // appsettings.json (production log levels) is read from next to the host's dll, not from the working directory, so
    // that `dotnet path/to/AoaiProxy.Server.dll` started from anywhere gets the same defaults as `dotnet run`.
    var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
    builder.Services.AddAzureOpenAIProxy(builder.Configuration);
    var app = builder.Build();

    // Every request goes to the engine, which answers anything outside /openai/ with a 404 in Azure's error shape and
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
