using System.Collections.Concurrent;
using System.Collections.Immutable;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using static AoaiProxy.Tests.TestSupport.SharedStateHarness;

namespace AoaiProxy.Tests.State;

/// <summary>
/// <see cref="SharedState"/>, the view requests read, kept current by its background loop on a manual clock: the clock
/// moves only once the loop waits, and each step waits until the loop has done what it made due.
/// </summary>
public sealed class SharedStateTests
{
    [Fact]
    public async Task ClaimAsync_TwoInstancesManyClaims_EveryTurnSharedAndDistinct()
    {
        var shared = new InMemoryStateStore();
        await using var one = new SharedStateHarness(shared);
        await using var two = new SharedStateHarness(shared, one.Clock);
        await one.StartSyncedAsync();
        await two.StartSyncedAsync();

        var turns = new ConcurrentBag<long>();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; i < 250; i++)
            {
                var claim = await (worker % 2 == 0 ? one : two).State.ClaimAsync(CancellationToken.None);
                Assert.True(claim.Shared);
                turns.Add(claim.Turn);
            }
        }))).WaitAsync(Patience);

        Assert.Equal(1000, turns.Distinct().Count());
        Assert.Equal(0, one.State.Counters.LocalClaims + two.State.Counters.LocalClaims);
    }

    [Fact]
    public async Task ClaimAsync_SteadyState_TouchesNoStoreAndNeverWaits()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var state = instance.State;
        var operations = store.Operations;
        var waited = state.Counters.WaitedClaims;

        var turns = new List<long>();
        for (var i = 0; i < TurnBlockPolicy.MinBlock - TurnBlockPolicy.MinLead; i++)
        {
            var claim = state.ClaimAsync(CancellationToken.None);
            Assert.True(claim.IsCompletedSuccessfully);
            turns.Add((await claim).Turn);
        }

        Assert.Equal(operations, store.Operations);
        Assert.Equal(waited, state.Counters.WaitedClaims);
        Assert.Equal(Enumerable.Range(0, turns.Count).Select(i => turns[0] + i), turns);
    }

    [Fact]
    public async Task ClaimAsync_FromAClaimedBlock_AllocatesNothing()
    {
        await using var instance = new SharedStateHarness(new InMemoryStateStore());
        await instance.StartSyncedAsync();
        using var requestAborted = new CancellationTokenSource();
        // The first claim takes JIT and first-use work out of the measurement.
        ClaimNow(instance.State, requestAborted.Token);

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < TurnBlockPolicy.MinLead; i++)
        {
            ClaimNow(instance.State, requestAborted.Token);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public async Task ClaimAsync_TurnsRunLow_NextBlockClaimedInTheBackgroundWithoutWaiting()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var state = instance.State;
        var cursorWrites = store.CursorWrites;

        var turns = new List<long>();
        for (var i = 0; i < TurnBlockPolicy.MinBlock; i++)
        {
            turns.Add((await state.ClaimAsync(CancellationToken.None)).Turn);
        }

        // The claims that ran the block low woke the loop; no clock moved.
        await instance.UntilWaitingAsync();
        Assert.True(store.CursorWrites > cursorWrites);
        Assert.True(state.Counters.Syncs > 1);
        for (var i = 0; i < TurnBlockPolicy.MinBlock; i++)
        {
            var claim = await state.ClaimAsync(CancellationToken.None);
            Assert.True(claim.Shared);
            turns.Add(claim.Turn);
        }

        Assert.Equal(0, state.Counters.WaitedClaims);
        Assert.Equal(2 * TurnBlockPolicy.MinBlock, turns.Distinct().Count());
    }

    [Fact]
    public async Task RecordCooldown_OnOneInstance_SeenByAnotherAfterOneSyncInterval()
    {
        var shared = new InMemoryStateStore();
        await using var one = new SharedStateHarness(shared);
        await using var two = new SharedStateHarness(shared, one.Clock);
        await one.StartSyncedAsync();
        await two.StartSyncedAsync();
        var until = one.Clock.GetUtcNow() + TimeSpan.FromSeconds(30);

        one.State.RecordCooldown("a/gpt-4o", new Cooldown(until, CooldownReason.Throttled));
        await one.UntilWaitingAsync();
        Assert.True((await shared.ReadAsync(CancellationToken.None)).Cooldowns.ContainsKey("a/gpt-4o"));
        Assert.False(two.State.Cooldowns.ContainsKey("a/gpt-4o"));
        var syncs = two.State.Counters.Syncs;
        await two.AdvanceAsync(OneSync);

        Assert.True(two.State.Counters.Syncs > syncs);
        Assert.Equal(until, two.State.Cooldowns["a/gpt-4o"].Until);
        Assert.Equal(until, (await two.State.ClaimAsync(CancellationToken.None)).Cooldowns["a/gpt-4o"].Until);
    }

    [Fact]
    public async Task RecordCooldown_ShorterThanRecorded_KeepsLaterDeadline()
    {
        await using var instance = new SharedStateHarness(new InMemoryStateStore());
        var state = instance.State;
        var now = instance.Clock.GetUtcNow();

        state.RecordCooldown("a/*", new Cooldown(now.AddSeconds(20), CooldownReason.Throttled));
        state.RecordCooldown("a/*", new Cooldown(now.AddSeconds(5), CooldownReason.Failed));

        Assert.Equal(now.AddSeconds(20), state.Cooldowns["a/*"].Until);
        Assert.Equal(CooldownReason.Throttled, state.Cooldowns["a/*"].Reason);
    }

    [Fact]
    public async Task RecordCooldown_ShorterOneInTheStore_ReplacedByTheLongerLocalOne()
    {
        var shared = new InMemoryStateStore();
        await using var instance = new SharedStateHarness(shared);
        await instance.StartSyncedAsync();
        var now = instance.Clock.GetUtcNow();
        await shared.WriteCooldownsAsync(
            ImmutableDictionary<string, Cooldown>.Empty.Add("a/*", new Cooldown(now.AddSeconds(5), CooldownReason.Failed)),
            (await shared.ReadAsync(CancellationToken.None)).CooldownsETag, CancellationToken.None);

        instance.State.RecordCooldown("a/*", new Cooldown(now.AddSeconds(20), CooldownReason.Throttled));
        await instance.UntilWaitingAsync();

        Assert.Equal(now.AddSeconds(20), (await shared.ReadAsync(CancellationToken.None)).Cooldowns["a/*"].Until);
    }

    [Fact]
    public async Task ClaimAsync_StoreFailing_ServesWithoutWaitingWarnsOnceAndRecovers()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var state = instance.State;
        var now = instance.Clock.GetUtcNow();

        store.Mode = StoreMode.Failing;
        state.RecordCooldown("a/*", new Cooldown(now.AddMinutes(1), CooldownReason.Throttled));
        await instance.UntilWaitingAsync();
        Assert.False(state.StoreHealthy);
        var during = new List<TurnClaim>();
        for (var i = 0; i < 2 * TurnBlockPolicy.MinBlock; i++)
        {
            var claim = state.ClaimAsync(CancellationToken.None);
            Assert.True(claim.IsCompleted);
            during.Add(await claim);
        }

        // The turns left in the claimed block are still everyone's; then the instance goes on with turns of its own.
        Assert.Contains(during, c => c.Shared);
        Assert.Contains(during, c => !c.Shared);
        Assert.Equal(Enumerable.Range(0, during.Count).Select(i => during[0].Turn + i), during.Select(c => c.Turn));
        Assert.Single(instance.Logs.WithEventId(9));

        store.Mode = StoreMode.Healthy;
        await instance.AdvanceAsync(StoreOutage.ProbeInterval);
        Assert.True(state.StoreHealthy);
        Assert.Single(instance.Logs.WithEventId(9));
        Assert.Single(instance.Logs.WithEventId(11));

        // The cooldown recorded during the outage is published once the store is back.
        Assert.True((await store.Inner.ReadAsync(CancellationToken.None)).Cooldowns.ContainsKey("a/*"));
    }

    [Fact]
    public async Task RecordCooldown_ManyKeysDuringAnOutage_ExpiredOnesLeaveTheLocalView()
    {
        // Deployment names come from callers, so the keys are as many as they send while a backend throttles.
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var state = instance.State;
        store.Mode = StoreMode.Failing;
        await instance.AdvanceAsync(OneSync);
        Assert.False(state.StoreHealthy);

        for (var i = 0; i < 1000; i++)
        {
            state.RecordCooldown($"a/deployment{i}", new Cooldown(instance.Clock.GetUtcNow() + TimeSpan.FromSeconds(1), CooldownReason.Throttled));
        }

        var initializations = store.Initializations;
        await instance.AdvanceAsync(StoreOutage.ProbeInterval);

        Assert.True(store.Initializations > initializations);
        Assert.True(state.Cooldowns.IsEmpty);
        Assert.False(state.StoreHealthy);
    }

    [Fact]
    public async Task StoreHealthy_StoreHanging_FalseAfterTheBudgetAndClaimsDoNotWait()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var state = instance.State;

        store.Mode = StoreMode.Hanging;
        var reads = store.Reads;
        var read = store.NextCall;
        await instance.UntilWaitingAsync();
        instance.Clock.Advance(OneSync);
        await read.WaitAsync(Patience);
        Assert.True(store.Reads > reads);
        instance.Clock.Advance(ProxyOptions.DefaultStateTimeout);
        await instance.UntilWaitingAsync();
        Assert.False(state.StoreHealthy);

        Assert.Single(instance.Logs.WithEventId(10));
        var claim = state.ClaimAsync(CancellationToken.None);
        Assert.True(claim.IsCompleted);

        store.Mode = StoreMode.Healthy;
        await instance.AdvanceAsync(StoreOutage.ProbeInterval);
        Assert.True(state.StoreHealthy);
        Assert.Single(instance.Logs.WithEventId(11));
    }

    [Fact]
    public async Task StoreHealthy_TableVanishedDuringOutage_TrueOnceTheProbeRecreatedIt()
    {
        var forgetful = new ForgetfulStore();
        var store = new ControllableStore(forgetful);
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var initializations = store.Initializations;

        forgetful.Forget();
        await instance.AdvanceAsync(OneSync);
        Assert.False(instance.State.StoreHealthy);
        await instance.AdvanceAsync(StoreOutage.ProbeInterval);
        Assert.True(instance.State.StoreHealthy);

        Assert.True(forgetful.Initialized);
        Assert.Equal(initializations + 1, store.Initializations);
    }

    [Fact]
    public async Task ClaimAsync_InitializationHanging_OnlyTheFirstClaimWaitsTheBudget()
    {
        var store = new ControllableStore { Mode = StoreMode.Hanging };
        await using var instance = new SharedStateHarness(store);
        var initialization = store.NextCall;
        await instance.StartAsync();
        await initialization.WaitAsync(Patience);
        Assert.True(store.Initializations > 0);
        var state = instance.State;

        // The claim has set its budget's timer by the time ClaimAsync returns.
        var first = state.ClaimAsync(CancellationToken.None).AsTask();
        instance.Clock.Advance(ProxyOptions.DefaultStateTimeout);
        Assert.False((await first.WaitAsync(Patience)).Shared);

        // The table creation may hang for up to InitializeBudget (a first managed-identity token can take seconds):
        // the claims meanwhile go ahead on local state instead of each waiting the budget for the same stuck sync.
        for (var i = 0; i < 3; i++)
        {
            var claim = state.ClaimAsync(CancellationToken.None);
            Assert.True(claim.IsCompleted);
            Assert.False((await claim).Shared);
        }

        Assert.Equal(1, state.Counters.WaitedClaims);
    }

    [Fact]
    public async Task ClaimAsync_InitializationFailing_ServedLocallyAfterTheBudgetWithOneWarning()
    {
        var store = new ControllableStore { Mode = StoreMode.Failing };
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var state = instance.State;
        Assert.False(state.StoreHealthy);

        var claims = new List<TurnClaim>();
        for (var i = 0; i < 3; i++)
        {
            var claim = state.ClaimAsync(CancellationToken.None);
            Assert.True(claim.IsCompleted);
            claims.Add(await claim);
        }

        Assert.All(claims, c => Assert.False(c.Shared));
        await instance.AdvanceAsync(StoreOutage.ProbeInterval);
        await instance.AdvanceAsync(StoreOutage.ProbeInterval);
        Assert.Equal(3, store.Initializations);
        Assert.Single(instance.Logs.WithEventId(13));
        Assert.Empty(instance.Logs.WithEventId(9));
    }

    [Fact]
    public async Task ClaimAsync_AfterIdling_NoStoreTrafficWhileIdleThenOneWaitForAFreshView()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var state = instance.State;

        // Past the idle time the loop stops syncing; a long quiet period costs no store operation.
        await instance.IdleAsync();
        var operations = store.Operations;
        for (var i = 0; i < 20; i++)
        {
            await instance.AdvanceAsync(TimeSpan.FromMinutes(1));
        }

        Assert.Equal(operations, store.Operations);
        Assert.True(instance.Parts.Signals.Sleeping);

        var claim = await state.ClaimAsync(CancellationToken.None).AsTask().WaitAsync(Patience);

        Assert.True(claim.Shared);
        Assert.Equal(1, state.Counters.WaitedClaims);
        Assert.True(store.Reads > 0 && store.Operations > operations);
    }

    [Fact]
    public async Task ClaimAsync_AfterTheLoopStoppedForIdling_WaitsForAFreshViewAndSyncingResumes()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var state = instance.State;
        await instance.IdleAsync();
        var until = instance.Clock.GetUtcNow() + TimeSpan.FromMinutes(1);
        await PublishDirectlyAsync(store.Inner, "a/*", new Cooldown(until, CooldownReason.Throttled));

        // The loop stopped syncing, although its last read is less than IdleAfter old: the view is not current any more.
        var claim = await state.ClaimAsync(CancellationToken.None).AsTask().WaitAsync(Patience);

        Assert.True(claim.Shared);
        Assert.Equal(until, claim.Cooldowns["a/*"].Until);
        Assert.Equal(1, state.Counters.WaitedClaims);

        // Busy again, the instance syncs every interval and so honours another instance's cooldown within seconds.
        await PublishDirectlyAsync(store.Inner, "b/*", new Cooldown(until, CooldownReason.Throttled));
        var syncs = state.Counters.Syncs;
        for (var i = 0; i < 3; i++)
        {
            await instance.AdvanceAsync(OneSync);
            await state.ClaimAsync(CancellationToken.None);
        }

        Assert.Equal(syncs + 3, state.Counters.Syncs);
        Assert.True(state.Cooldowns.ContainsKey("b/*"));
    }

    [Fact]
    public async Task ClaimAsync_BurstAfterIdling_EveryWaitingClaimGetsASharedTurn()
    {
        const int Burst = 500;
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.StartSyncedAsync();
        var state = instance.State;
        await instance.IdleAsync();
        instance.Clock.Advance(TimeSpan.FromMinutes(10));

        // Every claim of the burst arrives before the store answers the sync that the first one starts.
        store.Mode = StoreMode.Held;
        var pending = Enumerable.Range(0, Burst).Select(_ => state.ClaimAsync(CancellationToken.None).AsTask()).ToList();
        Assert.DoesNotContain(pending, p => p.IsCompleted);
        store.Release();
        var claims = await Task.WhenAll(pending).WaitAsync(Patience);

        // The store was healthy all along: no claim may fall back to a turn that another instance can also hold.
        Assert.Equal(0, state.Counters.LocalClaims);
        Assert.All(claims, c => Assert.True(c.Shared));
        Assert.Equal(Burst, claims.Select(c => c.Turn).Distinct().Count());
    }

    [Fact]
    public async Task DisposeAsync_ClaimWaitingForAHangingStore_CompletesAndLaterClaimsAreRefused()
    {
        var store = new ControllableStore { Mode = StoreMode.Hanging };
        await using var instance = new SharedStateHarness(store);
        await instance.StartAsync();
        var state = instance.State;
        var pending = state.ClaimAsync(CancellationToken.None).AsTask();

        await state.DisposeAsync().AsTask().WaitAsync(Patience);
        await state.DisposeAsync();
        var claim = await pending.WaitAsync(Patience);

        Assert.False(claim.Shared);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => state.ClaimAsync(CancellationToken.None).AsTask());
    }

    /// <summary>A store whose table can vanish (as Azurite's does when restarted): every call fails until it is created again.</summary>
    private sealed class ForgetfulStore : IStateStore
    {
        private readonly InMemoryStateStore _inner = new();

        public bool Initialized { get; private set; }

        public string Description => "forgetful";

        public void Forget() => Initialized = false;

        public Task InitializeAsync(CancellationToken cancellationToken)
        {
            Initialized = true;
            return Task.CompletedTask;
        }

        public Task<StoreRead> ReadAsync(CancellationToken cancellationToken) => Initialized
            ? _inner.ReadAsync(cancellationToken)
            : throw new StateStoreException("read answered 404 TableNotFound (test)");

        public Task<StoreWrite> WriteCursorAsync(long cursor, string? ifMatchETag, CancellationToken cancellationToken) => Initialized
            ? _inner.WriteCursorAsync(cursor, ifMatchETag, cancellationToken)
            : throw new StateStoreException("update answered 404 TableNotFound (test)");

        public Task<StoreWrite> WriteCooldownsAsync(ImmutableDictionary<string, Cooldown> cooldowns, string? ifMatchETag, CancellationToken cancellationToken) => Initialized
            ? _inner.WriteCooldownsAsync(cooldowns, ifMatchETag, cancellationToken)
            : throw new StateStoreException("update answered 404 TableNotFound (test)");
    }

    /// <summary>A claim that must complete at once, from the claimed block.</summary>
    private static void ClaimNow(SharedState state, CancellationToken cancellationToken)
    {
        var claim = state.ClaimAsync(cancellationToken);
        if (!claim.IsCompletedSuccessfully || !claim.Result.Shared)
        {
            Assert.Fail("the claim did not complete at once from the claimed block");
        }
    }

    /// <summary>Adds a cooldown to the store as another instance would.</summary>
    private static async Task PublishDirectlyAsync(IStateStore store, string key, Cooldown cooldown)
    {
        var read = await store.ReadAsync(CancellationToken.None);
        var write = await store.WriteCooldownsAsync(read.Cooldowns.SetItem(key, cooldown), read.CooldownsETag, CancellationToken.None);
        Assert.Equal(WriteOutcome.Written, write.Outcome);
    }
}
