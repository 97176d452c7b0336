using System.Diagnostics.Metrics;
using AoaiProxy.State;

namespace AoaiProxy.Observability;

/// <summary>
/// What the shared state store did, as seen by <see cref="ObservedStateStore"/>: operations by kind and result (for the
/// <see cref="MetricNames.Instruments.StoreOperations"/> counter) and the last error (for <c>/proxy/status</c>). Counts
/// are totals since start; an observable counter reports them.
/// </summary>
internal sealed class StoreActivity(TimeProvider time)
{
    // Indexed by ObservedStateStore's kind and result numbers.
    private static readonly string[] KindNames = [MetricNames.StoreKinds.Initialize, MetricNames.StoreKinds.Read, MetricNames.StoreKinds.WriteCursor, MetricNames.StoreKinds.WriteCooldowns];
    private static readonly string[] ResultNames = [MetricNames.StoreResults.Ok, MetricNames.StoreResults.Conflict, MetricNames.StoreResults.Error, MetricNames.StoreResults.Timeout];

    private readonly long[] _counts = new long[KindNames.Length * ResultNames.Length];
    private StoreError? _lastError;

    /// <summary>The last failed operation (null: none failed since start).</summary>
    public StoreError? LastError => Volatile.Read(ref _lastError);

    /// <summary>Which store (table, memory) the proxy uses; set by <see cref="ObservedStateStore"/>.</summary>
    public string Kind { get; internal set; } = "memory";

    internal void Count(int kind, int result) => Interlocked.Increment(ref _counts[(kind * ResultNames.Length) + result]);

    internal void Failed(string kind, Exception error) =>
        Volatile.Write(ref _lastError, new StoreError(time.GetUtcNow(), kind, error.GetType().Name, error.Message));

    internal IEnumerable<Measurement<long>> Observe()
    {
        for (var k = 0; k < KindNames.Length; k++)
        {
            for (var r = 0; r < ResultNames.Length; r++)
            {
                var count = Interlocked.Read(ref _counts[(k * ResultNames.Length) + r]);
                if (count > 0)
                {
                    yield return new Measurement<long>(count,
                        new KeyValuePair<string, object?>(MetricNames.Tags.Kind, KindNames[k]),
                        new KeyValuePair<string, object?>(MetricNames.Tags.Result, ResultNames[r]));
                }
            }
        }
    }
}

/// <summary>A failed store operation: when, which, and what the store said (store messages name no secret).</summary>
internal sealed record StoreError(DateTimeOffset At, string Operation, string Type, string Message);
