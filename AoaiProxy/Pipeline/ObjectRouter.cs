using System.Buffers;
using AoaiProxy.Affinity;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Logging;
using AoaiProxy.Routing;
using AoaiProxy.State;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Pipeline;

/// <summary>
/// Routing by what each backend serves and holds: which backends serve a deployment (Proxy:Backends:{i}:Deployments),
/// which backend holds the objects a request names (<see cref="ObjectAffinity"/>), and what a good answer teaches
/// (objects created, found or deleted). The decisions are <see cref="RequestClassifier"/>'s, the object id readers' and
/// the planner's (pure); this class only looks up and records.
/// </summary>
internal sealed class ObjectRouter
{
    /// <summary>The route of plain inference (chat, embeddings...): shared, it is nearly every request.</summary>
    private static readonly RequestRoute PlainInference = new(RequestKind.Inference, [], Creates: false, Deleted: null);

    private readonly ProxyOptions _options;
    private readonly ObjectAffinity _affinity;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Whether any backend lists its deployments: otherwise every backend serves all.</summary>
    private readonly bool _deploymentMaps;

    public ObjectRouter(ProxyOptions options, ObjectAffinity affinity, TimeProvider time, ILogger logger)
    {
        _time = time;
        _options = options;
        _affinity = affinity;
        _logger = logger;
        _deploymentMaps = options.Backends.Any(b => b.Deployments is not null);
    }

    /// <summary>True when some backend lists its deployments (a v1 body's "model" may then need rewriting).</summary>
    public bool HasDeploymentMaps => _deploymentMaps;

    /// <summary>
    /// The objects the request names (path segments, then body fields) and the backend holding the first one the proxy
    /// knows: a cached id costs nothing, an id this instance never saw one store lookup.
    /// </summary>
    public ValueTask<RequestRoute> RouteAsync(HttpRequest request, ProxyPath path, RequestBody body, CancellationToken aborted)
    {
        var operation = OperationPath.Of(path);
        var kind = RequestClassifier.Classify(request.Method, operation);
        var isResponses = operation.Equals("responses", StringComparison.OrdinalIgnoreCase);
        if (kind == RequestKind.Inference && !isResponses)
        {
            // Chat, completions, embeddings...: no object in the path, none created, nothing to look up. One shared
            // route and no task.
            return ValueTask.FromResult(PlainInference);
        }

        return new ValueTask<RequestRoute>(LookUpAsync(request, path, body, kind, operation, isResponses, aborted));
    }

    private async Task<RequestRoute> LookUpAsync(
        HttpRequest request, ProxyPath path, RequestBody body, RequestKind kind, string operation, bool isResponses, CancellationToken aborted)
    {
        var ids = PathObjectIds.FromOperation(operation);
        if (body.InMemory && body.Length > 0 && (kind != RequestKind.Inference || isResponses) &&
            (request.ContentType ?? "").Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            foreach (var id in BodyObjectIds.FromJson(body.AsSequence()))
            {
                if (!ids.Contains(id))
                {
                    ids.Add(id);
                }
            }
        }

        string? listCursor = null;
        if (ListMerge.Cursor(path.PathAndQuery) is { } cursor && ObjectId.IsValid(cursor) && !ids.Contains(cursor))
        {
            // A later page of a list continues on the backend whose object the cursor names.
            ids.Add(cursor);
            listCursor = cursor;
        }

        var route = new RequestRoute(kind, ids, RequestClassifier.Creates(request.Method, operation), RequestClassifier.DeletedId(request.Method, operation),
            MergesList: ListMerge.Applies(request.Method, operation, path.PathAndQuery), Cursor: listCursor);
        var lookups = 0;
        foreach (var id in ids)
        {
            // While the store does not answer, a request waits for it once (Proxy:State:TimeoutMilliseconds), not once
            // per id it names: the ids left are taken from this instance's cache, and an unknown one is probed for.
            var cached = _affinity.Cached(id) is not null;
            if (!cached && lookups > 0 && !_affinity.StoreAvailable)
            {
                continue;
            }

            lookups += cached ? 0 : 1;
            if (await _affinity.OwnerAsync(id, aborted).ConfigureAwait(false) is not { } name)
            {
                continue;
            }

            var index = IndexOf(name);
            if (index < 0)
            {
                Log.ObjectOwnerUnknown(_logger, id, name);
                continue;
            }

            return route with { Owner = index, Holder = id };
        }

        return route with { Probing = ids.Count > 0 };
    }

