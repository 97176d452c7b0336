using System.Collections.Immutable;
using AoaiProxy.State;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>How a <see cref="ControllableStore"/> behaves right now.</summary>
internal enum StoreMode
{
    Healthy,
    Failing,
    Hanging,

    /// <summary>Never answers; cancelled, fails with a store error instead (as a connection torn down mid-call can).</summary>
    HangingThenFailing,

    /// <summary>Answers nothing until <see cref="ControllableStore.Release"/>, then as healthy.</summary>
    Held,
}

/// <summary>
/// A real store (in-memory unless given another) whose availability a test can switch: healthy, failing (throws) or
/// hanging (never answers until cancelled) or held (answers once released). Counts calls, so tests can assert what the
/// shared state costs, and signals each one, so a test moves a fake clock only once a call's budget is set.
/// </summary>
internal sealed class ControllableStore(IStateStore inner) : IStateStore
{
    private TaskCompletionSource _called = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _initializations;
    private int _reads;
    private int _cursorWrites;
    private int _cooldownWrites;

    public ControllableStore() : this(new InMemoryStateStore()) { }

    public StoreMode Mode { get; set; }

    public IStateStore Inner => inner;

    public int Initializations => Volatile.Read(ref _initializations);

    public int Reads => Volatile.Read(ref _reads);

    public int CursorWrites => Volatile.Read(ref _cursorWrites);

    public int CooldownWrites => Volatile.Read(ref _cooldownWrites);

    /// <summary>Every call that reached (or would have reached) the store.</summary>
    public int Operations => Initializations + Reads + CursorWrites + CooldownWrites;

    public string Description => "controllable " + inner.Description;

    /// <summary>Completes at the next call that reaches this store (the caller has set its time budget by then).</summary>
    public Task NextCall => Volatile.Read(ref _called).Task;

    /// <summary>Lets the calls held in <see cref="StoreMode.Held"/> go on, and later ones through at once.</summary>
    public void Release()
    {
        Mode = StoreMode.Healthy;
        _released.TrySetResult();
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _initializations);
        Called();
        await Gate(cancellationToken);
        await inner.InitializeAsync(cancellationToken);
    }

    public async Task<StoreRead> ReadAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        Called();
        await Gate(cancellationToken);
        return await inner.ReadAsync(cancellationToken);
    }

    public async Task<StoreWrite> WriteCursorAsync(long cursor, string? ifMatchETag, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _cursorWrites);
        Called();
        await Gate(cancellationToken);
        return await inner.WriteCursorAsync(cursor, ifMatchETag, cancellationToken);
    }

    public async Task<StoreWrite> WriteCooldownsAsync(ImmutableDictionary<string, Cooldown> cooldowns, string? ifMatchETag, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _cooldownWrites);
        Called();
        await Gate(cancellationToken);
        return await inner.WriteCooldownsAsync(cooldowns, ifMatchETag, cancellationToken);
    }

    private void Called() => Interlocked.Exchange(ref _called, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    private Task Gate(CancellationToken cancellationToken) => Mode switch
    {
        StoreMode.Failing => throw new StateStoreException("store is down (test)"),
        StoreMode.Hanging => Task.Delay(Timeout.Infinite, cancellationToken),
        StoreMode.HangingThenFailing => HangThenFailAsync(cancellationToken),
        StoreMode.Held => _released.Task.WaitAsync(cancellationToken),
        _ => Task.CompletedTask,
    };

    private static async Task HangThenFailAsync(CancellationToken cancellationToken)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            throw new StateStoreException("connection closed while cancelled (test)");
        }
    }
}
