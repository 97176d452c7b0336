using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// The objects of one fake Azure OpenAI resource, enforcing ownership as Azure does: files, batches and stored
/// responses created here are found here, and an id it did not create gets 404 (in the path, or named by
/// input_file_id / previous_response_id). Anything else falls back to <see cref="FakeResponses.AzureLike"/>.
/// </summary>
internal sealed class FakeObjectStore
{
    private readonly string _backend;
    private readonly ConcurrentDictionary<string, string> _objects = new(StringComparer.Ordinal);
    private int _next;

    private FakeObjectStore(string backend) => _backend = backend;

    public IReadOnlyCollection<string> Ids => (IReadOnlyCollection<string>)_objects.Keys;

    /// <summary>Serves <paramref name="backend"/>'s requests with objects of its own, and returns them.</summary>
    public static FakeObjectStore Serve(FakeOpenAIBackend backend)
    {
        var objects = new FakeObjectStore(backend.Name);
        backend.Handler = objects.HandleAsync;
        return objects;
    }

    /// <summary>Fake backends that each know only the objects created on them (an unknown id gets 404).</summary>
    public static async Task<FakeBackends> StartBackendsAsync(params string[] names)
    {
        var backends = await FakeBackends.StartAsync(names);
        foreach (var backend in backends.All)
        {
            Serve(backend);
        }

        return backends;
    }

    /// <summary>Adds an object as if created on this backend before the proxy existed.</summary>
    public void Seed(string id, string kind) => _objects[id] = kind;

    public Task HandleAsync(HttpContext context, RecordedRequest request)
    {
        var path = request.PathAndQuery.Split('?')[0];
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);

        // openai/v1/{collection}[/{id}] or openai/{collection}[/{id}]
        var rest = segments.SkipWhile(s => s is "openai" or "v1").ToArray();
        if (rest.Length == 0 || rest[0] is not ("files" or "batches" or "responses" or "threads"))
        {
            return FakeResponses.AzureLike(_backend)(context, request);
        }

        var collection = rest[0];
        if (rest.Length >= 2)
        {
            var id = rest[1];
            if (!_objects.ContainsKey(id))
            {
                return NotFound(context, id);
            }

            if (request.Method == "DELETE")
            {
                _objects.TryRemove(id, out _);
                return Write(context, 200, new { id, @object = Kind(collection), deleted = true });
            }

            return Write(context, 200, Describe(collection, id, request));
        }

        if (request.Method != "POST")
        {
            var listed = _objects.Where(o => o.Value == collection).Select(o => o.Key).Order(StringComparer.Ordinal).ToArray();
            return Write(context, 200, new
            {
                @object = "list",
                data = listed.Select((id, i) => new { id, @object = Kind(collection), bytes = 3, created_at = 1_700_000_000 + i, filename = "input.jsonl", purpose = "batch", status = "processed" }).ToArray(),
                has_more = false,
            });
        }

        if (collection is "batches" or "responses")
        {
            using var doc = JsonDocument.Parse(request.Body);
            foreach (var field in new[] { "input_file_id", "previous_response_id" })
            {
                if (doc.RootElement.TryGetProperty(field, out var value) && value.GetString() is { } named && !_objects.ContainsKey(named))
                {
                    return NotFound(context, named);
                }
            }
        }

        var created = collection switch
        {
            "files" => "file-" + _backend + Interlocked.Increment(ref _next),
            "batches" => "batch_" + _backend + Interlocked.Increment(ref _next),
            "threads" => "thread_" + _backend + Interlocked.Increment(ref _next),
            _ => "resp_" + _backend + Interlocked.Increment(ref _next),
        };
        _objects[created] = collection;
        if (collection == "responses" && JsonDocument.Parse(request.Body).RootElement.TryGetProperty("stream", out var stream) && stream.ValueKind == JsonValueKind.True)
        {
            var response = Describe(collection, created, request);
            return FakeResponses.Sse(
            [
                JsonSerializer.Serialize(new { type = "response.created", sequence_number = 0, response }),
                JsonSerializer.Serialize(new { type = "response.completed", sequence_number = 1, response }),
            ], _ => Task.CompletedTask)(context, request);
        }

        return Write(context, 200, Describe(collection, created, request));
    }

    private object Describe(string collection, string id, RecordedRequest request) => collection switch
    {
        "files" => new { id, @object = "file", bytes = request.Body.Length, created_at = 1_700_000_000, filename = "input.jsonl", purpose = "batch", status = "processed" },
        "threads" => new { id, @object = "thread.message", backend = _backend, path = request.PathAndQuery },
        "batches" => new { id, @object = "batch", endpoint = "/chat/completions", input_file_id = "file", completion_window = "24h", status = "validating", created_at = 1_700_000_000 },
        _ => (object)new
        {
            id,
            @object = "response",
            created_at = 1_700_000_000,
            status = "completed",
            model = "gpt-4o",
            output = new[]
            {
                new { type = "message", id = "msg_" + id, status = "completed", role = "assistant", content = new[] { new { type = "output_text", text = "Hello from " + _backend, annotations = Array.Empty<object>() } } },
            },
        },
    };

    private static string Kind(string collection) => collection switch { "files" => "file", "batches" => "batch", _ => "response" };

    private static Task NotFound(HttpContext context, string id) =>
        Write(context, 404, new { error = new { code = "NotFound", message = $"No object with id '{id}' was found." } });

    private static Task Write(HttpContext context, int status, object body) => FakeResponses.Json(status, body)(context, null!);
}
