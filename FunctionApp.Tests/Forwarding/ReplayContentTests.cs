using AoaiProxy.Forwarding;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Forwarding;

public class ReplayContentTests
{
    [Theory]
    [InlineData(0, 0, "")]
    [InlineData(0, 3, "##")]
    [InlineData(95, 5, "#####")]
    [InlineData(40, 10, "")]
    public async Task SerializeToStreamAsync_WithEdit_ReplacedRangeAndItsLength(int start, int removed, string inserted)
    {
        var data = BodyBytes.Of(100);
        var store = BodyBytes.InSegments(data);
        var replacement = System.Text.Encoding.ASCII.GetBytes(inserted);
        using var content = new ReplayContent(store, new BodyLease(), new BodyEdit(start, removed, replacement));

        var sent = await content.ReadAsByteArrayAsync();

        Assert.Equal(data[..start].Concat(replacement).Concat(data[(start + removed)..]).ToArray(), sent);
        Assert.Equal(sent.Length, content.Headers.ContentLength);
        store.Free();
    }

    [Fact]
    public async Task SerializeToStreamAsync_TwiceAndBySeveralContents_SameBytes()
    {
        var data = BodyBytes.Of((2 * PooledSegments.SegmentSize) + 3);
        var store = BodyBytes.InSegments(data);
        var lease = new BodyLease();
        using var first = new ReplayContent(store, lease, null);
        using var second = new ReplayContent(store, lease, null);

        Assert.Equal(data, await BodyBytes.OfAsync(first));
        Assert.Equal(data, await BodyBytes.OfAsync(first));
        Assert.Equal(data, await BodyBytes.OfAsync(second));
        Assert.Equal(data.Length, first.Headers.ContentLength);
        store.Free();
    }

    [Fact]
    public async Task SerializeToStreamAsync_AfterRelease_RefusedAndNothingWritten()
    {
        var store = BodyBytes.InSegments(BodyBytes.Of(10));
        var lease = new BodyLease();
        Assert.True(lease.Release());
        await store.FreeAsync();
        using var content = new ReplayContent(store, lease, null);
        using var target = new MemoryStream();

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => content.CopyToAsync(target));

        Assert.IsType<ObjectDisposedException>(refused.InnerException);
        Assert.Equal(0, target.Length);
    }

    [Fact]
    public async Task SerializeToStreamAsync_ReleasedWhileSending_ThisSendFreesTheStoreWhenDone()
    {
        var data = BodyBytes.Of(1_000);
        var store = BodyBytes.InSegments(data);
        var lease = new BodyLease();
        using var content = new ReplayContent(store, lease, null);
        var target = new GatedStream();
        var sending = content.CopyToAsync(target);
        await target.FirstWrite.Task.WaitAsync(Wait.Patience);

        Assert.False(lease.Release());
        Assert.NotEqual(0, store.Capacity);
        target.Gate.SetResult();
        await sending.WaitAsync(Wait.Patience);

        Assert.Equal(data, target.ToArray());
        Assert.Equal(0, store.Capacity);
    }
}