    private int IndexOf(string backend)
    {
        for (var i = 0; i < _options.Backends.Count; i++)
        {
            if (_options.Backends[i].Name.Equals(backend, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Which backends serve <paramref name="deployment"/>; null when every backend may (no maps, or no deployment).</summary>
    public bool[]? ServingBackends(string? deployment)
    {
        if (deployment is null || !_deploymentMaps)
        {
            return null;
        }

        var eligible = new bool[_options.Backends.Count];
        for (var i = 0; i < eligible.Length; i++)
        {
            eligible[i] = _options.Backends[i].DeploymentNameFor(deployment) is not null;
        }

        return eligible;
    }

    public static Cooldown?[] Masked(Cooldown?[] cooldowns, bool[]? eligible)
    {
        if (eligible is not null)
        {
            for (var i = 0; i < cooldowns.Length; i++)
            {
                cooldowns[i] = eligible[i] ? cooldowns[i] : null;
            }
        }

        return cooldowns;
    }

    /// <summary>Where a v1 body's "model" is, to rewrite it for backends with their own name; a spilled body is read once for it.</summary>
    public static async Task<ModelLocation> ModelLocationAsync(RequestBody body, CancellationToken cancellationToken)
    {
        if (body.InMemory)
        {
            return ModelName.Locate(body.AsSequence());
        }

        // Rare (a v1 body over the in-memory threshold whose deployment a backend names differently): read it whole
        // rather than track byte offsets through the windowed scan, which drops long strings.
        var stream = await body.OpenFileAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var bytes = new byte[body.Length];
            await stream.ReadExactlyAsync(bytes, cancellationToken).ConfigureAwait(false);
            return ModelName.Locate(new ReadOnlySequence<byte>(bytes));
        }
    }


    /// <summary>
    /// After a good answer: the object it created, the unknown objects it proved this backend holds, or the object it
    /// deleted. The answer has already reached the caller; a store failure only delays the shared record.
    /// </summary>
    /// <summary>Watches a create answer as it is relayed, so that the new object's record is stored before its last byte.</summary>
    public CreatedObjectWatch Watch(CapturedContent captured, BackendOptions backend, HttpResponseMessage response) =>
        new(captured, response.Content.Headers.ContentType?.MediaType is "text/event-stream", backend.Name, _affinity, _options.StateTimeout, _time);

    public async Task RememberAsync(BackendOptions backend, int attempt, RequestRoute route, CreatedObjectWatch? created)
    {
        if (route.Deleted is { } deleted)
        {
            await _affinity.ForgetAsync(deleted).ConfigureAwait(false);
            return;
        }

        if (route.Probing && !route.Ids[0].Equals(route.Cursor, StringComparison.Ordinal))
        {
            Log.ObjectFound(_logger, route.Ids[0], backend.Name, attempt);
        }

        // Every object a good answer involved is on this backend (a run's assistant lives beside its thread).
        foreach (var id in route.Ids)
        {
            // A list answers 200 whether or not the backend holds the cursor's object: that proves nothing about it.
            if (_affinity.Cached(id) is null && !id.Equals(route.Cursor, StringComparison.Ordinal))
            {
                await _affinity.RecordAsync(id, backend.Name).ConfigureAwait(false);
            }
        }

        // The created object was recorded as its id passed (CreatedObjectWatch): nothing more to write for it here.
        _ = created;
    }
}
