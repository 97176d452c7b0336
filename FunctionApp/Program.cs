using AoaiProxy.FunctionApp;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;

var builder = FunctionsApplication.CreateBuilder(args);
ProxyFunctionApp.Configure(builder);
builder.Build().Run();
