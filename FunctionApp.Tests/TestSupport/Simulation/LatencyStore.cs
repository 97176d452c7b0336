using System.Collections.Immutable;
using AoaiProxy.State;

namespace AoaiProxy.Tests.TestSupport.Simulation;

/// <summary>
/// A store with Azure-Table-like latency in front of a real one: every operation waits a log-normal delay with the given
/// median and 99th percentile (on the given clock) before it reaches <paramref name="inner"/>. Counts operations.
/// </summary>
internal sealed class LatencyStore(IStateStore inner, TimeProvider time, double medianMs, double p99Ms, int seed) : IStateStore
{
    // z of the 99th percentile of the standard normal distribution.
    private const double Z99 = 2.3263478740408408;

    private readonly Lock _gate = new();
    private readonly Random _random = new(seed);
    private readonly double _mu = Math.Log(Math.Max(medianMs, 1e-9));
    private readonly double _sigma = medianMs <= 0 ? 0 : Math.Log(Math.Max(p99Ms, medianMs) / medianMs) / Z99;
    private readonly bool _instant = medianMs <= 0;
    private long _operations;
    private long _reads;
    private long _cursorWrites;
    private long _cooldownWrites;

    public long Operations => Interlocked.Read(ref _operations);

    /// <summary>Reads, cursor writes and cooldown writes so far.</summary>
    public (long Reads, long CursorWrites, long CooldownWrites) ByKind =>
        (Interlocked.Read(ref _reads), Interlocked.Read(ref _cursorWrites), Interlocked.Read(ref _cooldownWrites));

    public string Description => "latency-injected " + inner.Description;

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await DelayAsync(cancellationToken);
        await inner.InitializeAsync(cancellationToken);
    }

    public async Task<StoreRead> ReadAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _reads);
        await DelayAsync(cancellationToken);
        return await inner.ReadAsync(cancellationToken);
    }

    public async Task<StoreWrite> WriteCursorAsync(long cursor, string? ifMatchETag, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _cursorWrites);
        await DelayAsync(cancellationToken);
        return await inner.WriteCursorAsync(cursor, ifMatchETag, cancellationToken);
    }

    public async Task<StoreWrite> WriteCooldownsAsync(ImmutableDictionary<string, Cooldown> cooldowns, string? ifMatchETag, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _cooldownWrites);
        await DelayAsync(cancellationToken);
        return await inner.WriteCooldownsAsync(cooldowns, ifMatchETag, cancellationToken);
    }

    private Task DelayAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _operations);
        if (_instant)
        {
            return Task.CompletedTask;
        }

        double normal;
        lock (_gate)
        {
            // Box-Muller.
            var u1 = 1.0 - _random.NextDouble();
            var u2 = _random.NextDouble();
            normal = Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
        }

        return Task.Delay(TimeSpan.FromMilliseconds(Math.Exp(_mu + _sigma * normal)), time, cancellationToken);
    }
}
