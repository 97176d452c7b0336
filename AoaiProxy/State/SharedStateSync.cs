using AoaiProxy.Configuration;
using Microsoft.Extensions.Hosting;

namespace AoaiProxy.State;

/// <summary>
/// The background loop that keeps the view current, started and stopped with the host: one <see cref="SyncRound"/>
/// at a time, then a wait, timed here.
/// <list type="bullet">
/// <item>While the instance has traffic, the next round comes after <see cref="ProxyOptions.StateSyncInterval"/> ± 10%
/// (so a fleet started together does not read and write the store in lock-step), or at once when woken (a cooldown to
/// publish, turns running low, a claim without a view).</item>
/// <item>After <see cref="IdleAfter"/> without a claim (and nothing left to publish) it sleeps until woken: an idle
/// instance makes no store traffic.</item>
/// <item>During an outage (<see cref="StoreOutage"/>) it only probes, every <see cref="StoreOutage.ProbeInterval"/>, so
/// a failing store is left alone.</item>
/// </list>
/// Claims waiting for a sync are released at the end of every round, and for good when it stops.
/// <para>
/// It runs for the host's whole lifetime: it starts before the host starts any service (<see cref="StartingAsync"/>: the
/// table creation begins at once, not with the first request) and stops once the host has stopped every service
/// (<see cref="StoppedAsync"/>), not in its own turn: a host stops its services in reverse order, and the Functions
/// worker registers its web server before the engine, so the loop would otherwise stop while the server still drains
/// requests (which may record cooldowns to publish).
/// </para>
/// </summary>
internal sealed class SharedStateSync : BackgroundService, IHostedLifecycleService
{
    /// <summary>Without a claim for this long the instance stops syncing; its next claim waits for a fresh view.</summary>
    internal static readonly TimeSpan IdleAfter = TimeSpan.FromSeconds(30);

    /// <summary>How much a sync interval varies either way (see the jitter parameter).</summary>
    private const double JitterShare = 0.1;

    // What a stopped loop waits on.
    private static readonly Task Never = new TaskCompletionSource().Task;

    private readonly SyncRound _round;
    private readonly StoreOutage _outage;
    private readonly SyncSignals _signals;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;
    private readonly Random _jitter;

    // Loop -> UntilWaitingAsync: what the loop waits on (completed while it runs a round), and a signal of each change.
    private Task _waitingOn = Task.CompletedTask;
    private TaskCompletionSource _waitChanged = NewSignal();

    /// <param name="round">One sync with the store.</param>
    /// <param name="outage">Whether the store is reachable (the loop only probes while it is not).</param>
    /// <param name="signals">Wake-ups and claim times from the requests; the end of each round back to them.</param>
    /// <param name="options">The sync interval.</param>
    /// <param name="time">The clock of every wait.</param>
    /// <param name="jitter">Spreads the instances' sync times (each wait is the interval ± 10%); seeded in simulations.</param>
    public SharedStateSync(SyncRound round, StoreOutage outage, SyncSignals signals, ProxyOptions options, TimeProvider time, Random jitter)
    {
        ArgumentNullException.ThrowIfNull(options);
        _round = round;
        _outage = outage;
        _signals = signals;
        _time = time;
        _interval = options.StateSyncInterval;
        _jitter = jitter;
    }

    /// <summary>
    /// Completes once the loop waits for its next round (for the interval, the probe interval or a wake-up) with
    /// nothing due yet, or has stopped: only then may a fake clock move on without racing the loop. For tests and
    /// simulations in virtual time (a round waiting for a store call on that clock is not waiting here).
    /// </summary>
    internal async Task UntilWaitingAsync()
    {
        while (true)
        {
            var changed = Volatile.Read(ref _waitChanged);
            if (!Volatile.Read(ref _waitingOn).IsCompleted)
            {
                return;
            }

            await changed.Task.ConfigureAwait(false);
        }
    }

    /// <summary>Starts the loop (its first round begins in the background) before the host starts any service.</summary>
    public Task StartingAsync(CancellationToken cancellationToken) => base.StartAsync(cancellationToken);

    /// <summary>Nothing more: the loop started in <see cref="StartingAsync"/>.</summary>
    public override Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Nothing yet: the loop outlives the other services (see <see cref="StoppedAsync"/>).</summary>
    public override Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Stops the loop once every service of the host has stopped, and releases the claims waiting for a sync.</summary>
    public Task StoppedAsync(CancellationToken cancellationToken) => base.StopAsync(cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var outcome = await _round.RunAsync(stoppingToken).ConfigureAwait(false);
                _outage.Record(outcome);
                _signals.SyncEnded();
                await WaitForWorkAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            // Nobody waits forever for a sync that will not come.
            _signals.Release();
            WaitOn(Never);
        }
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Waits for the next round: the interval while the instance has traffic, a wake-up (publish, refill, a claim without
    /// a view), or, during an outage, only the probe interval, so a failing store is left alone.
    /// </summary>
    private async Task WaitForWorkAsync(CancellationToken stopping)
    {
        var wake = _signals.WakeSignal;
        if (_outage.InOutage)
        {
            var probe = NewSignal();
            using var due = DueAfter(StoreOutage.ProbeInterval, probe);
            await WaitAsync(probe.Task, stopping).ConfigureAwait(false);
        }
        else if (IsActive())
        {
            using var due = DueAfter(NextInterval(), wake);
            await WaitAsync(wake.Task, stopping).ConfigureAwait(false);
        }
        else
        {
            _signals.Sleep();
            try
            {
                if (!IsActive())
                {
                    await WaitAsync(wake.Task, stopping).ConfigureAwait(false);
                }
            }
            finally
            {
                _signals.Awake();
            }
        }

        _signals.Consumed(wake);
    }

    /// <summary>Completes <paramref name="signal"/> after <paramref name="delay"/> unless disposed first.</summary>
    private ITimer DueAfter(TimeSpan delay, TaskCompletionSource signal) =>
        _time.CreateTimer(static s => ((TaskCompletionSource)s!).TrySetResult(), signal, delay, Timeout.InfiniteTimeSpan);

    private async Task WaitAsync(Task wait, CancellationToken stopping)
    {
        WaitOn(wait);
        await wait.WaitAsync(stopping).ConfigureAwait(false);
    }

    private void WaitOn(Task wait)
    {
        Volatile.Write(ref _waitingOn, wait);
        Interlocked.Exchange(ref _waitChanged, NewSignal()).TrySetResult();
    }

    private TimeSpan NextInterval()
    {
        double factor;
        lock (_jitter)
        {
            factor = 1 + (JitterShare * ((2 * _jitter.NextDouble()) - 1));
        }

        return _interval * factor;
    }

    private bool IsActive() => _round.HasUnwritten || _time.GetElapsedTime(_signals.LastClaimTimestamp) < IdleAfter;
}
