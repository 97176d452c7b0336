using System.Text;
using AoaiProxy.Affinity;
using AoaiProxy.Configuration;
using AoaiProxy.Forwarding;
using AoaiProxy.Pipeline;
using AoaiProxy.Routing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace AoaiProxy.Tests.Pipeline;

public sealed class ObjectRouterTests
{
    /// <summary>
    /// While the object store does not answer, a request naming several ids the instance has not
    /// cached waits for it once (Proxy:State:TimeoutMilliseconds), not once per id: a Responses request with ten input
    /// files would otherwise wait ten budgets before it is sent.
    /// </summary>
    [Fact]
    public async Task RouteAsync_StoreNotAnsweringAndSeveralUnknownIds_LooksUpOnce()
    {
        var options = new ProxyOptions
        {
            StateTimeout = TimeSpan.FromMilliseconds(20),
            Backends = [new BackendOptions("a", new Uri("http://127.0.0.1:1/"), ProxyOptions.DefaultPriority, ProxyOptions.DefaultWeight)],
        };
        var store = new HangingStore();
        using var affinity = new ObjectAffinity(options, store, new FakeTimeProvider(), NullLogger<ObjectAffinity>.Instance);
        var router = new ObjectRouter(options, affinity, TimeProvider.System, NullLogger.Instance);
        var context = new DefaultHttpContext();
        context.Request.Method = "POST";
        context.Request.ContentType = "application/json";
        var json = """{"model":"gpt-4o","input":[{"type":"input_file","file_id":"file-1"},{"type":"input_file","file_id":"file-2"}],"previous_response_id":"resp_1","conversation":"conv_1"}""";
        var read = await RequestBody.ReadAsync(new MemoryStream(Encoding.UTF8.GetBytes(json)), 1 << 20, CancellationToken.None);
        await using var body = read.Body!;

        var route = await router.RouteAsync(context.Request, new ProxyPath("/openai/v1/responses", null, IsV1: true), body, CancellationToken.None);

        Assert.Equal(4, route.Ids.Count);
        Assert.True(route.Probing);
        Assert.Equal(1, store.Lookups);
    }

    /// <summary>
    /// A later list page names its cursor (after=file-x), and a backend answers a list with 200 whether or not it holds
    /// that object, so the answer proves nothing about where file-x is and it is not recorded there: that would send every
    /// later request for file-x (its content, a batch reading it) to a backend that answers 404, for the whole expiry.
    /// </summary>
    [Fact]
    public async Task RememberAsync_ListPageAfterAnUnknownCursor_CursorNotRecordedOnThatBackend()
    {
        var options = new ProxyOptions
        {
            Backends = [new BackendOptions("a", new Uri("http://127.0.0.1:1/"), ProxyOptions.DefaultPriority, ProxyOptions.DefaultWeight)],
        };
        using var affinity = new ObjectAffinity(options, new InMemoryObjectStore(), new FakeTimeProvider(), NullLogger<ObjectAffinity>.Instance);
        var router = new ObjectRouter(options, affinity, TimeProvider.System, NullLogger.Instance);
        var context = new DefaultHttpContext();
        context.Request.Method = "GET";
        var read = await RequestBody.ReadAsync(new MemoryStream(), 1 << 20, CancellationToken.None);
        await using var body = read.Body!;
        var route = await router.RouteAsync(context.Request, new ProxyPath("/openai/v1/files?after=file-x&limit=2", null, IsV1: true), body, CancellationToken.None);
        await router.RememberAsync(options.Backends[0], 1, route, null);

        Assert.Null(affinity.Cached("file-x"));
    }

    /// <summary>A store that never answers: every lookup ends at the caller's budget.</summary>
    private sealed class HangingStore : IObjectStore
    {
        private int _lookups;

        public int Lookups => Volatile.Read(ref _lookups);

        public string Description => "hanging";

        public async Task<ObjectRecord?> GetAsync(string id, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _lookups);
            await Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
            return null;
        }

        public Task PutAsync(string id, ObjectRecord record, CancellationToken cancellationToken) => Task.CompletedTask;

        public Task DeleteAsync(string id, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
