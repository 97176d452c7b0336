namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// A clock that moves only when told. Its timestamp frequency is deliberately odd (neither ticks nor a power of ten),
/// so code that mixes up timestamp units and <see cref="TimeSpan"/> ticks fails visibly. Timers are not faked.
/// </summary>
public sealed class ManualTimeProvider(DateTimeOffset start) : TimeProvider
{
    /// <summary>Timestamp units per second.</summary>
    public const long Frequency = 3_000_017;

    private readonly Lock _gate = new();
    private DateTimeOffset _now = start;
    private long _timestamp;

    public override long TimestampFrequency => Frequency;

    public override DateTimeOffset GetUtcNow()
    {
        lock (_gate)
        {
            return _now;
        }
    }

    public override long GetTimestamp()
    {
        lock (_gate)
        {
            return _timestamp;
        }
    }

    public void Advance(TimeSpan by)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
        lock (_gate)
        {
            _now += by;
            _timestamp += (long)(by.TotalSeconds * Frequency);
        }
    }
}
