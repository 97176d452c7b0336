using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using AoaiProxy.Benchmarks.Support;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Benchmarks;

/// <summary>
/// Memory held by the proxy while many streams idle (issue 13): N concurrent streamed completions, each with a 4 MiB
/// request body (a vision request), all past their first event and waiting for the next. Not BenchmarkDotNet: the
/// number is the managed heap that stays live while the streams are open, not time or allocation per operation.
/// <para>
/// Run: <c>benchmarks/run.sh relay-memory [streams]</c> (default 200). Everything runs in one process: the client sends
/// one shared 4 MiB array (no copy per request) and the fake backend drains bodies through a small buffer and keeps
/// nothing, so what the heap holds beyond the idle baseline is the proxy's: buffered bodies and relay buffers.
/// </para>
/// </summary>
internal static class RelayMemoryBenchmark
{
    private const int DefaultStreams = 200;
    private const int BodyBytes = 4 * 1024 * 1024;

    public static async Task<int> RunAsync(string[] args)
    {
        var streams = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : DefaultStreams;
        // The backend holds each stream open until the current gate opens: none for the warm-up, the release for the rest.
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = Task.CompletedTask;
        await using var backend = await StreamingBackend.StartAsync(() => Volatile.Read(ref gate));
        var proxy = await StartProxyAsync(backend.Endpoint);
        await using var stopProxy = proxy;
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = int.MaxValue })
        {
            BaseAddress = new Uri(proxy.Urls.First().TrimEnd('/') + "/"),
            Timeout = Timeout.InfiniteTimeSpan,
        };
        var body = new byte[BodyBytes];
        Encoding.ASCII.GetBytes("{\"stream\":true,\"pad\":\"").CopyTo(body, 0);
        body.AsSpan(22, BodyBytes - 24).Fill((byte)'A');
        "\"}"u8.CopyTo(body.AsSpan(BodyBytes - 2));

        // Warm up one full exchange, so that the baseline includes the JIT, pools and connections of one stream.
        var warm = new TaskCompletionSource();
        warm.SetResult();
        await OneStreamAsync(client, body, warm.Task);
        var baseline = Settle();
        Volatile.Write(ref gate, release.Task);

        var firstEvents = new TaskCompletionSource[streams];
        var calls = new Task[streams];
        for (var i = 0; i < streams; i++)
        {
            firstEvents[i] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var first = firstEvents[i];
            calls[i] = Task.Run(() => OneStreamAsync(client, body, release.Task, first));
        }

        await Task.WhenAll(firstEvents.Select(f => f.Task)).WaitAsync(TimeSpan.FromMinutes(5));
        var held = Settle();
        release.SetResult();
        await Task.WhenAll(calls).WaitAsync(TimeSpan.FromMinutes(5));
        var after = Settle();

        var perStream = (held.Heap - baseline.Heap) / (double)streams;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"""
            relay-memory: {streams} concurrent streams, {BodyBytes / 1024 / 1024} MiB request body each, all idle after their first event
              managed heap, idle baseline      {baseline.Heap / 1048576.0,10:F1} MiB   (working set {baseline.WorkingSet / 1048576.0:F1} MiB)
              managed heap, streams open       {held.Heap / 1048576.0,10:F1} MiB   (working set {held.WorkingSet / 1048576.0:F1} MiB)
              held per open stream             {perStream / 1024.0,10:F1} KiB
              managed heap, streams finished   {after.Heap / 1048576.0,10:F1} MiB   (pools keep what was returned to them)
              held by the open streams         {(held.Heap - after.Heap) / 1048576.0,10:F1} MiB   (streams open minus finished)
            """));
        return 0;
    }

    private static async Task OneStreamAsync(HttpClient client, byte[] body, Task release, TaskCompletionSource? firstEvent = null)
    {
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        using var request = new HttpRequestMessage(HttpMethod.Post, Payloads.StreamPath) { Content = content };
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            throw new InvalidOperationException($"The proxy answered {(int)response.StatusCode}.");
        }

        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var line = await reader.ReadLineAsync();
        firstEvent?.TrySetResult();
        await release;
        while (line is not null)
        {
            line = await reader.ReadLineAsync();
        }
    }

    /// <summary>The engine on Kestrel as the hosts register it (no logging provider, in-memory state), over one backend.</summary>
    private static async Task<WebApplication> StartProxyAsync(Uri backend)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Proxy:Backends:0:Name"] = "backend",
            ["Proxy:Backends:0:Endpoint"] = backend.ToString(),
        });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Services.AddAzureOpenAIProxy(builder.Configuration);
        var app = builder.Build();
        app.Run(app.Services.GetRequiredService<IAzureOpenAIProxy>().ProxyAsync);
        await app.StartAsync();
        return app;
    }

    /// <summary>Full blocking compacting collections, then the live managed heap and the process working set.</summary>
    private static (long Heap, long WorkingSet) Settle()
    {
        for (var i = 0; i < 3; i++)
        {
            GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
        }

        using var process = Process.GetCurrentProcess();
        return (GC.GetTotalMemory(forceFullCollection: true), process.WorkingSet64);
    }

    /// <summary>Drains each body through a small buffer, sends one event, waits for the release, then ends the stream.</summary>
    private sealed class StreamingBackend : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private StreamingBackend(WebApplication app, Uri endpoint)
        {
            _app = app;
            Endpoint = endpoint;
        }

        public Uri Endpoint { get; }

        public static async Task<StreamingBackend> StartAsync(Func<Task> gate)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Limits.MaxRequestBodySize = null).UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            app.Run(async context =>
            {
                var scratch = new byte[8192];
                while (await context.Request.Body.ReadAsync(scratch) > 0)
                {
                }

                context.Response.ContentType = "text/event-stream";
                await context.Response.WriteAsync("data: first\n\n");
                await context.Response.Body.FlushAsync();
                await gate();
                await context.Response.WriteAsync("data: [DONE]\n\n");
            });
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new StreamingBackend(app, new Uri(address.TrimEnd('/') + "/"));
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
