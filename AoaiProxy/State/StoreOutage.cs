using AoaiProxy.Configuration;
using AoaiProxy.Logging;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.State;

/// <summary>
/// Whether the store is reachable, from the outcome of each sync round. The store never takes the proxy down: a failed
/// or slow round puts the instance on local state (turns left in its blocks, then turns of its own; its own
/// cooldowns) and warns once; the store is then left alone until a probe (a round every <see cref="ProbeInterval"/>,
/// which creates the table again) succeeds, which logs the recovery. Called by one loop; read by requests.
/// </summary>
internal sealed class StoreOutage
{
    /// <summary>How long the store is left alone after a failure before the next probe.</summary>
    internal static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(5);

    private readonly string _store;
    private readonly ISharedItem[] _items;
    private readonly TimeProvider _time;
    private readonly long _budgetMs;
    private readonly ILogger _logger;
    private volatile bool _healthy = true;

    /// <param name="store">Where the state lives, for logs.</param>
    /// <param name="items">The shared items, pruned at every failed round (no read prunes them meanwhile).</param>
    /// <param name="options">The state budget, for the time-out warning.</param>
    /// <param name="time">The clock of the pruning.</param>
    /// <param name="logger">Outages, recoveries and the start-up step.</param>
    public StoreOutage(string store, IReadOnlyList<ISharedItem> items, ProxyOptions options, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(items);
        ArgumentNullException.ThrowIfNull(options);
        _store = store;
        _items = [.. items];
        _time = time;
        _budgetMs = (long)options.StateTimeout.TotalMilliseconds;
        _logger = logger;
    }

    /// <summary>True while the last round succeeded (or none has failed yet).</summary>
    public bool Healthy => _healthy;

    /// <summary>True from a failed round until a round succeeds; the loop then only probes.</summary>
    public bool InOutage { get; private set; }

    /// <summary>Takes in how a round went: logs the changes (once per outage), keeps the healthy flag, prunes meanwhile.</summary>
    public void Record(SyncOutcome outcome)
    {
        if (outcome.Initialized && !InOutage)
        {
            Log.StateStoreReady(_logger, _store);
        }

        if (outcome.Result == SyncResult.Synced)
        {
            if (InOutage)
            {
                InOutage = false;
                Log.StateStoreRecovered(_logger, _store);
            }

            // Last: whoever watches Healthy sees the log line of the change already written.
            _healthy = true;
            return;
        }

        if (!InOutage)
        {
            InOutage = true;
            Warn(outcome);
        }

        _healthy = false;
        var now = _time.GetUtcNow();
        foreach (var item in _items)
        {
            item.Prune(now);
        }
    }

    private void Warn(SyncOutcome outcome)
    {
        switch (outcome.Result)
        {
            case SyncResult.InitializationFailed:
                // At start-up this is the one warning; the probe retries every ProbeInterval.
                Log.StateStoreInitializationFailed(_logger, _store, ErrorType(outcome), ErrorMessage(outcome));
                break;
            case SyncResult.TimedOut:
                Log.StateStoreTimedOut(_logger, _store, _budgetMs);
                break;
            default:
                Log.StateStoreUnavailable(_logger, _store, ErrorType(outcome), ErrorMessage(outcome));
                break;
        }
    }

    private static string ErrorType(SyncOutcome outcome) => outcome.Error?.GetType().Name ?? nameof(SyncResult.StoreFailed);

    private static string ErrorMessage(SyncOutcome outcome) => outcome.Error?.Message ?? string.Empty;
}
