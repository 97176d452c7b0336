using System.Collections.Concurrent;
using System.Collections.Immutable;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using AoaiProxy.Tests.TestSupport.Simulation;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Tests.State;

public sealed class SharedStateTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    // Past the longest jittered sync interval (the interval + 10%).
    private static readonly TimeSpan OneSync = ProxyOptions.DefaultStateSyncInterval * 1.2;

    // Clock steps while an instance over a slow store goes idle: one store operation completes per step.
    private static readonly TimeSpan IdleStep = TimeSpan.FromMilliseconds(100);

    [Fact]
    public async Task ClaimAsync_TwoInstancesManyClaims_EveryTurnSharedAndDistinct()
    {
        var shared = new InMemoryStateStore();
        await using var one = Create(shared, out var clock);
        await using var two = Create(shared, out _, clock);
        await WaitSyncedAsync(one);
        await WaitSyncedAsync(two);

        var turns = new ConcurrentBag<long>();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; i < 250; i++)
            {
                var claim = await (worker % 2 == 0 ? one : two).ClaimAsync(CancellationToken.None);
                Assert.True(claim.Shared);
                turns.Add(claim.Turn);
            }
        })));

        Assert.Equal(1000, turns.Distinct().Count());
        Assert.Equal(0, one.Counters.LocalClaims + two.Counters.LocalClaims);
    }

    [Fact]
    public async Task ClaimAsync_SteadyState_TouchesNoStoreAndNeverWaits()
    {
        var store = new ControllableStore();
        await using var state = Create(store, out _);
        await WaitSyncedAsync(state);
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
    public async Task ClaimAsync_TurnsRunLow_NextBlockClaimedInTheBackgroundWithoutWaiting()
    {
        var store = new ControllableStore();
        await using var state = Create(store, out _);
        await WaitSyncedAsync(state);
        var cursorWrites = store.CursorWrites;

        var turns = new List<long>();
        for (var i = 0; i < TurnBlockPolicy.MinBlock; i++)
        {
            turns.Add((await state.ClaimAsync(CancellationToken.None)).Turn);
        }

        await WaitUntilAsync(() => Task.FromResult(store.CursorWrites > cursorWrites && state.Counters.Syncs > 1));
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
        await using var one = Create(shared, out var clock);
        await using var two = Create(shared, out _, clock);
        await WaitSyncedAsync(one);
        await WaitSyncedAsync(two);
        var until = clock.GetUtcNow() + TimeSpan.FromSeconds(30);

        one.RecordCooldown("a/gpt-4o", new Cooldown(until, CooldownReason.Throttled));
        await WaitUntilAsync(async () => (await shared.ReadAsync(CancellationToken.None)).Cooldowns.ContainsKey("a/gpt-4o"));
        Assert.False(two.Cooldowns.ContainsKey("a/gpt-4o"));
        var syncs = two.Counters.Syncs;
        clock.Advance(OneSync);
        await WaitUntilAsync(() => Task.FromResult(two.Counters.Syncs > syncs));

        Assert.Equal(until, two.Cooldowns["a/gpt-4o"].Until);
        Assert.Equal(until, (await two.ClaimAsync(CancellationToken.None)).Cooldowns["a/gpt-4o"].Until);
    }

    [Fact]
    public async Task RecordCooldown_ShorterThanRecorded_KeepsLaterDeadline()
    {
        await using var state = Create(new InMemoryStateStore(), out var clock);
        var now = clock.GetUtcNow();

        state.RecordCooldown("a/*", new Cooldown(now.AddSeconds(20), CooldownReason.Throttled));
        state.RecordCooldown("a/*", new Cooldown(now.AddSeconds(5), CooldownReason.Failed));

        Assert.Equal(now.AddSeconds(20), state.Cooldowns["a/*"].Until);
        Assert.Equal(CooldownReason.Throttled, state.Cooldowns["a/*"].Reason);
    }

    [Fact]
    public async Task RecordCooldown_ShorterOneInTheStore_ReplacedByTheLongerLocalOne()
    {
        var shared = new InMemoryStateStore();
        await using var state = Create(shared, out var clock);
        await WaitSyncedAsync(state);
        var now = clock.GetUtcNow();
        await shared.WriteCooldownsAsync(
            ImmutableDictionary<string, Cooldown>.Empty.Add("a/*", new Cooldown(now.AddSeconds(5), CooldownReason.Failed)),
            (await shared.ReadAsync(CancellationToken.None)).CooldownsETag, CancellationToken.None);

        state.RecordCooldown("a/*", new Cooldown(now.AddSeconds(20), CooldownReason.Throttled));

        await WaitUntilAsync(async () => (await shared.ReadAsync(CancellationToken.None)).Cooldowns["a/*"].Until == now.AddSeconds(20));
    }

    [Fact]
    public async Task ClaimAsync_StoreFailing_ServesWithoutWaitingWarnsOnceAndRecovers()
    {
        var store = new ControllableStore();
        var logs = new LogCapture();
        await using var state = Create(store, out var clock, logs: logs);
        await WaitSyncedAsync(state);
        var now = clock.GetUtcNow();

        store.Mode = StoreMode.Failing;
        state.RecordCooldown("a/*", new Cooldown(now.AddMinutes(1), CooldownReason.Throttled));
        await WaitUntilAsync(() => Task.FromResult(!state.StoreHealthy));
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
        Assert.Single(logs.WithEventId(9));

        store.Mode = StoreMode.Healthy;
        clock.Advance(SharedState.OutageProbeInterval);
        await WaitUntilAsync(() => Task.FromResult(state.StoreHealthy));
        Assert.Single(logs.WithEventId(9));
        Assert.Single(logs.WithEventId(11));

        // The cooldown recorded during the outage is published once the store is back.
        await WaitUntilAsync(async () => (await store.Inner.ReadAsync(CancellationToken.None)).Cooldowns.ContainsKey("a/*"));
    }

    [Fact]
    public async Task RecordCooldown_ManyKeysDuringAnOutage_ExpiredOnesLeaveTheLocalView()
    {
        // Deployment names come from callers, so the keys are as many as they send while a backend throttles.
        var store = new ControllableStore();
        await using var state = Create(store, out var clock);
        await WaitSyncedAsync(state);
        store.Mode = StoreMode.Failing;
        clock.Advance(OneSync);
        await WaitUntilAsync(() => Task.FromResult(!state.StoreHealthy));

        for (var i = 0; i < 1000; i++)
        {
            state.RecordCooldown($"a/deployment{i}", new Cooldown(clock.GetUtcNow() + TimeSpan.FromSeconds(1), CooldownReason.Throttled));
        }

        var initializations = store.Initializations;
        clock.Advance(SharedState.OutageProbeInterval);
        await WaitUntilAsync(() => Task.FromResult(store.Initializations > initializations));

        await WaitUntilAsync(() => Task.FromResult(state.Cooldowns.IsEmpty));
        Assert.False(state.StoreHealthy);
    }

    [Fact]
    public async Task SyncAsync_StoreHanging_GivesUpAfterTheBudgetAndClaimsDoNotWait()
    {
        var store = new ControllableStore();
        var logs = new LogCapture();
        await using var state = Create(store, out var clock, logs: logs);
        await WaitSyncedAsync(state);

        store.Mode = StoreMode.Hanging;
        var reads = store.Reads;
        clock.Advance(OneSync);
        await WaitUntilAsync(() => Task.FromResult(store.Reads > reads));
        clock.Advance(ProxyOptions.DefaultStateTimeout);
        await WaitUntilAsync(() => Task.FromResult(!state.StoreHealthy));

        Assert.Single(logs.WithEventId(10));
        var claim = state.ClaimAsync(CancellationToken.None);
        Assert.True(claim.IsCompleted);

        store.Mode = StoreMode.Healthy;
        clock.Advance(SharedState.OutageProbeInterval);
        await WaitUntilAsync(() => Task.FromResult(state.StoreHealthy));
        Assert.Single(logs.WithEventId(11));
    }

    [Fact]
    public async Task SyncAsync_TableVanishedDuringOutage_RecreatedByTheProbe()
    {
        var forgetful = new ForgetfulStore();
        var store = new ControllableStore(forgetful);
        await using var state = Create(store, out var clock);
        await WaitSyncedAsync(state);
        var initializations = store.Initializations;

        forgetful.Forget();
        clock.Advance(OneSync);
        await WaitUntilAsync(() => Task.FromResult(!state.StoreHealthy));
        clock.Advance(SharedState.OutageProbeInterval);
        await WaitUntilAsync(() => Task.FromResult(state.StoreHealthy));

        Assert.True(forgetful.Initialized);
        Assert.Equal(initializations + 1, store.Initializations);
    }

    [Fact]
    public async Task ClaimAsync_InitializationHanging_OnlyTheFirstClaimWaitsTheBudget()
    {
        var store = new ControllableStore { Mode = StoreMode.Hanging };
        await using var state = Create(store, out var clock);
        await WaitUntilAsync(() => Task.FromResult(store.Initializations > 0));

        var first = state.ClaimAsync(CancellationToken.None).AsTask();
        await Task.Delay(50);
        clock.Advance(ProxyOptions.DefaultStateTimeout);
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
        var logs = new LogCapture();
        await using var state = Create(store, out var clock, logs: logs);
        await WaitUntilAsync(() => Task.FromResult(!state.StoreHealthy));

        var claims = new List<TurnClaim>();
        for (var i = 0; i < 3; i++)
        {
            var claim = state.ClaimAsync(CancellationToken.None);
            Assert.True(claim.IsCompleted);
            claims.Add(await claim);
        }

        Assert.All(claims, c => Assert.False(c.Shared));
        clock.Advance(SharedState.OutageProbeInterval);
        clock.Advance(SharedState.OutageProbeInterval);
        Assert.Single(logs.WithEventId(13));
        Assert.Empty(logs.WithEventId(9));
    }

    [Fact]
    public async Task ClaimAsync_AfterIdling_NoStoreTrafficWhileIdleThenOneWaitForAFreshView()
    {
        var store = new ControllableStore();
        await using var state = Create(store, out var clock);
        await WaitSyncedAsync(state);

        // Past the idle time the loop stops syncing; a long quiet period costs no store operation.
        await IdleAsync(clock);
        var operations = store.Operations;
        for (var i = 0; i < 20; i++)
        {
            clock.Advance(TimeSpan.FromMinutes(1));
            await Task.Delay(5);
        }

        Assert.Equal(operations, store.Operations);

        var claim = await state.ClaimAsync(CancellationToken.None).AsTask().WaitAsync(Patience);

        Assert.True(claim.Shared);
        Assert.Equal(1, state.Counters.WaitedClaims);
        Assert.True(store.Reads > 0 && store.Operations > operations);
    }

    [Fact]
    public async Task ClaimAsync_AfterTheLoopStoppedForIdling_WaitsForAFreshViewAndSyncingResumes()
    {
        var store = new ControllableStore();
        await using var state = Create(store, out var clock);
        await WaitSyncedAsync(state);
        await IdleAsync(clock);
        var until = clock.GetUtcNow() + TimeSpan.FromMinutes(1);
        await PublishDirectlyAsync(store.Inner, "a/*", new Cooldown(until, CooldownReason.Throttled));

        // The loop stopped syncing, although its last read is less than IdleAfter old: the view is not current any more.
        var claim = await state.ClaimAsync(CancellationToken.None).AsTask().WaitAsync(Patience);

        Assert.True(claim.Shared);
        Assert.Equal(until, claim.Cooldowns["a/*"].Until);
        Assert.Equal(1, state.Counters.WaitedClaims);

        // Busy again, the instance syncs every interval and so honours another instance's cooldown within seconds.
        await PublishDirectlyAsync(store.Inner, "b/*", new Cooldown(until, CooldownReason.Throttled));
        for (var i = 0; i < 3; i++)
        {
            clock.Advance(OneSync);
            await state.ClaimAsync(CancellationToken.None);
            await Task.Delay(20);
        }

        await WaitUntilAsync(() => Task.FromResult(state.Cooldowns.ContainsKey("b/*")));
    }

    [Fact]
    public async Task ClaimAsync_BurstAfterIdling_EveryWaitingClaimGetsASharedTurn()
    {
        const int Burst = 500;
        var clock = new ManualTimeProvider();
        var store = new LatencyStore(new InMemoryStateStore(), clock, medianMs: 10, p99Ms: 10, seed: 1);
        await using var state = Create(store, out _, clock);
        await StepUntilAsync(clock, () => state.Counters.Syncs > 0);
        for (var elapsed = TimeSpan.Zero; elapsed <= SharedState.IdleAfter + OneSync; elapsed += IdleStep)
        {
            clock.Advance(IdleStep);
            await Task.Delay(1);
        }

        clock.Advance(TimeSpan.FromMinutes(10));

        // Every claim of the burst arrives before the store answers the sync that the first one starts.
        var pending = Enumerable.Range(0, Burst).Select(_ => state.ClaimAsync(CancellationToken.None).AsTask()).ToList();
        await StepUntilAsync(clock, () => pending.TrueForAll(p => p.IsCompleted));
        var claims = await Task.WhenAll(pending);

        // The store was healthy all along: no claim may fall back to a turn that another instance can also hold.
        Assert.Equal(0, state.Counters.LocalClaims);
        Assert.All(claims, c => Assert.True(c.Shared));
        Assert.Equal(Burst, claims.Select(c => c.Turn).Distinct().Count());
    }

    [Fact]
    public async Task DisposeAsync_ClaimWaitingForAHangingStore_Completes()
    {
        var store = new ControllableStore { Mode = StoreMode.Hanging };
        var state = Create(store, out _);
        var pending = state.ClaimAsync(CancellationToken.None).AsTask();
        await Task.Delay(50);

        await state.DisposeAsync().AsTask().WaitAsync(Patience);
        await state.DisposeAsync();
        var claim = await pending.WaitAsync(Patience);

        Assert.False(claim.Shared);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => state.ClaimAsync(CancellationToken.None).AsTask());
    }

    [Fact]
    public async Task DisposeAsync_StoreFailingAsItIsCancelled_CompletesAndReleasesTheWaitingClaim()
    {
        var store = new ControllableStore { Mode = StoreMode.HangingThenFailing };
        var state = Create(store, out _);
        var pending = state.ClaimAsync(CancellationToken.None).AsTask();
        await WaitUntilAsync(() => Task.FromResult(store.Initializations > 0));

        await state.DisposeAsync().AsTask().WaitAsync(Patience);
        var claim = await pending.WaitAsync(Patience);

        Assert.False(claim.Shared);
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

    private static SharedState Create(IStateStore store, out ManualTimeProvider clock, ManualTimeProvider? sharedClock = null, LogCapture? logs = null)
    {
        clock = sharedClock ?? new ManualTimeProvider();
        var factory = LoggerFactory.Create(b => b.AddProvider(logs ?? new LogCapture()));
        return new SharedState(store, new ProxyOptions(), clock, factory.CreateLogger<SharedState>());
    }

    /// <summary>Adds a cooldown to the store as another instance would.</summary>
    private static async Task PublishDirectlyAsync(IStateStore store, string key, Cooldown cooldown)
    {
        var read = await store.ReadAsync(CancellationToken.None);
        var write = await store.WriteCooldownsAsync(read.Cooldowns.SetItem(key, cooldown), read.CooldownsETag, CancellationToken.None);
        Assert.Equal(WriteOutcome.Written, write.Outcome);
    }

    /// <summary>Moves the clock past <see cref="SharedState.IdleAfter"/> one sync at a time, leaving the loop idle.</summary>
    private static async Task IdleAsync(ManualTimeProvider clock)
    {
        for (var elapsed = TimeSpan.Zero; elapsed <= SharedState.IdleAfter; elapsed += OneSync)
        {
            clock.Advance(OneSync);
            await Task.Delay(5);
        }

        await Task.Delay(100);
    }

    /// <summary>Moves the clock on in small steps, letting the loop and the claims run between them, until <paramref name="done"/>.</summary>
    private static async Task StepUntilAsync(ManualTimeProvider clock, Func<bool> done)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!done())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            clock.Advance(TimeSpan.FromMilliseconds(5));
            await Task.Delay(5);
        }
    }

    private static Task WaitSyncedAsync(SharedState state) =>
        WaitUntilAsync(() => Task.FromResult(state.Counters.Syncs > 0));

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(10);
        }
    }
}
