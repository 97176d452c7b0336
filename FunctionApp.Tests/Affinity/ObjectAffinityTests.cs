using AoaiProxy.Affinity;
using AoaiProxy.Configuration;
using AoaiProxy.Tests.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AoaiProxy.Tests.Affinity;

public class ObjectAffinityTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
    private readonly SwitchableObjectStore _store = new();

    [Fact]
    public async Task OwnerAsync_Recorded_CachedWithoutStoreLookup()
    {
        using var affinity = Create();
        await affinity.RecordAsync("file-1", "a");

        Assert.Equal("a", await affinity.OwnerAsync("file-1", CancellationToken.None));
        Assert.Equal(0, _store.Lookups);
    }

    [Fact]
    public async Task OwnerAsync_RecordedByAnotherInstance_OneLookupThenCached()
    {
        using var other = Create();
        using var affinity = Create();
        await other.RecordAsync("resp_1", "b");

        Assert.Equal("b", await affinity.OwnerAsync("resp_1", CancellationToken.None));
        Assert.Equal("b", await affinity.OwnerAsync("resp_1", CancellationToken.None));
        Assert.Equal(1, _store.Lookups);
    }

    [Fact]
    public async Task OwnerAsync_PastExpiry_Forgotten()
    {
        using var affinity = Create(expiry: TimeSpan.FromDays(1));
        await affinity.RecordAsync("file-1", "a");

        _time.Advance(TimeSpan.FromDays(1) + TimeSpan.FromSeconds(1));

        Assert.Null(await affinity.OwnerAsync("file-1", CancellationToken.None));
    }

    [Fact]
    public async Task ForgetAsync_Recorded_GoneHereAndInTheStore()
    {
        using var affinity = Create();
        await affinity.RecordAsync("file-1", "a");

        await affinity.ForgetAsync("file-1");

        Assert.Null(await affinity.OwnerAsync("file-1", CancellationToken.None));
        Assert.Null(await _store.Inner.GetAsync("file-1", CancellationToken.None));
    }

    [Fact]
    public async Task RecordAsync_StoreDown_ServedLocallyAndWrittenByTheRetryWhenBack()
    {
        using var affinity = Create();
        _store.Failing = true;

        await affinity.RecordAsync("file-1", "a");
        await affinity.RecordAsync("file-2", "b");
        await affinity.ForgetAsync("file-2");

        Assert.Equal("a", await affinity.OwnerAsync("file-1", CancellationToken.None));
        Assert.Null(await affinity.OwnerAsync("file-2", CancellationToken.None));
        Assert.Equal(2, affinity.PendingWrites);

        // The fake clock runs the retry timer's callback inside Advance, and the in-memory store answers at once: the retry
        // has written everything when Advance returns.
        _store.Failing = false;
        _time.Advance(ObjectAffinity.RetryInterval);
        Assert.Equal(0, affinity.PendingWrites);

        Assert.Equal("a", (await _store.Inner.GetAsync("file-1", CancellationToken.None))?.Backend);
        Assert.Null(await _store.Inner.GetAsync("file-2", CancellationToken.None));
    }

    [Fact]
    public async Task OwnerAsync_StoreDownForAnUnknownId_NullWithoutThrowing()
    {
        using var affinity = Create();
        _store.Failing = true;

        Assert.Null(await affinity.OwnerAsync("file-unknown", CancellationToken.None));
    }

    private ObjectAffinity Create(TimeSpan? expiry = null) =>
        new(new ProxyOptions { AffinityExpiry = expiry ?? ProxyOptions.DefaultAffinityExpiry }, _store, _time, NullLogger<ObjectAffinity>.Instance);
}
