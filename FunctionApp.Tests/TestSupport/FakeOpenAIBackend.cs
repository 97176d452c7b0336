using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>What a fake backend received.</summary>
internal sealed record RecordedRequest(string Method, string PathAndQuery, IReadOnlyDictionary<string, string> Headers, byte[] Body);

/// <summary>
/// A fake Azure OpenAI resource on loopback (real Kestrel, real HTTP). By default it answers like Azure OpenAI:
/// chat completions as JSON, or as server-sent events when the body asks for "stream": true. Tests program other
/// behaviour with <see cref="Handler"/> (statuses, headers, delays, SSE with gaps, dropped connections).
/// </summary>
internal sealed class FakeOpenAIBackend : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();

    private FakeOpenAIBackend(string name, WebApplication app)
    {
        Name = name;
        _app = app;
    }

    public string Name { get; }

    public Uri Endpoint { get; private set; } = null!;

    /// <summary>Programs the answer; null restores the default Azure-like behaviour.</summary>
    public Func<HttpContext, RecordedRequest, Task>? Handler { get; set; }

    /// <summary>
    /// Runs before the body is read and answers the request itself when it returns true: a backend that stops reading
    /// an upload midway (answers 429 early, drops the connection).
    /// </summary>
    public Func<HttpContext, Task<bool>>? BeforeBody { get; set; }

    /// <summary>Completes when the first bytes of a request body arrive, before the rest is read (streamed uploads).</summary>
    public TaskCompletionSource FirstBodyBytes { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public IReadOnlyCollection<RecordedRequest> Requests => _requests;

    public int RequestCount => _requests.Count;

    public static Task<FakeOpenAIBackend> StartAsync(string name) => StartAsync(name, http2Tls: false);

    /// <summary>
    /// With <paramref name="http2Tls"/>, serves HTTP/2 only, over TLS with <see cref="TestCertificate.Backend"/> (ALPN h2),
    /// as Azure OpenAI is reached in production. Each answer then says which protocol served it (x-fake-protocol).
    /// </summary>
    public static async Task<FakeOpenAIBackend> StartAsync(string name, bool http2Tls)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = null;
            if (http2Tls)
            {
                k.Listen(System.Net.IPAddress.Loopback, 0, listen =>
                {
                    listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2;
                    listen.UseHttps(TestCertificate.Backend);
                });
            }
        });
        if (!http2Tls)
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
        }

        var app = builder.Build();
        var backend = new FakeOpenAIBackend(name, app);
        app.Run(backend.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        backend.Endpoint = new Uri(address.TrimEnd('/') + "/");
        return backend;
    }

    public void ClearRequests() => _requests.Clear();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        if (BeforeBody is { } before && await before(context))
        {
            return;
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            FirstBodyBytes.TrySetResult();
            buffer.Write(chunk, 0, read);
        }

        var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
        var recorded = new RecordedRequest(
            context.Request.Method,
            context.Request.Path.ToUriComponent() + context.Request.QueryString.ToUriComponent(),
            headers,
            buffer.ToArray());
        _requests.Enqueue(recorded);
        context.Response.Headers["x-fake-backend"] = Name;
        context.Response.Headers["x-fake-protocol"] = context.Request.Protocol;
        await (Handler ?? DefaultAsync)(context, recorded);
    }

    private Task DefaultAsync(HttpContext context, RecordedRequest request) => FakeResponses.AzureLike(Name)(context, request);
}

/// <summary>Building blocks for <see cref="FakeOpenAIBackend.Handler"/>.</summary>
internal static class FakeResponses
{
    /// <summary>Azure-like answers: a chat completion (JSON or SSE) naming the backend, or an echo for anything else.</summary>
    public static Func<HttpContext, RecordedRequest, Task> AzureLike(string backendName) => async (context, request) =>
    {
        var model = "gpt-4o-mini";
        var stream = false;
        if (request.Body.Length > 0 && (context.Request.ContentType ?? "").Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                using var doc = JsonDocument.Parse(request.Body);
                if (doc.RootElement.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String)
                {
                    model = m.GetString()!;
                }

                stream = doc.RootElement.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.True;
            }
            catch (JsonException)
            {
                // Malformed JSON: fall through to the echo below, as Azure would answer 400 - but this fake just echoes.
            }
        }

        if (!request.PathAndQuery.Contains("chat/completions", StringComparison.Ordinal))
        {
            await Json(200, new { backend = backendName, method = request.Method, path = request.PathAndQuery, bytes = request.Body.Length })(context, request);
            return;
        }

        if (stream)
        {
            var words = new[] { "Hello", " from", " " + backendName };
            await Sse(words.Select(w => ChunkJson(model, w)).Append("[DONE]").ToArray(), _ => Task.CompletedTask)(context, request);
            return;
        }

        await Json(200, new
        {
            id = "chatcmpl-fake",
            @object = "chat.completion",
            created = 1_700_000_000,
            model,
            choices = new[] { new { index = 0, message = new { role = "assistant", content = "Hello from " + backendName }, finish_reason = "stop" } },
            usage = new { prompt_tokens = 5, completion_tokens = 3, total_tokens = 8 },
        })(context, request);
    };

    public static Func<HttpContext, RecordedRequest, Task> Json(int status, object body, IDictionary<string, string>? headers = null) =>
        async (context, _) =>
        {
            context.Response.StatusCode = status;
            foreach (var (name, value) in headers ?? new Dictionary<string, string>())
            {
                context.Response.Headers[name] = value;
            }

            // With its length, as Azure OpenAI answers JSON: the caller has the whole answer with its last byte.
            var bytes = JsonSerializer.SerializeToUtf8Bytes(body);
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = bytes.Length;
            await context.Response.Body.WriteAsync(bytes);
        };

    /// <summary>A 429 with Azure's error body and the given headers.</summary>
    public static Func<HttpContext, RecordedRequest, Task> Throttle(IDictionary<string, string>? headers = null) =>
        Json(429, new { error = new { code = "429", message = "Requests to the ChatCompletions_Create Operation have exceeded the rate limit." } }, headers);

    /// <summary>Server-sent events: each payload as "data: ...\n\n", flushed, then <paramref name="betweenChunks"/>(i) before the next.</summary>
    public static Func<HttpContext, RecordedRequest, Task> Sse(IReadOnlyList<string> payloads, Func<int, Task> betweenChunks) =>
        async (context, _) =>
        {
            context.Response.StatusCode = 200;
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            await context.Response.StartAsync();
            for (var i = 0; i < payloads.Count; i++)
            {
                await context.Response.WriteAsync("data: " + payloads[i] + "\n\n", Encoding.UTF8);
                await context.Response.Body.FlushAsync();
                if (i < payloads.Count - 1)
                {
                    await betweenChunks(i);
                }
            }
        };

    /// <summary>Drops the connection without any response.</summary>
    public static Func<HttpContext, RecordedRequest, Task> CloseConnection() => (context, _) =>
    {
        context.Abort();
        return Task.CompletedTask;
    };

    public static string ChunkJson(string model, string content) => JsonSerializer.Serialize(new
    {
        id = "chatcmpl-fake",
        @object = "chat.completion.chunk",
        created = 1_700_000_000,
        model,
        choices = new[] { new { index = 0, delta = new { content }, finish_reason = (string?)null } },
    });
}
