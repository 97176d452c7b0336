using System.Globalization;
using System.Text.Json;
using AoaiProxy.Configuration;
using AoaiProxy.State;

namespace AoaiProxy.Observability;

/// <summary>
/// This instance's view for <c>GET /proxy/status</c>: the store, the shared cursor, and per backend its configuration,
/// its live cooldowns and this instance's attempts. The names written here are a public contract (README, status
/// page, operators' scripts): <c>instance</c>; <c>store</c> {<c>kind</c>, <c>shared</c>, <c>lastError</c>};
/// <c>cursor</c>; <c>backends</c> [{<c>name</c>, <c>endpoint</c>, <c>priority</c>, <c>weight</c>, <c>cooldowns</c>
/// [{<c>deployment</c>, <c>reason</c>, <c>secondsLeft</c>}], <c>requests</c>, <c>throttled</c>, <c>failures</c>}];
/// <c>waiting</c> [{<c>deployment</c>, <c>requests</c>}] (requests waiting on this instance for a throttled window).
/// </summary>
internal sealed class ProxyStatus(
    ProxyOptions options, SharedState state, StoreActivity store, BackendActivity backends, TimeProvider time, IWaitingRequests? waiting = null)
{
    /// <summary>
    /// Which instance answers: App Service/Functions name each instance in WEBSITE_INSTANCE_ID; elsewhere the machine
    /// name and process id tell instances (and restarts) apart.
    /// </summary>
    public static string Instance { get; } = Environment.GetEnvironmentVariable("WEBSITE_INSTANCE_ID") is { Length: > 0 } id
        ? id
        : string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}-{Environment.ProcessId}");

    /// <summary>Writes the status as one JSON object.</summary>
    public void Write(Utf8JsonWriter json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var now = time.GetUtcNow();
        var counters = state.Counters;
        var healthy = state.StoreHealthy;
        json.WriteStartObject();
        json.WriteString("instance", Instance);
        json.WriteString("time", now);

        json.WriteStartObject("store");
        json.WriteString("kind", store.Kind);
        // Shared: other instances see this instance's turns and cooldowns, i.e. a fleet-wide store that answers.
        json.WriteBoolean("shared", store.Kind == "table" && healthy);
        json.WriteBoolean("healthy", healthy);
        if (store.LastError is { } error)
        {
            json.WriteString("lastError", $"{error.Operation}: {error.Type}: {error.Message}");
            json.WriteString("lastErrorAt", error.At);
        }
        else
        {
            json.WriteNull("lastError");
            json.WriteNull("lastErrorAt");
        }

        json.WriteNumber("sharedClaims", counters.SharedClaims);
        json.WriteNumber("localClaims", counters.LocalClaims);
        json.WriteNumber("waitedClaims", counters.WaitedClaims);
        json.WriteNumber("syncs", counters.Syncs);
        json.WriteNumber("lostRaces", counters.LostRaces);
        json.WriteEndObject();

        json.WriteNumber("cursor", state.StoreCursor);
        json.WriteNumber("minutes", BackendActivity.Minutes);

        var cooldowns = CooldownView.Of(options, state.Cooldowns, now);
        json.WriteStartArray("backends");
        foreach (var backend in options.Backends)
        {
            var counts = backends.Read(backend.Name);
            json.WriteStartObject();
            json.WriteString("name", backend.Name);
            json.WriteString("endpoint", backend.Endpoint.AbsoluteUri);
            json.WriteNumber("priority", backend.Priority);
            json.WriteNumber("weight", backend.Weight);
            var cooling = false;
            json.WriteStartArray("cooldowns");
            foreach (var cooldown in cooldowns)
            {
                if (cooldown.Backend != backend.Name)
                {
                    continue;
                }

                cooling |= cooldown.Deployment is null;
                json.WriteStartObject();
                json.WriteString("deployment", cooldown.Deployment);
                json.WriteString("reason", MetricNames.CooldownReasons.Of(cooldown.Reason));
                json.WriteNumber("secondsLeft", Math.Round(cooldown.Left.TotalSeconds, 1));
                json.WriteEndObject();
            }

            json.WriteEndArray();
            // "cooling" when the whole backend rests; a deployment's cooldown leaves it serving the others.
            json.WriteString("state", cooling ? "cooling" : "serving");
            json.WriteNumber("requests", counts.Requests);
            json.WriteNumber("throttled", counts.Throttled);
            json.WriteNumber("failures", counts.Failures);
            WriteSeries(json, "requestsPerMinute", counts.RequestsPerMinute);
            WriteSeries(json, "throttledPerMinute", counts.ThrottledPerMinute);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteStartArray("waiting");
        foreach (var (deployment, count) in waiting?.Waiting() ?? [])
        {
            json.WriteStartObject();
            json.WriteString("deployment", deployment);
            json.WriteNumber("requests", count);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    private static void WriteSeries(Utf8JsonWriter json, string name, long[] values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteNumberValue(value);
        }

        json.WriteEndArray();
    }
}
