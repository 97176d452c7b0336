using Microsoft.Extensions.Time.Testing;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// FakeTimeProvider (a clock that moves only when told to, timers fire as <c>Advance</c> passes them) with one addition:
/// a deliberately odd timestamp frequency (not ticks, not ns), so that code mixing up timestamp units and TimeSpan
/// ticks shows up in tests.
/// </summary>
internal sealed class ManualTimeProvider : FakeTimeProvider
{
    private const long Frequency = 7_919_993;

    public ManualTimeProvider(DateTimeOffset? start = null)
        : base(start ?? new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero))
    {
    }

    public override long TimestampFrequency => Frequency;

    public override long GetTimestamp() =>
        (long)((GetUtcNow() - Start).Ticks * ((double)Frequency / TimeSpan.TicksPerSecond));
}
