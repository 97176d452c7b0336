using System.Text;
using AoaiProxy.Auth;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Logging;
using AoaiProxy.Observability;
using AoaiProxy.Pipeline;
using AoaiProxy.State;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AoaiProxy;

/// <summary>Registers the proxy engine. Both hosts call this and nothing else.</summary>
public static class ProxyServiceCollectionExtensions
{
    /// <summary>
    /// Registers the engine, reads its settings (section "Proxy" and the AzureWebJobsStorage settings) and validates
    /// them at start-up: an invalid configuration stops the host with messages naming each setting. The request body limit
    /// is set on each request the engine handles (Proxy:MaxRequestBodyBytes), not on the server.
    /// </summary>
    public static IServiceCollection AddAzureOpenAIProxy(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IConfigureOptions<ProxyOptions>>(new ConfigureProxyOptions(configuration));
        services.AddSingleton<IValidateOptions<ProxyOptions>>(new ProxyOptionsValidator(configuration));
        services.AddOptions<ProxyOptions>().ValidateOnStart();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<ProxyOptions>>().Value);

        // Relayed backend headers may carry non-ASCII bytes (BackendClient decodes them as Latin-1): send them back byte for
        // byte rather than throw from the header copy (an empty 500). Kestrel chooses the encoding per server, not per request.
        services.AddOptions<KestrelServerOptions>()
            .Configure(static kestrel => kestrel.ResponseHeaderEncodingSelector = static _ => Encoding.Latin1);

        services.TryAddSingleton<IStateStore>(sp =>
        {
            var options = sp.GetRequiredService<ProxyOptions>();
            return options.Storage is { } storage
                ? TableStateStore.Create(storage)
                : new InMemoryStateStore();
        });
        // The store as the sync round sees it is counted (operations by kind and result, last error) for metrics and status.
        services.AddMetrics();
        services.AddSingleton<StoreActivity>();
        services.AddSingleton(sp => SharedStateParts.Create(
            new ObservedStateStore(sp.GetRequiredService<IStateStore>(), sp.GetRequiredService<StoreActivity>()),
            sp.GetRequiredService<ProxyOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<SharedState>>()));
        services.AddSingleton(sp => sp.GetRequiredService<SharedStateParts>().View);
        // Runs from before the host starts its services (the table creation at start-up, not at the first request) until
        // after it stopped them all (the web server drains its requests first).
        services.AddHostedService(sp => sp.GetRequiredService<SharedStateParts>().Sync);
        services.AddSingleton<BackendActivity>();
        services.AddSingleton<ProxyMetrics>();
        services.AddSingleton<ProxyStatus>();
        services.AddSingleton<IProxyStatusEndpoint, ProxyStatusEndpoint>();
        services.TryAddSingleton<Affinity.IObjectStore>(sp =>
        {
            var options = sp.GetRequiredService<ProxyOptions>();
            return options.Storage is { } storage
                ? Affinity.TableObjectStore.Create(storage)
                : new Affinity.InMemoryObjectStore();
        });
        services.AddSingleton<Affinity.ObjectAffinity>();
        services.AddSingleton<BackendClient>();
        services.AddSingleton<Throttling.FailureRate>();
        services.AddSingleton<Throttling.HeadroomBook>();
        services.AddSingleton(sp => new WaitRoom(sp.GetRequiredService<ProxyOptions>(), sp.GetRequiredService<SharedState>(),
            sp.GetRequiredService<Throttling.HeadroomBook>(), sp.GetRequiredService<TimeProvider>(), sp.GetService<IHostApplicationLifetime>()));
        services.AddSingleton<IWaitingRequests>(sp => sp.GetRequiredService<WaitRoom>());
        services.AddSingleton<BackendHealth>();
        services.AddProxyAuth();
        services.AddSingleton<CrossOriginPolicy>();
        services.AddSingleton<IAzureOpenAIProxy, ProxyHandler>();
        services.AddHostedService<ProxyStartup>();
        return services;
    }

    /// <summary>Fills the options; the problems it finds are reported by <see cref="ProxyOptionsValidator"/>.</summary>
    private sealed class ConfigureProxyOptions(IConfiguration configuration) : IConfigureOptions<ProxyOptions>
    {
        public void Configure(ProxyOptions options) => ProxyOptionsReader.Fill(options, configuration, []);
    }

    /// <summary>Says once, at start-up, how the proxy is set up.</summary>
    private sealed class ProxyStartup(ProxyOptions options, IStateStore store, ILogger<ProxyStartup> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            Log.Started(logger, options.Backends.Count,
                string.Join(", ", options.Backends.Select(b => $"{b.Name} ({b.Endpoint.Host}, priority {b.Priority}, weight {b.Weight})")));
            if (store is InMemoryStateStore)
            {
                Log.InMemoryState(logger);
            }

            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
