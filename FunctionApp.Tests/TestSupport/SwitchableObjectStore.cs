using AoaiProxy.Affinity;
using AoaiProxy.State;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>
/// A real in-memory object store whose availability a test switches: while <see cref="Failing"/>, every call fails as a
/// store that does not answer does (<see cref="StateStoreException"/>). Counts lookups.
/// </summary>
internal sealed class SwitchableObjectStore : IObjectStore
{
    private int _lookups;

    public InMemoryObjectStore Inner { get; } = new();

    public volatile bool Failing;

    public int Lookups => Volatile.Read(ref _lookups);

    public string Description => "switchable";

    public Task<ObjectRecord?> GetAsync(string id, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _lookups);
        return Failing ? throw new StateStoreException("down") : Inner.GetAsync(id, cancellationToken);
    }

    public Task PutAsync(string id, ObjectRecord record, CancellationToken cancellationToken) =>
        Failing ? throw new StateStoreException("down") : Inner.PutAsync(id, record, cancellationToken);

    public Task DeleteAsync(string id, CancellationToken cancellationToken) =>
        Failing ? throw new StateStoreException("down") : Inner.DeleteAsync(id, cancellationToken);
}
