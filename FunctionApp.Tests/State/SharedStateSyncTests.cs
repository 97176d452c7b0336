using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.DependencyInjection;
using static AoaiProxy.Tests.TestSupport.SharedStateHarness;

namespace AoaiProxy.Tests.State;

/// <summary>
/// <see cref="SharedStateSync"/>, the loop's timing, on a manual clock: when the next round comes (interval with jitter,
/// wake-ups, idling, probing during an outage) and how the loop stops.
/// </summary>
public sealed class SharedStateSyncTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(1);

    [Theory]
    [InlineData(0.0, 720)]
    [InlineData(0.5, 800)]
    [InlineData(0.75, 840)]
    [InlineData(0.999, 880)]
    public async Task ExecuteAsync_WithTraffic_NextRoundAfterTheIntervalWithinTenPercent(double random, int expectedMs)
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store, jitter: new FixedRandom(random));
        await instance.StartSyncedAsync();
        var reads = store.Reads;

        await instance.AdvanceAsync(TimeSpan.FromMilliseconds(expectedMs) - Tick);
        Assert.Equal(reads, store.Reads);
        await instance.AdvanceAsync(Tick);
        Assert.Equal(reads + 1, store.Reads);
    }

    [Fact]
    public async Task ExecuteAsync_Woken_NextRoundAtOnce()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var cooldownWrites = store.CooldownWrites;

        instance.State.RecordCooldown("a/*", new Cooldown(instance.Clock.GetUtcNow().AddMinutes(1), CooldownReason.Throttled));
        await instance.UntilWaitingAsync();

        Assert.Equal(cooldownWrites + 1, store.CooldownWrites);
    }

    [Fact]
    public async Task ExecuteAsync_NoClaimForIdleAfter_SleepsWithoutStoreTrafficUntilAClaimWakesIt()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();

        // The harness was created a moment ago, which counts as the last claim.
        await instance.AdvanceAsync(SharedStateSync.IdleAfter - OneSync);
        Assert.False(instance.Parts.Signals.Sleeping);
        await instance.IdleAsync();
        var operations = store.Operations;
        await instance.AdvanceAsync(TimeSpan.FromHours(1));
        Assert.Equal(operations, store.Operations);

        await instance.State.ClaimAsync(CancellationToken.None).AsTask().WaitAsync(Patience);

        Assert.False(instance.Parts.Signals.Sleeping);
        Assert.True(store.Reads > 0 && store.Operations > operations);
    }

    [Fact]
    public async Task ExecuteAsync_InOutage_OnlyProbesEveryProbeIntervalWhateverWakesIt()
    {
        var store = new ControllableStore { Mode = StoreMode.Failing };
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        Assert.True(instance.Parts.Outage.InOutage);
        var operations = store.Operations;

        instance.State.RecordCooldown("a/*", new Cooldown(instance.Clock.GetUtcNow().AddMinutes(1), CooldownReason.Throttled));
        await instance.State.ClaimAsync(CancellationToken.None);
        await instance.AdvanceAsync(StoreOutage.ProbeInterval - Tick);
        Assert.Equal(operations, store.Operations);
        await instance.AdvanceAsync(Tick);

        Assert.Equal(operations + 1, store.Operations);
        Assert.Equal(2, store.Initializations);
    }

    [Fact]
    public async Task StoppedAsync_ClaimWaitingForAHangingStore_StopsTheLoopAndReleasesTheClaim()
    {
        var store = new ControllableStore { Mode = StoreMode.Hanging };
        await using var instance = new SharedStateHarness(store);
        var initialization = store.NextCall;
        await instance.StartAsync();
        await initialization.WaitAsync(Patience);
        var pending = instance.State.ClaimAsync(CancellationToken.None).AsTask();

        await instance.Sync.StoppedAsync(CancellationToken.None).WaitAsync(Patience);
        var claim = await pending.WaitAsync(Patience);

        Assert.False(claim.Shared);
        Assert.Equal(TaskStatus.RanToCompletion, instance.Sync.ExecuteTask!.Status);

        // Stopped, the loop no longer syncs, and claims without a view go ahead without waiting.
        var later = instance.State.ClaimAsync(CancellationToken.None);
        Assert.True(later.IsCompleted);
        Assert.Equal(1, instance.State.Counters.WaitedClaims);
    }

    [Fact]
    public async Task StoppedAsync_StoreFailingAsItIsCancelled_StopsCleanlyAndReleasesTheWaitingClaim()
    {
        var store = new ControllableStore { Mode = StoreMode.HangingThenFailing };
        var logs = new LogCapture();
        await using var instance = new SharedStateHarness(store, logs: logs);
        var initialization = store.NextCall;
        await instance.StartAsync();
        var pending = instance.State.ClaimAsync(CancellationToken.None).AsTask();
        await initialization.WaitAsync(Patience);

        await instance.Sync.StoppedAsync(CancellationToken.None).WaitAsync(Patience);
        var claim = await pending.WaitAsync(Patience);

        Assert.False(claim.Shared);
        Assert.Equal(TaskStatus.RanToCompletion, instance.Sync.ExecuteTask!.Status);
        // The error of a call cancelled by the stop is no outage.
        Assert.True(instance.State.StoreHealthy);
        Assert.Empty(logs.WithEventId(13));
    }

    [Fact]
    public async Task StopAsync_HostStillStoppingItsOtherServices_KeepsSyncing()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var cooldownWrites = store.CooldownWrites;

        // A host stops its services in reverse order; the web server may come after this one, still draining requests.
        await instance.Sync.StopAsync(CancellationToken.None);
        instance.State.RecordCooldown("a/*", new Cooldown(instance.Clock.GetUtcNow().AddMinutes(1), CooldownReason.Throttled));
        await instance.UntilWaitingAsync();

        Assert.False(instance.Sync.ExecuteTask!.IsCompleted);
        Assert.Equal(cooldownWrites + 1, store.CooldownWrites);
    }

    [Fact]
    public async Task StartAsync_HostStartingItsServices_LoopAlreadyStartedBefore()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        var initialization = store.NextCall;

        await instance.Sync.StartingAsync(CancellationToken.None);
        await initialization.WaitAsync(Patience);
        var started = instance.Sync.ExecuteTask;
        await instance.Sync.StartAsync(CancellationToken.None);

        Assert.Same(started, instance.Sync.ExecuteTask);
        Assert.Equal(1, store.Initializations);
    }

    [Fact]
    public async Task StoppedAsync_HostStopped_TheLoopEndsCleanly()
    {
        await using var backends = await FakeBackends.StartAsync("a");
        var proxy = await ProxyTestHost.StartAsync(backends.All);
        var sync = proxy.Services.GetRequiredService<SharedStateParts>().Sync;
        Assert.False(sync.ExecuteTask!.IsCompleted);

        await proxy.DisposeAsync();

        Assert.Equal(TaskStatus.RanToCompletion, sync.ExecuteTask.Status);
    }

    /// <summary>A source whose every draw is the same value, so the jittered interval is known.</summary>
    private sealed class FixedRandom(double value) : Random
    {
        public override double NextDouble() => value;
    }
}
