using System.Collections.Concurrent;
using AoaiProxy.Configuration;
using AoaiProxy.Logging;
using AoaiProxy.State;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Affinity;

/// <summary>
/// Which backend holds which object (file, batch, thread, stored response...), shared through the store and cached
/// per instance. A cached id costs no store operation; an id this instance has never seen costs one lookup (bounded by
/// Proxy:State:TimeoutMilliseconds). Writes go to the local map at once and to the store in order, per id; while the
/// store fails they wait and are written when it answers again, so a store failure never fails a request.
/// </summary>
internal sealed class ObjectAffinity : IDisposable
{
    /// <summary>How often writes that the store refused are tried again, and expired records swept from the cache.</summary>
    internal static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(5);

    private readonly IObjectStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger<ObjectAffinity> _logger;
    private readonly TimeSpan _expiry;
    private readonly TimeSpan _budget;
    private readonly ConcurrentDictionary<string, ObjectRecord> _local = new(StringComparer.Ordinal);

    // Writes not yet in the store, by id: a record to put, or null for a delete. The newest write of an id wins.
    private readonly ConcurrentDictionary<string, ObjectRecord?> _pending = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _flushing = new(1, 1);
    private readonly ITimer _retry;
    private int _unavailable;

    public ObjectAffinity(ProxyOptions options, IObjectStore store, TimeProvider time, ILogger<ObjectAffinity> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        _time = time;
        _logger = logger;
        _expiry = options.AffinityExpiry;
        _budget = options.StateTimeout;
        _retry = time.CreateTimer(_ => _ = RetryAsync(), null, RetryInterval, RetryInterval);
    }

    /// <summary>Writes waiting for the store (for tests and status).</summary>
    internal int PendingWrites => _pending.Count;

    /// <summary>False since a lookup or write found the store not answering, until one succeeds again.</summary>
    public bool StoreAvailable => Volatile.Read(ref _unavailable) == 0;

    /// <summary>The backend holding <paramref name="id"/> if this instance has it cached; no I/O.</summary>
    public string? Cached(string id) =>
        _local.TryGetValue(id, out var record) && record.Expires > _time.GetUtcNow() ? record.Backend : null;

    /// <summary>
    /// The backend holding <paramref name="id"/>: from the cache, else from the store (one lookup, cached when found).
    /// Null when nobody recorded it or the store did not answer in time.
    /// </summary>
    public async ValueTask<string?> OwnerAsync(string id, CancellationToken cancellationToken)
    {
        if (Cached(id) is { } cached)
        {
            return cached;
        }

        if (_pending.ContainsKey(id))
        {
            // Forgotten here and not yet deleted from the store: the store's copy is stale.
            return null;
        }

        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(_budget);
        try
        {
            var record = await _store.GetAsync(id, budget.Token).ConfigureAwait(false);
            Available();
            if (record is { } r && r.Expires > _time.GetUtcNow())
            {
                _local[id] = r;
                return r.Backend;
            }

            return null;
        }
        catch (Exception ex) when (ex is StateStoreException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            Unavailable(ex);
            return null;
        }
    }

    /// <summary>Records that <paramref name="backend"/> holds <paramref name="id"/>: here at once, in the store within the budget or later.</summary>
    public Task RecordAsync(string id, string backend)
    {
        var record = new ObjectRecord(backend, _time.GetUtcNow() + _expiry);
        _local[id] = record;
        _pending[id] = record;
        Log.ObjectRecorded(_logger, id, backend);
        return FlushAsync();
    }

    /// <summary>Forgets <paramref name="id"/> (deleted on its backend): here at once, in the store within the budget or later.</summary>
    public Task ForgetAsync(string id)
    {
        _local.TryRemove(id, out _);
        _pending[id] = null;
        Log.ObjectForgotten(_logger, id);
        return FlushAsync();
    }

    public void Dispose()
    {
        _retry.Dispose();
        _flushing.Dispose();
    }

    private async Task RetryAsync()
    {
        var now = _time.GetUtcNow();
        foreach (var (id, record) in _local)
        {
            if (record.Expires <= now)
            {
                _local.TryRemove(new KeyValuePair<string, ObjectRecord>(id, record));
            }
        }

        if (!_pending.IsEmpty)
        {
            await FlushAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Writes the pending records, one writer at a time so that the writes of one id reach the store in order. Stops at
    /// the first failure: the store is down, the rest waits for the retry timer.
    /// </summary>
    private async Task FlushAsync()
    {
        using (var wait = new CancellationTokenSource(_budget, _time))
        {
            try
            {
                await _flushing.WaitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Another writer is at it and will take this record too, or the retry timer will.
                return;
            }
        }

        try
        {
            foreach (var (id, record) in _pending)
            {
                using var budget = new CancellationTokenSource(_budget, _time);
                try
                {
                    if (record is { } r)
                    {
                        await _store.PutAsync(id, r, budget.Token).ConfigureAwait(false);
                    }
                    else
                    {
                        await _store.DeleteAsync(id, budget.Token).ConfigureAwait(false);
                    }
                }
                catch (Exception ex) when (ex is StateStoreException or OperationCanceledException)
                {
                    Unavailable(ex);
                    return;
                }

                // Only if nothing newer was queued for the id meanwhile.
                _pending.TryRemove(new KeyValuePair<string, ObjectRecord?>(id, record));
                Available();
            }
        }
        catch (ObjectDisposedException)
        {
            // Shutting down.
        }
        finally
        {
            try
            {
                _flushing.Release();
            }
            catch (ObjectDisposedException)
            {
                // Disposed while writing: nothing left to release.
            }
        }
    }

    private void Unavailable(Exception ex)
    {
        if (Interlocked.Exchange(ref _unavailable, 1) == 0)
        {
            Log.ObjectStoreUnavailable(_logger, _store.Description, ex.GetType().Name, ex.Message);
        }
    }

    private void Available()
    {
        if (Interlocked.Exchange(ref _unavailable, 0) == 1)
        {
            Log.ObjectStoreRecovered(_logger, _store.Description, _pending.Count);
        }
    }
}
