using AoaiProxy.Configuration;
using AoaiProxy.State;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// One instance's shared state over a store, on a manual clock, wired as the engine wires it
/// (<see cref="SharedStateParts.Create"/>), with captured logs. Time moves only when a test says so, and only once the
/// loop waits (<see cref="SharedStateSync.UntilWaitingAsync"/>), so no test sleeps to let the loop run.
/// </summary>
internal sealed class SharedStateHarness : IAsyncDisposable
{
    /// <summary>How long a test waits for what must happen at once (on the real clock: a guard, not a pause).</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    /// <summary>Past the longest jittered sync interval (the interval + 10%).</summary>
    public static readonly TimeSpan OneSync = ProxyOptions.DefaultStateSyncInterval * 1.2;

    private readonly ILoggerFactory _loggers;

    public SharedStateHarness(IStateStore store, ManualTimeProvider? clock = null, LogCapture? logs = null, ProxyOptions? options = null, Random? jitter = null)
    {
        Clock = clock ?? new ManualTimeProvider();
        Logs = logs ?? new LogCapture();
        _loggers = LoggerFactory.Create(b => b.AddProvider(Logs));
        Parts = SharedStateParts.Create(store, options ?? new ProxyOptions(), Clock, _loggers.CreateLogger<SharedState>(), jitter);
    }

    public SharedStateParts Parts { get; }

    public SharedState State => Parts.View;

    public SharedStateSync Sync => Parts.Sync;

    public ManualTimeProvider Clock { get; }

    public LogCapture Logs { get; }

    /// <summary>Starts the loop, as the host does before starting its services; its first round begins in the background.</summary>
    public Task StartAsync() => Sync.StartingAsync(CancellationToken.None);

    /// <summary>Starts the loop and waits for its first round to end.</summary>
    public async Task StartSyncedAsync()
    {
        await StartAsync();
        await UntilWaitingAsync();
    }

    /// <summary>Waits until the loop has done what is due and waits for time or a wake-up.</summary>
    public Task UntilWaitingAsync() => Sync.UntilWaitingAsync().WaitAsync(Patience);

    /// <summary>Once the loop waits, moves the clock on and waits until the loop has done what that made due.</summary>
    public async Task AdvanceAsync(TimeSpan by)
    {
        await UntilWaitingAsync();
        Clock.Advance(by);
        await UntilWaitingAsync();
    }

    /// <summary>Moves the clock on one sync at a time until the loop sleeps for want of claims.</summary>
    public async Task IdleAsync()
    {
        await UntilWaitingAsync();
        var steps = 2 * (int)(SharedStateSync.IdleAfter / OneSync) + 2;
        for (var step = 0; step < steps && !Parts.Signals.Sleeping; step++)
        {
            await AdvanceAsync(OneSync);
        }

        Assert.True(Parts.Signals.Sleeping, "the loop did not go idle");
    }

    /// <summary>Stops the loop as the host does once its services have stopped, then disposes as the container does.</summary>
    public async ValueTask DisposeAsync()
    {
        await Sync.StoppedAsync(CancellationToken.None).WaitAsync(Patience);
        Sync.Dispose();
        await State.DisposeAsync();
        _loggers.Dispose();
    }
}
