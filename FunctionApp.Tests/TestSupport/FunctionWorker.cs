using AoaiProxy.FunctionApp;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Hosting;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// The Functions worker's host built exactly as FunctionApp's Program builds it (same builder, same
/// <see cref="ProxyFunctionApp.Configure"/>), with the settings given as command-line arguments like Program's
/// <c>args</c>. It is built but not started: starting would connect to a Functions host over gRPC.
/// </summary>
internal static class FunctionWorker
{
    public static IHost Build(IReadOnlyDictionary<string, string?> settings)
    {
        var args = settings.Select(s => $"--{s.Key}={s.Value}").ToArray();
        var builder = FunctionsApplication.CreateBuilder(args);
        ProxyFunctionApp.Configure(builder);
        return builder.Build();
    }
}
