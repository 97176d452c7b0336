using System.Buffers;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Benchmarks.Support;

/// <summary>How a fake backend answers every request.</summary>
internal enum FakeBehaviour
{
    /// <summary>Azure-like answers, picked by path (see <see cref="FakeAzureOpenAI"/>).</summary>
    Serve,

    /// <summary>Always 429 with Azure's error body.</summary>
    Throttle,
}

/// <summary>
/// A fake Azure OpenAI resource on loopback (real Kestrel, real HTTP), trimmed from the tests' FakeOpenAIBackend for
/// measuring: every answer is precomputed and the request body is drained into a pooled buffer, so the backend's own
/// cost is small and identical whether it is called directly or through the proxy. It picks its answer from the path
/// alone (no JSON parsing): a deployment ending in "-stream" streams <see cref="Payloads.SseChunkCount"/> SSE chunks,
/// /audio/ paths answer a small JSON after draining the upload, anything else gets a ~1 KB chat completion.
/// </summary>
internal sealed class FakeAzureOpenAI : IAsyncDisposable
{
    private const int DrainBufferSize = 16 * 1024;

    /// <summary>
    /// The throttling backend asks for a 1 µs wait: the cooldown it causes has expired by the next request, so every
    /// request of the failover benchmark really pays a 429 and a second attempt instead of being planned around it.
    /// </summary>
    private const string ThrottleRetryAfterMs = "0.001";

    private readonly WebApplication _app;
    private readonly FakeBehaviour _behaviour;
    private long _requests;

    private FakeAzureOpenAI(string name, WebApplication app, FakeBehaviour behaviour)
    {
        Name = name;
        _app = app;
        _behaviour = behaviour;
    }

    public string Name { get; }

    public Uri Endpoint { get; private set; } = null!;

    /// <summary>Requests received so far.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    public static async Task<FakeAzureOpenAI> StartAsync(string name, FakeBehaviour behaviour = FakeBehaviour.Serve)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Limits.MaxRequestBodySize = null).UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var backend = new FakeAzureOpenAI(name, app, behaviour);
        app.Run(backend.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        backend.Endpoint = new Uri(address.TrimEnd('/') + "/");
        return backend;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        Interlocked.Increment(ref _requests);
        var buffer = ArrayPool<byte>.Shared.Rent(DrainBufferSize);
        try
        {
            while (await context.Request.Body.ReadAsync(buffer, context.RequestAborted) > 0)
            {
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var response = context.Response;
        if (_behaviour == FakeBehaviour.Throttle)
        {
            response.StatusCode = StatusCodes.Status429TooManyRequests;
            response.Headers["retry-after-ms"] = ThrottleRetryAfterMs;
            await WriteJsonAsync(response, Payloads.ThrottledBody);
            return;
        }

        var path = context.Request.Path.Value ?? "";
        if (path.Contains("/audio/", StringComparison.Ordinal))
        {
            await WriteJsonAsync(response, Payloads.TranscriptionResponse);
            return;
        }

        if (path.Contains("-stream/", StringComparison.Ordinal))
        {
            response.ContentType = "text/event-stream";
            response.Headers.CacheControl = "no-cache";
            await response.StartAsync(context.RequestAborted);
            foreach (var chunk in Payloads.SseChunks)
            {
                await response.Body.WriteAsync(chunk, context.RequestAborted);
                await response.Body.FlushAsync(context.RequestAborted);
            }

            return;
        }

        await WriteJsonAsync(response, Payloads.ChatResponse);
    }

    private static Task WriteJsonAsync(HttpResponse response, byte[] body)
    {
        response.ContentType = "application/json";
        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body).AsTask();
    }
}

/// <summary>The request and response bodies, built once.</summary>
internal static class Payloads
{
    public const int SseChunkCount = 50;
    public const int UploadBytes = 1024 * 1024;
    public const string Deployment = "gpt-4o-mini";
    public const string ApiVersion = "2024-10-21";

    public static readonly string ChatPath = $"openai/deployments/{Deployment}/chat/completions?api-version={ApiVersion}";
    public static readonly string StreamPath = $"openai/deployments/{Deployment}-stream/chat/completions?api-version={ApiVersion}";
    public static readonly string UploadPath = $"openai/deployments/whisper/audio/transcriptions?api-version={ApiVersion}";

    /// <summary>A chat completion request of about 1 KB (system and user message).</summary>
    public static readonly byte[] ChatRequest = Utf8(
        "{\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant that answers briefly.\"}," +
        "{\"role\":\"user\",\"content\":\"" + Filler(860) + "\"}],\"max_tokens\":200,\"temperature\":0.7}");

    /// <summary>The same request asking for server-sent events.</summary>
    public static readonly byte[] StreamRequest = Utf8(
        "{\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant that answers briefly.\"}," +
        "{\"role\":\"user\",\"content\":\"" + Filler(846) + "\"}],\"max_tokens\":200,\"temperature\":0.7,\"stream\":true}");

    /// <summary>A chat completion of about 1 KB.</summary>
    public static readonly byte[] ChatResponse = Utf8(
        "{\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"gpt-4o-mini\"," +
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"" + Filler(800) + "\"},\"finish_reason\":\"stop\"}]," +
        "\"usage\":{\"prompt_tokens\":210,\"completion_tokens\":180,\"total_tokens\":390}}");

    /// <summary><see cref="SseChunkCount"/> "data: {chunk}" events and the closing "data: [DONE]".</summary>
    public static readonly byte[][] SseChunks =
    [
        .. Enumerable.Range(0, SseChunkCount).Select(i => Utf8(
            "data: {\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"gpt-4o-mini\"," +
            "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" word" + i + "\"},\"finish_reason\":null}]}\n\n")),
        Utf8("data: [DONE]\n\n"),
    ];

    /// <summary>A 1 MiB request body (an audio file, say: the proxy forwards bytes, it does not read them).</summary>
    public static readonly byte[] Upload = Enumerable.Range(0, UploadBytes).Select(i => (byte)(i * 31)).ToArray();

    public static readonly byte[] TranscriptionResponse = Utf8("{\"text\":\"Hello from the fake backend.\"}");

    public static readonly byte[] ThrottledBody = Utf8(
        "{\"error\":{\"code\":\"429\",\"message\":\"Requests to the ChatCompletions_Create Operation have exceeded the rate limit.\"}}");

    private static string Filler(int length)
    {
        var text = new StringBuilder(length);
        while (text.Length < length)
        {
            text.Append("lorem ipsum dolor sit amet ");
        }

        return text.ToString(0, length);
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);
}
