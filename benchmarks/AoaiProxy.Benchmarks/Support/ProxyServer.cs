using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Benchmarks.Support;

/// <summary>
/// The engine on real Kestrel on loopback, registered exactly as the hosts register it (settings by name), with no
/// storage configured (in-memory shared state) and no logging provider, so the numbers are the engine's, not a log sink's.
/// </summary>
internal sealed class ProxyServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ProxyServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    /// <summary>Starts a proxy over the backends, in order; <paramref name="priorities"/> defaults to one tier.</summary>
    public static async Task<ProxyServer> StartAsync(IReadOnlyList<FakeAzureOpenAI> backends, IReadOnlyList<int>? priorities = null)
    {
        var settings = new Dictionary<string, string?>();
        for (var i = 0; i < backends.Count; i++)
        {
            settings[$"Proxy:Backends:{i}:Name"] = backends[i].Name;
            settings[$"Proxy:Backends:{i}:Endpoint"] = backends[i].Endpoint.ToString();
            if (priorities is not null)
            {
                settings[$"Proxy:Backends:{i}:Priority"] = priorities[i].ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Services.AddAzureOpenAIProxy(builder.Configuration);
        var app = builder.Build();
        var proxy = app.Services.GetRequiredService<IAzureOpenAIProxy>();
        app.Run(proxy.ProxyAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new ProxyServer(app, new Uri(address.TrimEnd('/') + "/"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
