using System.Collections.Immutable;
using AoaiProxy.State;

namespace AoaiProxy.Observability;

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
            Fail(Initialize, MetricNames.StoreKinds.Initialize, ex);
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
            Fail(Read, MetricNames.StoreKinds.Read, ex);
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
            Fail(WriteCursor, MetricNames.StoreKinds.WriteCursor, ex);
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
            Fail(WriteCooldowns, MetricNames.StoreKinds.WriteCooldowns, ex);
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
