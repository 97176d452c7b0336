using System.Buffers;
using AoaiProxy.Forwarding;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Forwarding;

public class PooledSegmentsTests
{
    private const int SegmentSize = PooledSegments.SegmentSize;

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 1)]
    [InlineData(SegmentSize, 1)]
    [InlineData(SegmentSize + 1, 2)]
    [InlineData((3 * SegmentSize) + 5, 4)]
    public void FreeSpace_FilledInReads_OneSegmentPer64KiB(int length, int segments)
    {
        var data = BodyBytes.Of(length);

        var body = BodyBytes.InSegments(data, readSize: 1_000);

        Assert.Equal(length, body.Length);
        Assert.Equal((long)segments * SegmentSize, body.Capacity);
        Assert.Equal(data, body.AsSequence().ToArray());
        body.Free();
    }

    [Fact]
    public void FreeSpace_LastSegmentPartlyFilled_ItsTail()
    {
        var body = new PooledSegments();
        body.FreeSpace().Span[..100].Fill(1);
        body.Advance(100);

        var space = body.FreeSpace();

        Assert.Equal(SegmentSize - 100, space.Length);
        Assert.Equal(SegmentSize, body.Capacity);
        body.Free();
    }

    [Theory]
    [InlineData(1, 16)]
    [InlineData(1_000, 1_024)]
    [InlineData(PooledSegments.CompactBelow, PooledSegments.CompactBelow)]
    public void Compact_SmallBody_AnArrayOfAboutItsSizeWithTheSameBytes(int length, int capacity)
    {
        var data = BodyBytes.Of(length);
        var body = BodyBytes.InSegments(data, readSize: length);

        body.Compact();

        Assert.InRange(body.Capacity, length, capacity);
        Assert.Equal(data, body.AsSequence().ToArray());
        body.Free();
    }

    [Theory]
    [InlineData(PooledSegments.CompactBelow + 1)]
    [InlineData(SegmentSize + 1)]
    public void Compact_LargerBody_KeepsItsSegments(int length)
    {
        var data = BodyBytes.Of(length);
        var body = BodyBytes.InSegments(data, readSize: SegmentSize);
        var capacity = body.Capacity;

        body.Compact();

        Assert.Equal(capacity, body.Capacity);
        Assert.Equal(data, body.AsSequence().ToArray());
        body.Free();
    }

    [Fact]
    public void Compact_EmptyBody_HoldsNothing()
    {
        var body = new PooledSegments();
        body.FreeSpace();

        body.Compact();

        Assert.Equal(0, body.Capacity);
        Assert.True(body.AsSequence().IsEmpty);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(0, (2 * SegmentSize) + 10)]
    [InlineData(5, 17)]
    [InlineData(SegmentSize - 3, SegmentSize + 3)]
    [InlineData(SegmentSize, 2 * SegmentSize)]
    [InlineData(SegmentSize + 1, (2 * SegmentSize) + 10)]
    public async Task CopyToAsync_Range_ExactlyThoseBytes(int from, int to)
    {
        var data = BodyBytes.Of((2 * SegmentSize) + 10);
        var body = BodyBytes.InSegments(data, readSize: 4_093);
        using var target = new MemoryStream();

        await body.CopyToAsync(target, from, to, CancellationToken.None);

        Assert.Equal(data[from..to], target.ToArray());
        body.Free();
    }

    [Fact]
    public void Free_ReturnsEverySegment_NothingHeldAfterwards()
    {
        var body = BodyBytes.InSegments(BodyBytes.Of((2 * SegmentSize) + 1), readSize: SegmentSize);

        body.Free();
        body.Free();

        Assert.Equal(0, body.Capacity);
    }
}
