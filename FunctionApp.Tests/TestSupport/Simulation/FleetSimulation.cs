using System.Diagnostics;
using AoaiProxy.Configuration;
using AoaiProxy.State;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AoaiProxy.Tests.TestSupport.Simulation;

/// <summary>One cell of the fleet simulation.</summary>
/// <param name="Instances">K: proxy instances, each with its own <see cref="SharedState"/>, over one store.</param>
/// <param name="ClaimsPerSecond">R: open-loop Poisson arrivals per second, each to an instance chosen at random.</param>
/// <param name="Requests">Measured arrivals (after the warm-up).</param>
/// <param name="Warmup">Arrivals at the same rate before measuring, so every instance reaches steady state.</param>
/// <param name="LatencyMedianMs">Median store latency per operation (0: instant).</param>
/// <param name="LatencyP99Ms">99th percentile store latency per operation.</param>
/// <param name="Backends">Backends of equal weight the turns rotate over (turn modulo this count, as the planner does).</param>
internal sealed record FleetOptions(
    int Instances, double ClaimsPerSecond, int Requests = 3000, TimeSpan? Warmup = null,
    double LatencyMedianMs = 8, double LatencyP99Ms = 25, int Backends = 3, int Seed = 1,
    TimeSpan? StateTimeout = null, TimeSpan? SyncInterval = null);

/// <summary>What one cell measured.</summary>
/// <param name="LocalShare">Share of measured claims served with a turn of the instance alone (not shared).</param>
/// <param name="WaitedShare">Share of measured claims that waited for the store.</param>
/// <param name="AddedP99Ms">99th percentile of the time a claim took (real clock only; 0 in virtual time).</param>
/// <param name="StoreOpsPerRequest">Store operations during the measured window per measured claim.</param>
/// <param name="StoreOpsPerInstanceSecond">The same per instance and second.</param>
/// <param name="DuplicateTurns">Measured turns handed out more than once (across all instances).</param>
/// <param name="GlobalMaxMin">Most-used backend's count over least-used backend's, over the measured claims.</param>
/// <param name="WindowP99MaxMin">p99 of max/min over sliding windows of 30 claims in arrival order.</param>
/// <param name="TurnWindowP99MaxMin">The same over the measured turns in turn order (the shared rotation itself).</param>
/// <param name="CooldownP99Ms">p99 over instances of the time until a cooldown recorded on one is in every other's view.</param>
/// <param name="CooldownMaxMs">The slowest instance.</param>
/// <param name="CooldownMissing">Instances that had not seen it after 10 s.</param>
internal sealed record FleetResult(
    FleetOptions Options, int Requests, double LocalShare, double WaitedShare, double AddedP99Ms, double StoreOpsPerRequest,
    double StoreOpsPerInstanceSecond, int DuplicateTurns, double GlobalMaxMin, double WindowP99MaxMin, double TurnWindowP99MaxMin,
    double CooldownP99Ms, double CooldownMaxMs, int CooldownMissing, string StoreOpsByKind = "");

/// <summary>
/// K proxy instances in one process, each with its own <see cref="SharedState"/>, over one compare-and-swap store with
/// injected latency, fed by open-loop Poisson arrivals. Runs on the real clock (the benchmark: latencies are real) or on
/// a <see cref="FakeTimeProvider"/> (tests: counts only, time moved in steps).
/// </summary>
internal static class FleetSimulation
{
    private const int Window = 30;
    private const string CooldownKey = "b0/chat";
    private static readonly TimeSpan CooldownPatience = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan VirtualStep = TimeSpan.FromMilliseconds(5);

