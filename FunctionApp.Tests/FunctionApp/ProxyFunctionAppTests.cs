using AoaiProxy.FunctionApp;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AoaiProxy.Tests.FunctionApp;

/// <summary>
/// <see cref="ProxyFunctionApp.Configure"/>: the services of the worker that Program builds, not a copy of them.
/// </summary>
public sealed class ProxyFunctionAppTests
{
    private static readonly Dictionary<string, string?> Settings = new()
    {
        ["Proxy:Backends:0:Name"] = "a",
        ["Proxy:Backends:0:Endpoint"] = "https://a.openai.azure.com",
        // Above Kestrel's own default (30,000,000 bytes), so a limit that never reached the worker's Kestrel shows.
        ["Proxy:MaxRequestBodyBytes"] = (200L * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    [Fact]
    public void Configure_WorkerServices_ActivateTheFunctionWithTheEngine()
    {
        using var host = FunctionWorker.Build(Settings);
        using var scope = host.Services.CreateScope();

        // The worker's default IFunctionActivator creates function instances exactly so, from the invocation's scope
        // (worker src/DotNetWorker.Core/Invocation/DefaultFunctionActivator.cs).
        var function = ActivatorUtilities.CreateInstance<ProxyFunction>(scope.ServiceProvider);

        Assert.NotNull(function);
        Assert.NotNull(scope.ServiceProvider.GetService<IAzureOpenAIProxy>());
    }

    [Fact]
    public void Configure_WorkerServices_RunTheSharedStateSyncWithTheHost()
    {
        // What the Functions host passes a worker it starts; resolving the hosted services constructs the worker's own
        // gRPC client (it connects only when started).
        var settings = new Dictionary<string, string?>(Settings)
        {
            ["Functions:Worker:HostEndpoint"] = "http://127.0.0.1:1",
            ["Functions:Worker:WorkerId"] = "test-worker",
            ["Functions:Worker:RequestId"] = "test-request",
            ["Functions:Worker:GrpcMaxMessageLength"] = "2147483647",
        };
        using var host = FunctionWorker.Build(settings);

        // The generic host starts and stops every IHostedService: the worker keeps the shared state current too.
        var sync = Assert.Single(host.Services.GetServices<IHostedService>().OfType<AoaiProxy.State.SharedStateSync>());
        Assert.Same(host.Services.GetRequiredService<AoaiProxy.State.SharedStateParts>().Sync, sync);
    }

    [Fact]
    public void Configure_WorkerKestrel_KeepsItsOwnBodyLimitTheEngineSetsItPerRequest()
    {
        using var host = FunctionWorker.Build(Settings);

        // The engine owns the limit of the requests it handles (ProxyFunctionTests checks it is set on each), not the
        // worker's server as a whole.
        Assert.Equal(new KestrelServerOptions().Limits.MaxRequestBodySize,
            host.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value.Limits.MaxRequestBodySize);
    }

    [Fact]
    public void Configure_WorkerLogging_HostingDiagnosticsOffAtEveryLevel()
    {
        using var host = FunctionWorker.Build(Settings);

        var factory = host.Services.GetRequiredService<ILoggerFactory>();
        // ASP.NET Core creates its per-request activity and log scope while this category is enabled at Critical or below.
        Assert.False(factory.CreateLogger(ProxyFunctionApp.HostingDiagnosticsCategory).IsEnabled(LogLevel.Critical));
        // Only that category: the rest of ASP.NET Core still logs its warnings.
        Assert.True(factory.CreateLogger("Microsoft.AspNetCore.Server.Kestrel").IsEnabled(LogLevel.Warning));
    }

    [Fact]
    public void Configure_ApplicationInsightsConnectionString_ExportsTheEnginesMeter()
    {
        var settings = new Dictionary<string, string?>(Settings)
        {
            [ProxyFunctionApp.ConnectionStringSetting] = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://127.0.0.1:1/",
            [ProxyFunctionApp.AuthenticationStringSetting] = "Authorization=AAD;ClientId=11111111-1111-1111-1111-111111111111",
        };
        using var host = FunctionWorker.Build(settings);

        Assert.NotNull(host.Services.GetService<OpenTelemetry.Metrics.MeterProvider>());
        var exporter = host.Services.GetRequiredService<IOptionsMonitor<Azure.Monitor.OpenTelemetry.Exporter.AzureMonitorExporterOptions>>().CurrentValue;
        Assert.Equal(settings[ProxyFunctionApp.ConnectionStringSetting], exporter.ConnectionString);
        Assert.IsType<Azure.Identity.ManagedIdentityCredential>(exporter.Credential);
    }

    [Fact]
    public void Configure_NoApplicationInsights_NoTelemetryPipeline()
    {
        using var host = FunctionWorker.Build(Settings);

        Assert.Null(host.Services.GetService<OpenTelemetry.Metrics.MeterProvider>());
    }

    [Theory]
    [InlineData("Authorization=AAD;ClientId=11111111-1111-1111-1111-111111111111", true)]
    [InlineData("ClientId=11111111-1111-1111-1111-111111111111; Authorization=aad", true)]
    [InlineData("Authorization=AAD", true)]
    [InlineData("Authorization=Key", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void CredentialFor_AuthenticationString_ManagedIdentityOnlyForAad(string? value, bool managedIdentity)
    {
        var credential = ProxyFunctionApp.CredentialFor(value);

        Assert.Equal(managedIdentity, credential is Azure.Identity.ManagedIdentityCredential);
    }
}
