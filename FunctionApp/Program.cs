using AoaiProxy;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);

// ASP.NET Core integration: the Functions host forwards each HTTP request to this worker's own Kestrel, so the function
// gets the real HttpContext and the engine can stream the response. It adds that web host to these same services, which
// is why the KestrelServerOptions (request body limit) that the engine configures below apply to the worker's Kestrel.
// Called first so that the engine's options configuration runs after the web host defaults.
builder.ConfigureFunctionsWebApplication();

builder.Services.AddAzureOpenAIProxy(builder.Configuration);

builder.Build().Run();
