using AoaiProxy.Forwarding;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Forwarding;

/// <summary>Looks at the shared temp directory, so runs with the other body tests, alone.</summary>
[Collection(nameof(RequestBodyTests))]
public class SpillFileTests
{
    [Fact]
    public async Task CreateAsync_FromSegments_TheFileHoldsThemAndTheSegmentsAreFreed()
    {
        var before = BodyTempFiles.Now();
        var data = BodyBytes.Of((3 * PooledSegments.SegmentSize) + 7);
        var segments = BodyBytes.InSegments(data);

        var file = await SpillFile.CreateAsync(segments, CancellationToken.None);

        Assert.Equal(0, segments.Capacity);
        Assert.Equal(data.Length, file.Length);
        var path = Assert.Single(BodyTempFiles.Now().Except(before));
        await using (var reader = await file.OpenReaderAsync(CancellationToken.None))
        {
            Assert.Equal(data, await BodyBytes.OfAsync(reader));
        }

        await file.FreeAsync();
        Assert.False(File.Exists(path));
        await file.FreeAsync();
    }

    [Theory]
    [InlineData(0, 100)]
    [InlineData(10, 20)]
    [InlineData(99_990, 100_100)]
    [InlineData(0, 100_100)]
    public async Task CopyToAsync_AfterAppends_ExactlyThatRange(int from, int to)
    {
        var data = BodyBytes.Of(100_100);
        var file = await SpillFile.CreateAsync(BodyBytes.InSegments(data[..100]), CancellationToken.None);
        await file.AppendAsync(data.AsMemory(100, 50_000), CancellationToken.None);
        await file.AppendAsync(data.AsMemory(50_100), CancellationToken.None);
        using var target = new MemoryStream();

        await file.CopyToAsync(target, from, to, CancellationToken.None);

        Assert.Equal(data.Length, file.Length);
        Assert.Equal(data[from..to], target.ToArray());
        await file.FreeAsync();
    }

    [Fact]
    public async Task OpenReaderAsync_TwoReaders_EachHasItsOwnPosition()
    {
        var data = BodyBytes.Of(5_000);
        var file = await SpillFile.CreateAsync(BodyBytes.InSegments(data), CancellationToken.None);

        await using var first = await file.OpenReaderAsync(CancellationToken.None);
        await using var second = await file.OpenReaderAsync(CancellationToken.None);
        var head = new byte[100];
        await first.ReadExactlyAsync(head);

        Assert.Equal(data, await BodyBytes.OfAsync(second));
        Assert.Equal(data[100..], await BodyBytes.OfAsync(first));
        await file.FreeAsync();
    }

    [Fact]
    public async Task CopyToAsync_FileLost_StorageFailureKeptAndTheSendEnds()
    {
        var before = BodyTempFiles.Now();
        var file = await SpillFile.CreateAsync(BodyBytes.InSegments(BodyBytes.Of(1_000)), CancellationToken.None);
        File.Delete(Assert.Single(BodyTempFiles.Now().Except(before)));

        await Assert.ThrowsAsync<BodyFailedException>(() => file.CopyToAsync(Stream.Null, 0, file.Length, CancellationToken.None));

        Assert.Equal(BodyFailureKind.Storage, file.Failure?.Kind);
        await file.FreeAsync();
    }

    [Fact]
    public async Task CopyToAsync_BackendConnectionBreaks_ThrownAsItIsAndNoStorageFailure()
    {
        var file = await SpillFile.CreateAsync(BodyBytes.InSegments(BodyBytes.Of(1_000)), CancellationToken.None);

        await Assert.ThrowsAsync<IOException>(() => file.CopyToAsync(new BrokenTarget(), 0, file.Length, CancellationToken.None));

        Assert.Null(file.Failure);
        await file.FreeAsync();
    }

    private sealed class BrokenTarget : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromException(new IOException("The backend's connection broke."));
    }
}
