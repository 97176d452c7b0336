using System.Collections.Immutable;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using static AoaiProxy.Tests.TestSupport.SharedStateHarness;

namespace AoaiProxy.Tests.State;

/// <summary>
/// <see cref="SyncRound"/> run directly, one round at a time, without the loop: what each round does with the store
/// and how it reports that it failed.
/// </summary>
public sealed class SyncRoundTests
{
    [Fact]
    public async Task RunAsync_EmptyStore_CreatesTheTableReadsAndClaimsTheFirstBlock()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);

        var outcome = await instance.Parts.Round.RunAsync(CancellationToken.None);

        Assert.Equal(new SyncOutcome(SyncResult.Synced, Initialized: true), outcome);
        Assert.Equal((1, 1, 1, 0), (store.Initializations, store.Reads, store.CursorWrites, store.CooldownWrites));
        Assert.Equal(TurnBlockPolicy.MinBlock, (await store.Inner.ReadAsync(CancellationToken.None)).Cursor);
        Assert.Equal(TurnBlockPolicy.MinBlock, instance.State.StoreCursor);
        Assert.Equal(1, instance.State.Counters.Syncs);
        var claim = instance.State.ClaimAsync(CancellationToken.None);
        Assert.True(claim.IsCompletedSuccessfully);
        Assert.True((await claim).Shared);
    }

    [Fact]
    public async Task RunAsync_SecondRoundWithoutClaims_OnlyReads()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.Parts.Round.RunAsync(CancellationToken.None);
        var operations = store.Operations;

        var outcome = await instance.Parts.Round.RunAsync(CancellationToken.None);

        Assert.Equal(new SyncOutcome(SyncResult.Synced), outcome);
        Assert.Equal(operations + 1, store.Operations);
        Assert.Equal(2, store.Reads);
    }

    [Theory]
    [InlineData(nameof(StoreMode.Failing), false, nameof(SyncResult.InitializationFailed))]
    [InlineData(nameof(StoreMode.Hanging), false, nameof(SyncResult.InitializationFailed))]
    [InlineData(nameof(StoreMode.Failing), true, nameof(SyncResult.StoreFailed))]
    [InlineData(nameof(StoreMode.Hanging), true, nameof(SyncResult.TimedOut))]
    public async Task RunAsync_StoreUnavailable_OutcomeSaysHowInsteadOfThrowing(string storeMode, bool initializedBefore, string result)
    {
        // StoreMode and SyncResult are internal, so a public test method takes their names.
        var mode = Enum.Parse<StoreMode>(storeMode);
        var expected = Enum.Parse<SyncResult>(result);
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        if (initializedBefore)
        {
            await instance.Parts.Round.RunAsync(CancellationToken.None);
        }

        store.Mode = mode;
        var call = store.NextCall;
        var round = instance.Parts.Round.RunAsync(CancellationToken.None);
        await call.WaitAsync(Patience);
        // Past both budgets: a hanging call is given up, a failing one has failed already.
        instance.Clock.Advance(SyncRound.InitializeBudget);
        var outcome = await round.WaitAsync(Patience);

        Assert.Equal(expected, outcome.Result);
        Assert.False(outcome.Initialized);
        if (mode == StoreMode.Failing)
        {
            Assert.IsType<StateStoreException>(outcome.Error);
        }
        else if (expected == SyncResult.InitializationFailed)
        {
            Assert.IsAssignableFrom<OperationCanceledException>(outcome.Error);
        }
    }

    [Fact]
    public async Task RunAsync_AfterAFailedRound_CreatesTheTableAgain()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.Parts.Round.RunAsync(CancellationToken.None);
        store.Mode = StoreMode.Failing;
        Assert.Equal(SyncResult.StoreFailed, (await instance.Parts.Round.RunAsync(CancellationToken.None)).Result);
        store.Mode = StoreMode.Healthy;

        var outcome = await instance.Parts.Round.RunAsync(CancellationToken.None);

        Assert.Equal(new SyncOutcome(SyncResult.Synced, Initialized: true), outcome);
        Assert.Equal(2, store.Initializations);
    }

    [Theory]
    [InlineData(nameof(StoreMode.Hanging))]
    [InlineData(nameof(StoreMode.HangingThenFailing))]
    public async Task RunAsync_Stopped_ThrowsOperationCanceledWhateverTheStoreThrew(string storeMode)
    {
        var store = new ControllableStore { Mode = Enum.Parse<StoreMode>(storeMode) };
        await using var instance = new SharedStateHarness(store);
        using var stopping = new CancellationTokenSource();
        var call = store.NextCall;
        var round = instance.Parts.Round.RunAsync(stopping.Token);
        await call.WaitAsync(Patience);

        await stopping.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => round.WaitAsync(Patience));
    }

    [Fact]
    public async Task RunAsync_CooldownRecorded_PublishedAfterTheRead()
    {
        var store = new ControllableStore();
        await using var instance = new SharedStateHarness(store);
        await instance.Parts.Round.RunAsync(CancellationToken.None);
        var until = instance.Clock.GetUtcNow().AddSeconds(30);
        instance.State.RecordCooldown("a/*", new Cooldown(until, CooldownReason.Throttled));
        Assert.True(instance.Parts.Round.HasUnwritten);

        await instance.Parts.Round.RunAsync(CancellationToken.None);

        Assert.Equal(until, (await store.Inner.ReadAsync(CancellationToken.None)).Cooldowns["a/*"].Until);
        Assert.False(instance.Parts.Round.HasUnwritten);
        Assert.Equal(1, store.CooldownWrites);
    }

    [Fact]
    public async Task RunAsync_PublishAlwaysLosesTheRace_RereadsAfterEachAndLeavesItToTheNextRound()
    {
        var store = new RacingStore();
        await using var instance = new SharedStateHarness(store);
        await instance.Parts.Round.RunAsync(CancellationToken.None);
        instance.State.RecordCooldown("a/*", new Cooldown(instance.Clock.GetUtcNow().AddSeconds(30), CooldownReason.Throttled));
        store.RaceCooldownWrites = int.MaxValue;
        var reads = store.Reads;

        var outcome = await instance.Parts.Round.RunAsync(CancellationToken.None);

        Assert.Equal(SyncResult.Synced, outcome.Result);
        Assert.Equal(StoreSession.MaxWriteAttempts, instance.State.Counters.LostRaces);
        Assert.Equal(reads + 1 + StoreSession.MaxWriteAttempts, store.Reads);
        Assert.True(instance.Parts.Round.HasUnwritten);
    }

    [Fact]
    public async Task RunAsync_PublishLosesOneRace_MergesTheWinnersCooldownsAndWritesBoth()
    {
        var store = new RacingStore();
        await using var instance = new SharedStateHarness(store);
        await instance.Parts.Round.RunAsync(CancellationToken.None);
        var until = instance.Clock.GetUtcNow().AddSeconds(30);
        instance.State.RecordCooldown("a/*", new Cooldown(until, CooldownReason.Throttled));
        store.RaceCooldownWrites = 1;

        await instance.Parts.Round.RunAsync(CancellationToken.None);

        var stored = (await store.Inner.ReadAsync(CancellationToken.None)).Cooldowns;
        Assert.Equal(until, stored["a/*"].Until);
        Assert.True(stored.ContainsKey(RacingStore.WinnersKey));
        Assert.True(instance.State.Cooldowns.ContainsKey(RacingStore.WinnersKey));
        Assert.Equal(1, instance.State.Counters.LostRaces);
        Assert.False(instance.Parts.Round.HasUnwritten);
    }

    [Theory]
    // 10 claims in a second leave 6 turns: more than two 100 ms intervals' worth at 10 per second and at least
    // MinLead, so the next round (with a fresh read anyway) tries again.
    [InlineData(10, false)]
    // 13 claims leave 3, fewer than MinLead: re-read and retry at once.
    [InlineData(13, true)]
    public async Task RunAsync_RefillLosesARace_RetriesAtOnceOnlyWhenFewTurnsAreLeft(int claims, bool retried)
    {
        var store = new RacingStore();
        var options = new ProxyOptions { StateSyncInterval = TimeSpan.FromMilliseconds(100) };
        await using var instance = new SharedStateHarness(store, options: options);
        await instance.Parts.Round.RunAsync(CancellationToken.None);
        for (var i = 0; i < claims; i++)
        {
            Assert.True((await instance.State.ClaimAsync(CancellationToken.None)).Shared);
        }

        instance.Clock.Advance(TimeSpan.FromSeconds(1));
        store.RaceCursorWrites = 1;
        var (reads, writes) = (store.Reads, store.CursorWrites);

        await instance.Parts.Round.RunAsync(CancellationToken.None);

        Assert.Equal(1, instance.State.Counters.LostRaces);
        Assert.Equal(retried ? (2, 2) : (1, 1), (store.Reads - reads, store.CursorWrites - writes));
        for (var i = claims; i < TurnBlockPolicy.MinBlock; i++)
        {
            Assert.True((await instance.State.ClaimAsync(CancellationToken.None)).Shared);
        }

        // The first block is used up: only a retried refill has left a turn for the next claim.
        var next = instance.State.ClaimAsync(CancellationToken.None);
        Assert.Equal(retried, next.IsCompletedSuccessfully);
        instance.Clock.Advance(ProxyOptions.DefaultStateTimeout);
        Assert.Equal(retried, (await next.AsTask().WaitAsync(Patience)).Shared);
    }

    /// <summary>
    /// An in-memory store where another instance writes first: before each of the next N writes of an item it stores
    /// the item itself (cursor + 1000, or one more cooldown), so the write that follows meets a newer version.
    /// </summary>
    private sealed class RacingStore : IStateStore
    {
        public const string WinnersKey = "winner/*";

        private int _reads;

        public InMemoryStateStore Inner { get; } = new();

        public int RaceCursorWrites { get; set; }

        public int RaceCooldownWrites { get; set; }

        public int Reads => _reads;

        public int CursorWrites { get; private set; }

        public string Description => "racing in-memory";

        public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task<StoreRead> ReadAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _reads);
            return Inner.ReadAsync(cancellationToken);
        }

        public async Task<StoreWrite> WriteCursorAsync(long cursor, string? ifMatchETag, CancellationToken cancellationToken)
        {
            CursorWrites++;
            if (RaceCursorWrites > 0)
            {
                RaceCursorWrites--;
                var current = await Inner.ReadAsync(cancellationToken);
                await Inner.WriteCursorAsync(current.Cursor + 1000, current.CursorETag, cancellationToken);
            }

            return await Inner.WriteCursorAsync(cursor, ifMatchETag, cancellationToken);
        }

        public async Task<StoreWrite> WriteCooldownsAsync(ImmutableDictionary<string, Cooldown> cooldowns, string? ifMatchETag, CancellationToken cancellationToken)
        {
            if (RaceCooldownWrites > 0)
            {
                RaceCooldownWrites--;
                var current = await Inner.ReadAsync(cancellationToken);
                var theirs = new Cooldown(DateTimeOffset.MaxValue, CooldownReason.Failed);
                await Inner.WriteCooldownsAsync(current.Cooldowns.SetItem(WinnersKey, theirs), current.CooldownsETag, cancellationToken);
            }

            return await Inner.WriteCooldownsAsync(cooldowns, ifMatchETag, cancellationToken);
        }
    }
}
