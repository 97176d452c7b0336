using AoaiProxy.Configuration;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.State;

/// <summary>
/// The shared state of one instance over one store, put together: the view requests read, the sync round, the outage
/// tracking and the hosted service that runs the rounds. The engine's registration and the simulations build it here,
/// so they run the same parts wired the same way.
/// </summary>
/// <param name="View">What requests read (registered as the <see cref="SharedState"/> singleton).</param>
/// <param name="Sync">The background loop (registered as a hosted service); start it to keep the view current.</param>
/// <param name="Round">One sync with the store.</param>
/// <param name="Outage">Whether the store is reachable.</param>
/// <param name="Signals">What claims and the loop tell each other.</param>
internal sealed record SharedStateParts(SharedState View, SharedStateSync Sync, SyncRound Round, StoreOutage Outage, SyncSignals Signals)
{
    /// <param name="store">Where the state is shared.</param>
    /// <param name="options">The state budget and sync interval.</param>
    /// <param name="time">The clock for intervals, budgets and deadlines.</param>
    /// <param name="logger">Store outages and recoveries (the category of these lines is <see cref="SharedState"/>).</param>
    /// <param name="jitter">Spreads the instances' sync times; seeded in simulations (default: <see cref="Random.Shared"/>).</param>
    public static SharedStateParts Create(IStateStore store, ProxyOptions options, TimeProvider time, ILogger<SharedState> logger, Random? jitter = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        var tally = new SharedStateTally();
        var signals = new SyncSignals(time);
        var turns = new SharedTurns(options, time);
        var cooldowns = new SharedCooldowns(time);

        // The order the items write in: cooldowns are published before turns are claimed.
        ISharedItem[] items = [cooldowns, turns];
        var round = new SyncRound(store, items, signals, tally, options, time);
        var outage = new StoreOutage(store.Description, items, options, time, logger);
        var view = new SharedState(turns, cooldowns, signals, outage, tally, options, time);
        var sync = new SharedStateSync(round, outage, signals, options, time, jitter ?? Random.Shared);
        return new SharedStateParts(view, sync, round, outage, signals);
    }
}