    public static async Task<FleetResult> RunAsync(FleetOptions options, FakeTimeProvider? virtualClock = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        // In virtual time every step waits until the instances' loops wait again, which a round waiting for a store
        // call on that same clock never does.
        if (virtualClock is not null && options.LatencyMedianMs > 0)
        {
            throw new ArgumentException("A simulation in virtual time needs an instant store (LatencyMedianMs 0).", nameof(options));
        }

        TimeProvider time = virtualClock ?? TimeProvider.System;
        var proxyOptions = new ProxyOptions
        {
            StateTimeout = options.StateTimeout ?? ProxyOptions.DefaultStateTimeout,
            StateSyncInterval = options.SyncInterval ?? ProxyOptions.DefaultStateSyncInterval,
        };
        var store = new LatencyStore(new InMemoryStateStore(), time, options.LatencyMedianMs, options.LatencyP99Ms, options.Seed);
        var instances = Enumerable.Range(0, options.Instances)
            .Select(i => SharedStateParts.Create(store, proxyOptions, time, NullLogger<SharedState>.Instance, new Random(options.Seed + i + 1)))
            .ToArray();
        var states = instances.Select(i => i.View).ToArray();
        foreach (var instance in instances)
        {
            await instance.Sync.StartingAsync(CancellationToken.None);
        }

        try
        {
            var random = new Random(options.Seed);
            var warmup = (int)Math.Round((options.Warmup ?? TimeSpan.FromSeconds(5)).TotalSeconds * options.ClaimsPerSecond);
            var total = warmup + options.Requests;

            // Arrival times (seconds from the start) and instances, drawn up front from the seed.
            var arrivals = new (double At, int Instance)[total];
            var at = 0.0;
            for (var i = 0; i < total; i++)
            {
                at += -Math.Log(1.0 - random.NextDouble()) / options.ClaimsPerSecond;
                arrivals[i] = (at, random.Next(options.Instances));
            }

            var claims = new ClaimRecord[total];
            var pending = new List<Task>();
            var start = Stopwatch.GetTimestamp();
            long opsAtMeasureStart = 0;
            var kindsAtMeasureStart = (Reads: 0L, CursorWrites: 0L, CooldownWrites: 0L);
            double measureStartSeconds = 0;
            CooldownProbe? cooldownProbe = null;
            Task? cooldownPolling = null;
            var probeAt = warmup + options.Requests / 2;
            var stepper = new Stepper(virtualClock, instances, pending);
            for (var i = 0; i < total; i++)
            {
                await stepper.UntilAsync(arrivals[i].At, start, cooldownProbe);
                if (i == warmup)
                {
                    opsAtMeasureStart = store.Operations;
                    kindsAtMeasureStart = store.ByKind;
                    measureStartSeconds = Elapsed(start, virtualClock);
                }

                if (i == probeAt)
                {
                    cooldownProbe = new CooldownProbe(states, time);
                    // On the real clock it is polled every 2 ms; in virtual time after every step of the clock.
                    cooldownPolling = virtualClock is null ? cooldownProbe.PollAsync() : null;
                }

                var index = i;
                var state = states[arrivals[i].Instance];
                var began = Stopwatch.GetTimestamp();
                var claim = state.ClaimAsync(CancellationToken.None);
                if (claim.IsCompletedSuccessfully)
                {
                    claims[i] = new ClaimRecord(claim.Result, Stopwatch.GetElapsedTime(began), Waited: false);
                }
                else
                {
                    pending.Add(CompleteAsync(claim, index, began, claims));
                }
            }

            // Store operations are counted over the arrivals' window only.
            var measuredSeconds = Elapsed(start, virtualClock) - measureStartSeconds;
            var ops = store.Operations - opsAtMeasureStart;
            var kinds = store.ByKind;

            // Virtual time moves only here: keep it moving until the stragglers and the cooldown probe are done.
            while (pending.Exists(p => !p.IsCompleted) || cooldownProbe is { Done: false })
            {
                await stepper.StepAsync(cooldownProbe);
            }

            await Task.WhenAll(pending);
            if (cooldownPolling is not null)
            {
                await cooldownPolling;
            }

            var (delays, missing) = cooldownProbe is null ? ([], 0) : cooldownProbe.Result;
            var byKind = $"reads {kinds.Reads - kindsAtMeasureStart.Reads}, cursor writes {kinds.CursorWrites - kindsAtMeasureStart.CursorWrites}, " +
                $"cooldown writes {kinds.CooldownWrites - kindsAtMeasureStart.CooldownWrites} in {measuredSeconds:0.00} s";
            return Summarize(options, claims.AsSpan(warmup).ToArray(), ops, measuredSeconds, delays, missing) with { StoreOpsByKind = byKind };
        }
        finally
        {
            foreach (var instance in instances)
            {
                await instance.Sync.StoppedAsync(CancellationToken.None);
                instance.Sync.Dispose();
                await instance.View.DisposeAsync();
            }
        }
    }

    private static async Task CompleteAsync(ValueTask<TurnClaim> claim, int index, long began, ClaimRecord[] claims)
    {
        var result = await claim;
        claims[index] = new ClaimRecord(result, Stopwatch.GetElapsedTime(began), Waited: true);
    }

    private static FleetResult Summarize(FleetOptions options, ClaimRecord[] measured, long ops, double seconds, double[] cooldownDelays, int cooldownMissing)
    {
        var n = measured.Length;
        var turns = measured.Select(c => c.Claim.Turn).ToArray();
        var duplicates = n - turns.Distinct().Count();
        var backendOf = turns.Select(t => (int)(((t % options.Backends) + options.Backends) % options.Backends)).ToArray();
        var inTurnOrder = turns.Order().Select(t => (int)(((t % options.Backends) + options.Backends) % options.Backends)).ToArray();
        return new FleetResult(
            options,
            n,
            LocalShare: measured.Count(c => !c.Claim.Shared) / (double)n,
            WaitedShare: measured.Count(c => c.Waited) / (double)n,
            AddedP99Ms: Percentile(measured.Select(c => c.Took.TotalMilliseconds), 0.99),
            StoreOpsPerRequest: ops / (double)n,
            StoreOpsPerInstanceSecond: seconds > 0 ? ops / seconds / options.Instances : 0,
            DuplicateTurns: duplicates,
            GlobalMaxMin: MaxMin(backendOf, 0, n, options.Backends),
            WindowP99MaxMin: WindowP99(backendOf, options.Backends),
            TurnWindowP99MaxMin: WindowP99(inTurnOrder, options.Backends),
            CooldownP99Ms: cooldownDelays.Length == 0 ? 0 : Percentile(cooldownDelays, 0.99),
            CooldownMaxMs: cooldownDelays.Length == 0 ? 0 : cooldownDelays.Max(),
            CooldownMissing: cooldownMissing);
    }

