using System.Collections.Immutable;
using System.Globalization;

namespace AoaiProxy.State;

/// <summary>
/// The state store of a single instance, used when no storage is configured. Same compare-and-swap contract as the
/// Table store, so the coordination logic above it is identical either way.
/// </summary>
internal sealed class InMemoryStateStore : IStateStore
{
    private readonly Lock _gate = new();
    private long _cursor;
    private ImmutableDictionary<string, Cooldown> _cooldowns = StoreRead.NoCooldowns;
    private long _cursorVersion;
    private long _cooldownsVersion;

    public string Description => "in-memory (this instance only)";

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<StoreRead> ReadAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return Task.FromResult(new StoreRead(_cursor, ETagOf(_cursorVersion), _cooldowns, ETagOf(_cooldownsVersion)));
        }
    }

    public Task<StoreWrite> WriteCursorAsync(long cursor, string? ifMatchETag, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (ifMatchETag != ETagOf(_cursorVersion))
            {
                return Task.FromResult(new StoreWrite(WriteOutcome.Conflict, null));
            }

            _cursor = cursor;
            return Task.FromResult(new StoreWrite(WriteOutcome.Written, ETagOf(++_cursorVersion)));
        }
    }

    public Task<StoreWrite> WriteCooldownsAsync(ImmutableDictionary<string, Cooldown> cooldowns, string? ifMatchETag, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cooldowns);
        lock (_gate)
        {
            if (ifMatchETag != ETagOf(_cooldownsVersion))
            {
                return Task.FromResult(new StoreWrite(WriteOutcome.Conflict, null));
            }

            _cooldowns = cooldowns;
            return Task.FromResult(new StoreWrite(WriteOutcome.Written, ETagOf(++_cooldownsVersion)));
        }
    }

    // Version 0 is "never written": a null ETag, as the Table store reports a missing entity.
    private static string? ETagOf(long version) => version == 0 ? null : version.ToString(CultureInfo.InvariantCulture);
}
