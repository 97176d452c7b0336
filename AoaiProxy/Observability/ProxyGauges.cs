using System.Diagnostics.Metrics;
using AoaiProxy.Configuration;
using AoaiProxy.State;

namespace AoaiProxy.Observability;

/// <summary>
/// The instruments read when an exporter collects rather than recorded per event: cooldowns in force, requests waiting,
/// and the shared state's counters (store operations, lost races, requests routed on local state).
/// </summary>
internal static class ProxyGauges
{
    private static readonly CooldownReason[] Reasons = [CooldownReason.Throttled, CooldownReason.Failed, CooldownReason.TimedOut];

    public static void Register(Meter meter, ProxyOptions options, SharedState state, StoreActivity store, TimeProvider time, IWaitingRequests? waiting = null)
    {
        if (waiting is not null)
        {
            meter.CreateObservableGauge(MetricNames.Instruments.Waiting, () => Waiting(waiting), "{request}",
                "Requests waiting on this instance for a throttled deployment's next window, by deployment.");
        }

        meter.CreateObservableGauge(MetricNames.Instruments.CooldownsActive, () => ActiveCooldowns(options, state, time.GetUtcNow()), "{cooldown}",
            "Cooldowns in force in this instance's view, by backend and reason.");
        meter.CreateObservableCounter(MetricNames.Instruments.StoreOperations, store.Observe, "{operation}", "Shared state store operations by kind and result.");
        meter.CreateObservableCounter(MetricNames.Instruments.StoreLostRaces, () => state.Counters.LostRaces, "{race}",
            "Compare-and-swap writes to the store that lost to another instance.");
        meter.CreateObservableCounter(MetricNames.Instruments.LocalStateRequests, () => state.Counters.LocalClaims, "{request}",
            "Requests routed with a turn of this instance alone (the store gave none in time).");
    }

    private static IEnumerable<Measurement<long>> Waiting(IWaitingRequests waiting)
    {
        foreach (var (deployment, count) in waiting.Waiting())
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>(MetricNames.Tags.Deployment, deployment));
        }
    }

    /// <summary>Every backend and reason, zero when nothing cools, so that a series drops to 0 rather than vanishing.</summary>
    private static IEnumerable<Measurement<long>> ActiveCooldowns(ProxyOptions options, SharedState state, DateTimeOffset now)
    {
        var counts = new Dictionary<(string Backend, string Reason), long>();
        foreach (var backend in options.Backends)
        {
            foreach (var reason in Reasons)
            {
                counts[(backend.Name, MetricNames.CooldownReasons.Of(reason))] = 0;
            }
        }

        foreach (var view in CooldownView.Of(options, state.Cooldowns, now))
        {
            counts[(view.Backend, MetricNames.CooldownReasons.Of(view.Reason))] += 1;
        }

        foreach (var ((backend, reason), count) in counts)
        {
            yield return new Measurement<long>(count, new KeyValuePair<string, object?>(MetricNames.Tags.Backend, backend),
                new KeyValuePair<string, object?>(MetricNames.Tags.Reason, reason));
        }
    }
}
