using System.Collections.Immutable;

namespace AoaiProxy.State;

/// <summary>
/// What one read of the store gave: the round-robin cursor (the first turn nobody has claimed) and the published
/// cooldowns, each with the version to compare-and-swap against. A null ETag means that item was never written.
/// </summary>
internal readonly record struct StoreRead(
    long Cursor, string? CursorETag, ImmutableDictionary<string, Cooldown> Cooldowns, string? CooldownsETag)
{
    public static ImmutableDictionary<string, Cooldown> NoCooldowns { get; } =
        ImmutableDictionary<string, Cooldown>.Empty.WithComparers(StringComparer.Ordinal);

    /// <summary>A store that holds nothing yet.</summary>
    public static StoreRead Empty { get; } = new(0, null, NoCooldowns, null);
}

/// <summary>Outcome of a conditional write.</summary>
internal enum WriteOutcome
{
    /// <summary>Stored; <see cref="StoreWrite.ETag"/> is the new version.</summary>
    Written = 0,

    /// <summary>Someone else wrote first (ETag mismatch, or the item already exists on insert). Re-read and retry.</summary>
    Conflict = 1,
}

/// <summary>Result of a conditional write.</summary>
internal readonly record struct StoreWrite(WriteOutcome Outcome, string? ETag);

/// <summary>Raised by a store for anything but a version conflict (network, auth, server errors, bad answers).</summary>
internal sealed class StateStoreException : Exception
{
    public StateStoreException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// Where the shared state lives: two small items, the cursor and the cooldowns, each updated only by compare-and-swap.
/// They are separate so that claiming turns (frequent) and publishing cooldowns (rare) do not conflict with each other.
/// Implementations: in-memory (one instance) and Azure Table Storage. They do no retries and no waiting of their own:
/// the caller owns the time budget through the cancellation token. Every failure but a lost race is a
/// <see cref="StateStoreException"/>, except the caller's own cancellation, which stays an OperationCanceledException.
/// </summary>
internal interface IStateStore
{
    /// <summary>Where the state lives, for logs. Never contains a secret.</summary>
    string Description { get; }

    /// <summary>Creates the backing table if missing. Idempotent.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Reads the cursor and the cooldowns, with their versions, in one store operation.</summary>
    Task<StoreRead> ReadAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Stores <paramref name="cursor"/> if the stored version is <paramref name="ifMatchETag"/>; with a null ETag, only
    /// if no cursor is stored yet. A lost race is <see cref="WriteOutcome.Conflict"/>, not an exception.
    /// </summary>
    Task<StoreWrite> WriteCursorAsync(long cursor, string? ifMatchETag, CancellationToken cancellationToken);

    /// <summary>Stores the whole cooldown map under the same compare-and-swap rule as <see cref="WriteCursorAsync"/>.</summary>
    Task<StoreWrite> WriteCooldownsAsync(ImmutableDictionary<string, Cooldown> cooldowns, string? ifMatchETag, CancellationToken cancellationToken);
}