    private static double WindowP99(int[] backends, int count)
    {
        if (backends.Length < Window)
        {
            return MaxMin(backends, 0, backends.Length, count);
        }

        var ratios = new List<double>();
        for (var i = 0; i + Window <= backends.Length; i++)
        {
            ratios.Add(MaxMin(backends, i, Window, count));
        }

        return Percentile(ratios, 0.99);
    }

    /// <summary>Max over min of the per-backend counts in [start, start + length); a backend with none counts as 1 (bounded).</summary>
    private static double MaxMin(int[] backends, int start, int length, int count)
    {
        var counts = new int[count];
        for (var i = start; i < start + length; i++)
        {
            counts[backends[i]]++;
        }

        return counts.Max() / (double)Math.Max(1, counts.Min());
    }

    private static double Percentile(IEnumerable<double> values, double p)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }

    private static double Elapsed(long start, FakeTimeProvider? virtualClock) =>
        virtualClock is null ? Stopwatch.GetElapsedTime(start).TotalSeconds : (virtualClock.GetUtcNow() - virtualClock.Start).TotalSeconds;

    /// <summary>
    /// Moves time on. Real clock: sleeps until the next arrival (bursts of due arrivals go at once). Virtual: steps the
    /// clock, and after each step waits until every instance's loop has done what the step made due and the claims
    /// those loops released have completed, so no step races the instances (nothing here sleeps on the real clock).
    /// </summary>
    private sealed class Stepper(FakeTimeProvider? virtualClock, SharedStateParts[] instances, List<Task> pending)
    {
        public async Task UntilAsync(double atSeconds, long start, CooldownProbe? probe)
        {
            if (virtualClock is null)
            {
                var wait = atSeconds - Stopwatch.GetElapsedTime(start).TotalSeconds;
                if (wait > 0.002)
                {
                    await Task.Delay(TimeSpan.FromSeconds(wait));
                }

                return;
            }

            while ((virtualClock.GetUtcNow() - virtualClock.Start).TotalSeconds < atSeconds)
            {
                await StepAsync(probe);
            }
        }

        public async Task StepAsync(CooldownProbe? probe)
        {
            if (virtualClock is null)
            {
                await Task.Delay(1);
                return;
            }

            virtualClock.Advance(VirtualStep);
            await SettleAsync();
            probe?.Check();
        }

        /// <summary>
        /// With an instant store no loop and no claim needs time to go on: a claim waiting for a sync has woken its
        /// loop, whose round (and at most one more) releases it. So each settles before the clock moves again.
        /// </summary>
        private async Task SettleAsync()
        {
            while (true)
            {
                foreach (var instance in instances)
                {
                    await instance.Sync.UntilWaitingAsync();
                }

                var waiting = pending.FindAll(p => !p.IsCompleted);
                if (waiting.Count == 0)
                {
                    return;
                }

                await Task.WhenAll(waiting);
            }
        }
    }

    /// <summary>Records a cooldown on instance 0 and measures when each other instance has it in its view.</summary>
    private sealed class CooldownProbe
    {
        private readonly SharedState[] _states;
        private readonly TimeProvider _time;
        private readonly long _recorded;
        private readonly double?[] _seen;

        public CooldownProbe(SharedState[] states, TimeProvider time)
        {
            _states = states;
            _time = time;
            _recorded = time.GetTimestamp();
            states[0].RecordCooldown(CooldownKey, new Cooldown(time.GetUtcNow() + TimeSpan.FromMinutes(5), CooldownReason.Throttled));
            _seen = new double?[states.Length];
            _seen[0] = 0;
        }

        public bool Done => Array.TrueForAll(_seen, s => s is not null) || _time.GetElapsedTime(_recorded) >= CooldownPatience;

        public (double[] Delays, int Missing) Result =>
            (_seen.Skip(1).Where(s => s is not null).Select(s => s!.Value).ToArray(), _seen.Count(s => s is null));

        public void Check()
        {
            for (var i = 1; i < _states.Length; i++)
            {
                if (_seen[i] is null && _states[i].Cooldowns.ContainsKey(CooldownKey))
                {
                    _seen[i] = _time.GetElapsedTime(_recorded).TotalMilliseconds;
                }
            }
        }

        public async Task PollAsync()
        {
            while (!Done)
            {
                Check();
                await Task.Delay(2);
            }
        }
    }

    private readonly record struct ClaimRecord(TurnClaim Claim, TimeSpan Took, bool Waited);
}
