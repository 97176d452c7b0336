using System.Collections.Immutable;
using AoaiProxy.Observability;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.Time.Testing;

namespace AoaiProxy.Tests.Observability;

public sealed class ObservedStateStoreTests
{
    [Fact]
    public async Task WriteCursorAsync_LostRace_CountedAsConflict()
    {
        var activity = new StoreActivity(new FakeTimeProvider());
        var store = new ObservedStateStore(new InMemoryStateStore(), activity);

        await store.WriteCursorAsync(5, null, CancellationToken.None);
        await store.WriteCursorAsync(9, null, CancellationToken.None);

        var counts = Counts(activity);
        Assert.Equal(1, counts[(MetricNames.StoreKinds.WriteCursor, MetricNames.StoreResults.Ok)]);
        Assert.Equal(1, counts[(MetricNames.StoreKinds.WriteCursor, MetricNames.StoreResults.Conflict)]);
        Assert.Equal("memory", activity.Kind);
        Assert.Null(activity.LastError);
    }

    [Fact]
    public async Task ReadAsync_StoreFails_CountedAsErrorAndRemembered()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var activity = new StoreActivity(clock);
        var store = new ObservedStateStore(new ControllableStore { Mode = StoreMode.Failing }, activity);

        await Assert.ThrowsAnyAsync<Exception>(() => store.ReadAsync(CancellationToken.None));

        Assert.Equal(1, Counts(activity)[(MetricNames.StoreKinds.Read, MetricNames.StoreResults.Error)]);
        var error = Assert.IsType<StoreError>(activity.LastError);
        Assert.Equal((clock.GetUtcNow(), MetricNames.StoreKinds.Read), (error.At, error.Operation));
    }

    [Fact]
    public async Task WriteCooldownsAsync_Cancelled_CountedAsTimeout()
    {
        var activity = new StoreActivity(new FakeTimeProvider());
        var store = new ObservedStateStore(new ControllableStore { Mode = StoreMode.Hanging }, activity);
        using var budget = new CancellationTokenSource();
        var write = store.WriteCooldownsAsync(ImmutableDictionary<string, Cooldown>.Empty, null, budget.Token);

        await budget.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write);

        Assert.Equal(1, Counts(activity)[(MetricNames.StoreKinds.WriteCooldowns, MetricNames.StoreResults.Timeout)]);
        Assert.Equal(nameof(TimeoutException), activity.LastError?.Type);
    }

    private static Dictionary<(string Kind, string Result), long> Counts(StoreActivity activity) =>
        activity.Observe().ToDictionary(
            m => ((string)m.Tags[0].Value!, (string)m.Tags[1].Value!),
            m => m.Value);
}
