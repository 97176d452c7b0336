using System.Collections.Immutable;
using System.Diagnostics.Metrics;
using AoaiProxy.State;

namespace AoaiProxy.Observability;

/// <summary>
/// What the shared state store did, as seen by <see cref="ObservedStateStore"/>: operations by kind and result (for the
/// <c>aoaiproxy.store.operations</c> counter) and the last error (for <c>/proxy/status</c>). Counts are totals since
/// start; an observable counter reports them.
/// </summary>
internal sealed class StoreActivity(TimeProvider time)
{
    /// <summary>Values of the <c>kind</c> tag.</summary>
    public static class Kinds
    {
        public const string Initialize = "initialize";
        public const string Read = "read";
        public const string WriteCursor = "write_cursor";
        public const string WriteCooldowns = "write_cooldowns";
    }

    /// <summary>Values of the <c>result</c> tag.</summary>
    public static class Results
    {
        public const string Ok = "ok";
        public const string Conflict = "conflict";
        public const string Error = "error";
        public const string Timeout = "timeout";
    }

    private static readonly string[] KindNames = [Kinds.Initialize, Kinds.Read, Kinds.WriteCursor, Kinds.WriteCooldowns];
    private static readonly string[] ResultNames = [Results.Ok, Results.Conflict, Results.Error, Results.Timeout];

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
                        new KeyValuePair<string, object?>(ProxyMetrics.Tags.Kind, KindNames[k]),
                        new KeyValuePair<string, object?>(ProxyMetrics.Tags.Result, ResultNames[r]));
                }
            }
        }
    }
}

/// <summary>A failed store operation: when, which, and what the store said (store messages name no secret).</summary>
internal sealed record StoreError(DateTimeOffset At, string Operation, string Type, string Message);

/// <summary>
/// The configured store with every operation counted into <see cref="StoreActivity"/>. A decorator, so that
/// <see cref="SyncRound"/> (which owns when and why the store is called) stays as it is.
/// </summary>
internal sealed class ObservedStateStore : IStateStore
{
    private const int Initialize = 0, Read = 1, WriteCursor = 2, WriteCooldowns = 3;
    private const int Ok = 0, Conflict = 1, Error = 2, Timeout = 3;

    private readonly IStateStore _inner;
    private readonly StoreActivity _activity;

    public ObservedStateStore(IStateStore inner, StoreActivity activity)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(activity);
        _inner = inner;
        _activity = activity;
        activity.Kind = inner switch
        {
            TableStateStore => "table",
            InMemoryStateStore => "memory",
            _ => inner.GetType().Name,
        };
    }

    public string Description => _inner.Description;

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _inner.InitializeAsync(cancellationToken).ConfigureAwait(false);
            _activity.Count(Initialize, Ok);
        }
        catch (Exception ex)
        {
            Fail(Initialize, StoreActivity.Kinds.Initialize, ex);
            throw;
        }
    }

    public async Task<StoreRead> ReadAsync(CancellationToken cancellationToken)
    {
        try
        {
            var read = await _inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            _activity.Count(Read, Ok);
            return read;
        }
        catch (Exception ex)
        {
            Fail(Read, StoreActivity.Kinds.Read, ex);
            throw;
        }
    }

    public async Task<StoreWrite> WriteCursorAsync(long cursor, string? ifMatchETag, CancellationToken cancellationToken)
    {
        try
        {
            var write = await _inner.WriteCursorAsync(cursor, ifMatchETag, cancellationToken).ConfigureAwait(false);
            _activity.Count(WriteCursor, write.Outcome == WriteOutcome.Written ? Ok : Conflict);
            return write;
        }
        catch (Exception ex)
        {
            Fail(WriteCursor, StoreActivity.Kinds.WriteCursor, ex);
            throw;
        }
    }

    public async Task<StoreWrite> WriteCooldownsAsync(ImmutableDictionary<string, Cooldown> cooldowns, string? ifMatchETag, CancellationToken cancellationToken)
    {
        try
        {
            var write = await _inner.WriteCooldownsAsync(cooldowns, ifMatchETag, cancellationToken).ConfigureAwait(false);
            _activity.Count(WriteCooldowns, write.Outcome == WriteOutcome.Written ? Ok : Conflict);
            return write;
        }
        catch (Exception ex)
        {
            Fail(WriteCooldowns, StoreActivity.Kinds.WriteCooldowns, ex);
            throw;
        }
    }

    private void Fail(int kind, string name, Exception ex)
    {
        // A cancelled operation is the state budget running out (or the host stopping): a timeout, not an error.
        var timedOut = ex is OperationCanceledException;
        _activity.Count(kind, timedOut ? Timeout : Error);
        _activity.Failed(name, timedOut ? new TimeoutException("no answer within the state budget (Proxy:State:TimeoutMilliseconds)") : ex);
    }
}
