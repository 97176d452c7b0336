using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// The engine served by real Kestrel on loopback, configured exactly as a host would configure it (settings by name),
/// with optional service overrides (a manual clock, a store) and captured logs.
/// </summary>
internal sealed class ProxyTestHost : IAsyncDisposable
{
    /// <summary>A chat completion of deployment gpt-4o, as the Azure OpenAI SDKs address it (relative to <see cref="BaseAddress"/>).</summary>
    public const string ChatPath = "openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21";

    private readonly WebApplication _app;

    private ProxyTestHost(WebApplication app, LogCapture logs, Uri baseAddress)
    {
        _app = app;
        Logs = logs;
        BaseAddress = baseAddress;
        Client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    public LogCapture Logs { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Settings naming each backend as Proxy:Backends:{i}:Name / :Endpoint.</summary>
    public static Dictionary<string, string?> SettingsFor(IReadOnlyList<FakeOpenAIBackend> backends)
    {
        var settings = new Dictionary<string, string?>();
        for (var i = 0; i < backends.Count; i++)
        {
            settings[$"Proxy:Backends:{i}:Name"] = backends[i].Name;
            settings[$"Proxy:Backends:{i}:Endpoint"] = backends[i].Endpoint.ToString();
        }

        return settings;
    }

    /// <summary>
    /// Waiting for a throttled window off (Proxy:Throttling:MaxWaitSeconds=0): for tests that specify the 429 a throttled
    /// request gets when it may not wait (the waiting itself is specified by the throttling tests).
    /// </summary>
    public static void NoWaiting(Dictionary<string, string?> settings) => settings["Proxy:Throttling:MaxWaitSeconds"] = "0";

    public static Task<ProxyTestHost> StartAsync(IReadOnlyList<FakeOpenAIBackend> backends, Action<Dictionary<string, string?>>? settings = null, Action<IServiceCollection>? services = null)
    {
        var all = SettingsFor(backends);
        settings?.Invoke(all);
        return StartAsync(all, services);
    }

    public static async Task<ProxyTestHost> StartAsync(Dictionary<string, string?> settings, Action<IServiceCollection>? services = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(settings);
        var logs = new LogCapture();
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(LogLevel.Debug);
        builder.Logging.AddProvider(logs);
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Services.AddAzureOpenAIProxy(builder.Configuration);
        services?.Invoke(builder.Services);
        var app = builder.Build();
        var proxy = app.Services.GetRequiredService<IAzureOpenAIProxy>();
        app.UseAzureOpenAIProxyStatus();
        app.Run(proxy.ProxyAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ProxyTestHost(app, logs, new Uri(address.TrimEnd('/') + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
