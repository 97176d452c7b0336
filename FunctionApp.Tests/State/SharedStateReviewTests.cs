using AoaiProxy.Configuration;
using AoaiProxy.State;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Tests.State;

/// <summary>Pre-release review of <see cref="SharedState"/>: each test fails on main at the time of the review.</summary>
public sealed class SharedStateReviewTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

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
        await WaitUntilAsync(() => store.Waiting > 0);
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
        await WaitUntilAsync(() => store.Writes > 1);

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

    private static SharedState Create(IStateStore store, out ManualTimeProvider clock)
    {
        clock = new ManualTimeProvider();
        var factory = LoggerFactory.Create(b => b.AddProvider(new LogCapture()));
        return new SharedState(store, new ProxyOptions(), clock, factory.CreateLogger<SharedState>());
    }

    private static async Task WaitSharedAsync(SharedState state)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!(await state.ClaimAsync(CancellationToken.None)).Shared)
        {
            Assert.True(DateTime.UtcNow < deadline, "never shared");
            await Task.Delay(10);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met in time");
            await Task.Delay(10);
        }
    }
}
