using AoaiProxy.Configuration;
using AoaiProxy.Logging;
using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Auth;

/// <summary>Registers caller authentication and the backends' credentials (part of AddAzureOpenAIProxy).</summary>
internal static class AuthServiceCollectionExtensions
{
    public static IServiceCollection AddProxyAuth(this IServiceCollection services)
    {
        // Replaceable: tests register a counting fake after AddAzureOpenAIProxy; only resolved when some backend uses it.
        services.TryAddSingleton<TokenCredential>(sp => CreateCredential(sp.GetRequiredService<ProxyOptions>().Auth));
        services.TryAddSingleton<IClientKeyVerifier>(sp => new ClientKeyVerifier(sp.GetRequiredService<ProxyOptions>().Auth.ClientKeys));
        services.TryAddSingleton<ProxyTokenSource>();
        services.TryAddSingleton(sp =>
        {
            var options = sp.GetRequiredService<ProxyOptions>();
            return new BackendCredentials(options.Auth, BackendCredentials.NeedsToken(options) ? sp.GetRequiredService<ProxyTokenSource>() : null);
        });
        services.TryAddSingleton(sp => sp.GetRequiredService<ProxyOptions>().Auth.EntraId is { } entraId
            ? new OpenIdConfigurationSource(entraId, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<OpenIdConfigurationSource>>())
            : null!);
        services.TryAddSingleton(sp =>
        {
            var auth = sp.GetRequiredService<ProxyOptions>().Auth;
            var entraId = auth.EntraId is { } e
                ? new EntraIdTokenValidator(e, sp.GetRequiredService<OpenIdConfigurationSource>(), sp.GetRequiredService<TimeProvider>())
                : null;
            return new CallerAuthenticator(auth, sp.GetRequiredService<IClientKeyVerifier>(), entraId, sp.GetRequiredService<ILogger<CallerAuthenticator>>());
        });
        services.AddHostedService<AuthStartup>();
        return services;
    }

    /// <summary>A user-assigned managed identity by client id when configured; otherwise DefaultAzureCredential (system-assigned identity in Azure, az/azd/Visual Studio sign-in locally).</summary>
    private static TokenCredential CreateCredential(AuthOptions auth) => auth.IdentityClientId is { } clientId
        ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId))
        : new DefaultAzureCredential();

    /// <summary>Says once how callers and backends authenticate, warns loudly about the anonymous opt-out, and warms the caches.</summary>
    private sealed class AuthStartup(ProxyOptions options, IServiceProvider services, ILogger<AuthStartup> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            var auth = options.Auth;
            Log.AuthConfigured(logger, DescribeCallers(auth), DescribeBackends(options));
            if (auth.AllowAnonymousCallers)
            {
                Log.AnonymousCallersAllowed(logger, DescribeBackends(options));
            }

            // Warm-up without blocking start-up: a wrong tenant or a missing identity shows in the log at once, and the
            // first request does not pay for the fetch. Failures are logged by the sources and retried on use.
            if (auth.EntraId is not null)
            {
                _ = services.GetRequiredService<OpenIdConfigurationSource>().GetAsync(CancellationToken.None)
                    .ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            }

            if (BackendCredentials.NeedsToken(options))
            {
                _ = services.GetRequiredService<ProxyTokenSource>().GetAsync(CancellationToken.None).AsTask();
            }

            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        private static string DescribeCallers(AuthOptions auth)
        {
            var ways = new List<string>();
            if (auth.EntraId is { } e)
            {
                ways.Add($"Entra ID tokens of tenant {e.TenantId} for {e.Audiences[0]}" +
                    (e.AllowedCallers.Count > 0 ? $" from {e.AllowedCallers.Count} allowed callers" : " from any caller of the tenant"));
            }

            if (auth.ClientKeys.Count > 0)
            {
                ways.Add($"{auth.ClientKeys.Count} client keys");
            }

            return ways.Count > 0 ? string.Join(" or ", ways) : "nothing (anyone is admitted)";
        }

        private static string DescribeBackends(ProxyOptions options)
        {
            var keyed = options.Backends.Where(b => b.ApiKey is not null).Select(b => b.Name).ToList();
            var rest = options.Auth.Backend == BackendAuthMode.Identity
                ? $"the proxy's Entra ID token ({(options.Auth.IdentityClientId is { } id ? "managed identity " + id : "DefaultAzureCredential")})"
                : "the caller's own credentials (pass-through)";
            return keyed.Count == 0 ? rest : $"their own api keys ({string.Join(", ", keyed)}), the others with {rest}";
        }
    }
}
