using System.Collections.Concurrent;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Tests.State;

public sealed class SharedStateTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task ClaimAsync_ConcurrentClaimsFromTwoInstances_YieldDistinctConsecutiveTurns()
    {
        var shared = new InMemoryStateStore();
        await using var one = Create(shared, out _);
        await using var two = Create(shared, out _);
        await WaitSharedAsync(one);
        await WaitSharedAsync(two);

        var turns = new ConcurrentBag<long>();
        await Task.WhenAll(Enumerable.Range(0, 200).Select(async i =>
        {
            var claim = await (i % 2 == 0 ? one : two).ClaimAsync(CancellationToken.None);
            Assert.True(claim.Shared);
            turns.Add(claim.Turn);
        }));

        var sorted = turns.Order().ToList();
        Assert.Equal(200, sorted.Distinct().Count());
        Assert.Equal(sorted[0] + 199, sorted[^1]);
    }

    [Fact]
    public async Task ClaimAsync_SteadyState_CostsOneStoreRoundTrip()
    {
        var store = new ControllableStore();
        await using var state = Create(store, out _);
        await WaitSharedAsync(state);
        var (reads, writes) = (store.Reads, store.Writes);

        for (var i = 0; i < 10; i++)
        {
            await state.ClaimAsync(CancellationToken.None);
        }

        Assert.Equal(reads, store.Reads);
        Assert.Equal(writes + 10, store.Writes);
    }

    [Fact]
    public async Task RecordCooldown_OnOneInstance_SeenByAnotherAtItsNextClaim()
    {
        var shared = new InMemoryStateStore();
        await using var one = Create(shared, out var clock);
        await using var two = Create(shared, out _, clock);
        await WaitSharedAsync(one);
        await WaitSharedAsync(two);
        var until = clock.GetUtcNow() + TimeSpan.FromSeconds(30);

        one.RecordCooldown("a/gpt-4o", new Cooldown(until, CooldownReason.Throttled));
        await WaitUntilAsync(async () => (await ReadStoreAsync(shared)).Cooldowns.ContainsKey("a/gpt-4o"));
        var claim = await two.ClaimAsync(CancellationToken.None);

        Assert.Equal(until, claim.Cooldowns["a/gpt-4o"].Until);
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
    public async Task ClaimAsync_StoreFailing_ServesLocallyWarnsOnceAndRecovers()
    {
        var store = new ControllableStore();
        var logs = new LogCapture();
        await using var state = Create(store, out var clock, logs: logs);
        await WaitSharedAsync(state);
        var before = await state.ClaimAsync(CancellationToken.None);

        store.Mode = StoreMode.Failing;
        var during = new List<TurnClaim>();
        for (var i = 0; i < 5; i++)
        {
            during.Add(await state.ClaimAsync(CancellationToken.None).AsTask().WaitAsync(Patience));
        }

        Assert.All(during, c => Assert.False(c.Shared));
        Assert.Equal(Enumerable.Range(1, 5).Select(i => before.Turn + i), during.Select(c => c.Turn));
        Assert.Single(logs.WithEventId(9));

        store.Mode = StoreMode.Healthy;
        await RecoverAsync(state, clock);
        Assert.Single(logs.WithEventId(9));
        Assert.Single(logs.WithEventId(11));
    }

    [Fact]
    public async Task ClaimAsync_StoreHanging_GivesUpAfterBudgetAndServesLocally()
    {
        var store = new ControllableStore();
        var logs = new LogCapture();
        await using var state = Create(store, out var clock, logs: logs);
        await WaitSharedAsync(state);

        store.Mode = StoreMode.Hanging;
        var pending = state.ClaimAsync(CancellationToken.None).AsTask();
        await WaitUntilAsync(() => Task.FromResult(store.Writes > 1));
        Assert.False(pending.IsCompleted);
        clock.Advance(ProxyOptions.DefaultStateTimeout);
        var claim = await pending.WaitAsync(Patience);

        Assert.False(claim.Shared);
        Assert.Single(logs.WithEventId(10));

        store.Mode = StoreMode.Healthy;
        await RecoverAsync(state, clock);
        Assert.Single(logs.WithEventId(11));
    }

    [Fact]
    public async Task ClaimAsync_TableVanishedDuringOutage_RecreatedByTheProbe()
    {
        var store = new ControllableStore(new ForgetfulStore());
        await using var state = Create(store, out var clock);
        await WaitSharedAsync(state);

        store.Mode = StoreMode.Failing;
        await state.ClaimAsync(CancellationToken.None);
        ((ForgetfulStore)store.Inner).Forget();
        store.Mode = StoreMode.Healthy;

        await RecoverAsync(state, clock);
        Assert.True(((ForgetfulStore)store.Inner).Initialized);
    }

    /// <summary>A store whose table can vanish (like Azurite restarted in memory): everything fails until initialized again.</summary>
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

        public Task<StoreRead> ReadAsync(CancellationToken cancellationToken) =>
            Initialized ? _inner.ReadAsync(cancellationToken) : throw new StateStoreException("table not found (test)");

        public Task<StoreWrite> WriteAsync(StateDocument document, string? ifMatchETag, CancellationToken cancellationToken) =>
            Initialized ? _inner.WriteAsync(document, ifMatchETag, cancellationToken) : throw new StateStoreException("table not found (test)");
    }

    [Fact]
    public async Task RecordCooldown_DuringOutage_WrittenOnceStoreRecovers()
    {
        var store = new ControllableStore();
        await using var state = Create(store, out var clock);
        await WaitSharedAsync(state);
        store.Mode = StoreMode.Failing;
        await state.ClaimAsync(CancellationToken.None);

        var until = clock.GetUtcNow() + TimeSpan.FromSeconds(50);
        state.RecordCooldown("b/*", new Cooldown(until, CooldownReason.Failed));
        store.Mode = StoreMode.Healthy;
        await RecoverAsync(state, clock);

        Assert.Equal(until, (await ReadStoreAsync(store)).Cooldowns["b/*"].Until);
    }

    [Fact]
    public async Task ClaimAsync_ExpiredCooldowns_PrunedFromStore()
    {
        var store = new InMemoryStateStore();
        await using var state = Create(store, out var clock);
        await WaitSharedAsync(state);
        state.RecordCooldown("a/*", new Cooldown(clock.GetUtcNow().AddSeconds(1), CooldownReason.Failed));
        await state.ClaimAsync(CancellationToken.None);
        Assert.True((await ReadStoreAsync(store)).Cooldowns.ContainsKey("a/*"));

        clock.Advance(TimeSpan.FromSeconds(2));
        await state.ClaimAsync(CancellationToken.None);

        Assert.Empty((await ReadStoreAsync(store)).Cooldowns);
        Assert.Empty(state.Cooldowns);
    }

    /// <summary>
    /// Finding 2a. The outage probe is the table creation, which succeeds at once when only the data plane fails
    /// (entity too large, unreadable entity, throttled partition): the loop goes straight back to the store, fails, probes,
    /// and so on. Idle, with the clock standing still, it called the store thousands of times a second.
    /// </summary>
    [Fact]
    public async Task ClaimAsync_TableReachableButDataCallsFail_LeavesTheStoreAloneUntilTheNextProbe()
    {
        var store = new DataPlaneStore { Mode = StoreMode.Healthy };
        await using var state = Create(store, out _);
        await WaitSharedAsync(state);
        store.Mode = StoreMode.Failing;
        Assert.False((await state.ClaimAsync(CancellationToken.None)).Shared);

        var calls = store.DataCalls;
        await Task.Delay(TimeSpan.FromSeconds(1));

        Assert.True(store.DataCalls - calls <= 1, $"{store.DataCalls - calls} store calls in one idle second of an outage");
    }

    /// <summary>
    /// Finding 2b. Same cause, slow store: after a claim gave up at the budget, the immediate "successful" probe puts the
    /// store back on the critical path, so the next claim waits for the store (here: until the clock moves) again.
    /// </summary>
    [Fact]
    public async Task ClaimAsync_StoreSlowerThanBudget_NextClaimServedLocallyWithoutWaiting()
    {
        var store = new DataPlaneStore { Mode = StoreMode.Healthy };
        await using var state = Create(store, out var clock);
        await WaitSharedAsync(state);
        store.Mode = StoreMode.Hanging;
        var first = state.ClaimAsync(CancellationToken.None).AsTask();
        await WaitUntilAsync(() => Task.FromResult(store.Waiting > 0));
        clock.Advance(ProxyOptions.DefaultStateTimeout);
        Assert.False((await first.WaitAsync(Patience)).Shared);
        await Task.Delay(TimeSpan.FromMilliseconds(200));

        var second = state.ClaimAsync(CancellationToken.None).AsTask();
        await Task.WhenAny(second, Task.Delay(TimeSpan.FromSeconds(1)));

        Assert.True(second.IsCompleted, "the claim after an outage began waited for the store again");
        clock.Advance(ProxyOptions.DefaultStateTimeout);
    }

    /// <summary>
    /// Finding 7. Disposing while a batch waits for the store cancels the loop with an OperationCanceledException that the
    /// loop does not catch: the batch's claims are never completed (nor those still queued), and their callers hang.
    /// </summary>
    [Fact]
    public async Task DisposeAsync_ClaimWaitingForTheStore_ClaimCompletes()
    {
        var store = new ControllableStore();
        var state = Create(store, out _);
        await WaitSharedAsync(state);
        store.Mode = StoreMode.Hanging;
        var pending = state.ClaimAsync(CancellationToken.None).AsTask();
        await WaitUntilAsync(() => Task.FromResult(store.Writes > 1));

        await state.DisposeAsync();

        var ended = await Task.WhenAny(pending, Task.Delay(TimeSpan.FromSeconds(3)));
        Assert.Same(pending, ended);
    }

    /// <summary>A store whose table always exists (initialization succeeds) and whose data calls can fail or hang.</summary>
    private sealed class DataPlaneStore : IStateStore
    {
        private readonly InMemoryStateStore _inner = new();
        private int _dataCalls;
        private int _waiting;

        public StoreMode Mode { get; set; }

        public int DataCalls => Volatile.Read(ref _dataCalls);

        public int Waiting => Volatile.Read(ref _waiting);

        public string Description => "data-plane test store";

        public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task<StoreRead> ReadAsync(CancellationToken cancellationToken)
        {
            await GateAsync(cancellationToken);
            return await _inner.ReadAsync(cancellationToken);
        }

        public async Task<StoreWrite> WriteAsync(StateDocument document, string? ifMatchETag, CancellationToken cancellationToken)
        {
            await GateAsync(cancellationToken);
            return await _inner.WriteAsync(document, ifMatchETag, cancellationToken);
        }

        private async Task GateAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _dataCalls);
            switch (Mode)
            {
                case StoreMode.Failing:
                    throw new StateStoreException("update answered 400 PropertyValueTooLarge (test)");
                case StoreMode.Hanging:
                    Interlocked.Increment(ref _waiting);
                    try
                    {
                        await Task.Delay(Timeout.Infinite, cancellationToken);
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _waiting);
                    }

                    break;
            }
        }
    }

    private static SharedState Create(IStateStore store, out ManualTimeProvider clock, ManualTimeProvider? sharedClock = null, LogCapture? logs = null)
    {
        clock = sharedClock ?? new ManualTimeProvider();
        var factory = LoggerFactory.Create(b => b.AddProvider(logs ?? new LogCapture()));
        return new SharedState(store, new ProxyOptions(), clock, factory.CreateLogger<SharedState>());
    }

    private static async Task WaitSharedAsync(SharedState state) =>
        await WaitUntilAsync(async () => (await state.ClaimAsync(CancellationToken.None)).Shared);

    /// <summary>Moves the clock past the probe interval until a claim is shared again (the probe runs in the background).</summary>
    private static async Task RecoverAsync(SharedState state, ManualTimeProvider clock) =>
        await WaitUntilAsync(async () =>
        {
            clock.Advance(SharedState.OutageProbeInterval);
            return (await state.ClaimAsync(CancellationToken.None)).Shared;
        });

    private static async Task<StateDocument> ReadStoreAsync(IStateStore store) =>
        (await store.ReadAsync(CancellationToken.None)).Document ?? StateDocument.Empty;

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
