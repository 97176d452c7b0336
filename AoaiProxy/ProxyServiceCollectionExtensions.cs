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
        // The store as SharedState sees it is counted (operations by kind and result, last error) for metrics and status.
        services.AddMetrics();
        services.AddSingleton<StoreActivity>();
        services.AddSingleton(sp => new SharedState(
            new ObservedStateStore(sp.GetRequiredService<IStateStore>(), sp.GetRequiredService<StoreActivity>()),
            sp.GetRequiredService<ProxyOptions>(), sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<SharedState>>()));
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

    /// <summary>Starts the shared state (table creation) with the host and says once how the proxy is set up.</summary>
    private sealed class ProxyStartup : IHostedService
    {
        private readonly ProxyOptions _options;
        private readonly IStateStore _store;
        private readonly ILogger<ProxyStartup> _logger;

        /// <summary>
        /// <paramref name="state"/> is requested only so that the host constructs it at start-up: its constructor starts
        /// creating the table rather than the first request doing so.
        /// </summary>
        public ProxyStartup(ProxyOptions options, SharedState state, IStateStore store, ILogger<ProxyStartup> logger)
        {
            ArgumentNullException.ThrowIfNull(state);
            _options = options;
            _store = store;
            _logger = logger;
        }

        public Task StartAsync(CancellationToken cancellationToken)
        {
            Log.Started(_logger, _options.Backends.Count,
                string.Join(", ", _options.Backends.Select(b => $"{b.Name} ({b.Endpoint.Host}, priority {b.Priority}, weight {b.Weight})")));
            if (_store is InMemoryStateStore)
            {
                Log.InMemoryState(_logger);
            }

            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
