using System.Collections.Immutable;

namespace AoaiProxy.State;

/// <summary>Why a backend (or one of its deployments) is cooling down. Decides the status of an exhausted answer.</summary>
internal enum CooldownReason
{
    /// <summary>The backend answered 429: the cause of an exhausted answer is throttling (429).</summary>
    Throttled = 0,

    /// <summary>A 5xx/408 or a transport failure (502 when every candidate failed this way).</summary>
    Failed = 1,

    /// <summary>No response headers within the timeout (504 when every candidate failed this way).</summary>
    TimedOut = 2,
}

/// <summary>A deadline until which a cooldown key is skipped, and why.</summary>
internal readonly record struct Cooldown(DateTimeOffset Until, CooldownReason Reason);

/// <summary>
/// The whole shared state of all proxy instances: the round-robin cursor and every active cooldown, keyed by
/// <see cref="CooldownKeys"/>. One document, so one compare-and-swap covers both and a successful cursor claim proves
/// the local copy of the cooldowns is current.
/// </summary>
internal sealed record StateDocument(long Cursor, ImmutableDictionary<string, Cooldown> Cooldowns)
{
    public static StateDocument Empty { get; } = new(0, ImmutableDictionary<string, Cooldown>.Empty.WithComparers(StringComparer.Ordinal));
}

/// <summary>Result of reading the store: <see cref="Document"/> is null when nothing was stored yet.</summary>
internal readonly record struct StoreRead(StateDocument? Document, string? ETag);

/// <summary>Outcome of a conditional write.</summary>
internal enum WriteOutcome
{
    /// <summary>The document was stored; <see cref="StoreWrite.ETag"/> is its new version.</summary>
    Written = 0,

    /// <summary>Someone else wrote first (ETag mismatch, or the document already exists on insert). Re-read and retry.</summary>
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
/// Where the shared state lives. Implementations: in-memory (single instance) and Azure Table Storage (REST).
/// Implementations do no retries and no waiting of their own: the caller owns the time budget.
/// </summary>
internal interface IStateStore
{
    /// <summary>Where the state lives, for logs. Never contains a secret.</summary>
    string Description { get; }

    /// <summary>Creates the backing table/container if missing. Idempotent.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Reads the document and its version.</summary>
    Task<StoreRead> ReadAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Writes the whole document if its stored version is <paramref name="ifMatchETag"/>; with a null ETag, inserts it
    /// only if nothing is stored yet. A lost race is <see cref="WriteOutcome.Conflict"/>, not an exception.
    /// </summary>
    Task<StoreWrite> WriteAsync(StateDocument document, string? ifMatchETag, CancellationToken cancellationToken);
}

/// <summary>Cooldown keys: throttling is per deployment, transport failures per backend.</summary>
internal static class CooldownKeys
{
    /// <summary>Stands for "every deployment of this backend".</summary>
    public const string AnyDeployment = "*";

    public static string For(string backend, string? deployment) =>
        string.Concat(backend, "/", string.IsNullOrEmpty(deployment) ? AnyDeployment : deployment);

    public static string ForBackend(string backend) => For(backend, AnyDeployment);
}
