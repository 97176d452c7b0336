using AoaiProxy.Forwarding;
using AoaiProxy.Tests.TestSupport;
using Microsoft.AspNetCore.Connections;

namespace AoaiProxy.Tests.Forwarding;

/// <summary>Looks at the shared temp directory, so runs with the other body tests, alone.</summary>
[Collection(nameof(RequestBodyTests))]
public class StreamedUploadTests
{
    private const int Length = StreamedUpload.ChunkSize + 5_000;

    [Fact]
    public async Task CopyToAsync_WholeBody_SentAsItArrivesAndTheCallerReadOnce()
    {
        var data = BodyBytes.Of(Length);
        var source = new TrickleStream(data, 10_000);
        var upload = StreamedUpload.Create(source, data.Length, CancellationToken.None);
        using var first = new MemoryStream();
        using var replay = new MemoryStream();

        await upload.CopyToAsync(first, 0, data.Length, CancellationToken.None);
        await upload.CopyToAsync(replay, 0, data.Length, CancellationToken.None);

        Assert.Equal(data, first.ToArray());
        Assert.Equal(data, replay.ToArray());
        Assert.Equal(data.Length, source.TotalRead);
        Assert.Null(upload.Failure);
        await upload.FreeAsync();
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(10, Length)]
    public async Task CopyToAsync_PartOfTheBody_RefusedAsAStreamedBodyIsNeverEdited(int from, int to)
    {
        var upload = StreamedUpload.Create(new TrickleStream(BodyBytes.Of(Length), 1_000), Length, CancellationToken.None);

        await Assert.ThrowsAsync<InvalidOperationException>(() => upload.CopyToAsync(Stream.Null, from, to, CancellationToken.None));

        await upload.FreeAsync();
    }

    public static TheoryData<Exception, string> CallerFailures => new()
    {
        { new ConnectionResetException("Connection reset by peer"), nameof(BodyFailureKind.CallerGone) },
        { new ConnectionAbortedException("The connection was aborted by the application."), nameof(BodyFailureKind.CallerGone) },
        { new IOException("Bad chunk size data.", new OverflowException()), nameof(BodyFailureKind.Malformed) },
        { new Microsoft.AspNetCore.Http.BadHttpRequestException("Unexpected end of request content."), nameof(BodyFailureKind.Malformed) },
    };

    [Theory]
    [MemberData(nameof(CallerFailures))]
    public async Task CopyToAsync_CallerStreamFails_KeptAsAValueAndTheNextAttemptEndsWithoutReadingTheCaller(Exception thrown, string kind)
    {
        var data = BodyBytes.Of(Length);
        var source = new FailingSource(data, 100_000, thrown);
        var upload = StreamedUpload.Create(source, data.Length, CancellationToken.None);

        await Assert.ThrowsAsync<BodyFailedException>(() => upload.CopyToAsync(Stream.Null, 0, data.Length, CancellationToken.None));
        var reads = source.Reads;
        await Assert.ThrowsAsync<BodyFailedException>(() => upload.CopyToAsync(Stream.Null, 0, data.Length, CancellationToken.None));

        Assert.Equal(Enum.Parse<BodyFailureKind>(kind), upload.Failure?.Kind);
        Assert.Equal(reads, source.Reads);
        await upload.FreeAsync();
    }

    [Fact]
    public async Task CopyToAsync_CallerSendsLessThanAnnounced_MalformedNamingBothLengths()
    {
        var data = BodyBytes.Of(Length);
        var upload = StreamedUpload.Create(new TrickleStream(data, 50_000), data.Length + 10, CancellationToken.None);

        await Assert.ThrowsAsync<BodyFailedException>(() => upload.CopyToAsync(Stream.Null, 0, upload.Length, CancellationToken.None));

        Assert.Equal(BodyFailure.Truncated(data.Length, data.Length + 10), upload.Failure);
        await upload.FreeAsync();
    }

    [Fact]
    public async Task CopyToAsync_AttemptCancelledWhileWaitingForTheCaller_NoFailureAndWaitingForCaller()
    {
        var data = BodyBytes.Of(Length);
        var source = new GatedSource(data, StreamedUpload.ChunkSize);
        var upload = StreamedUpload.Create(source, data.Length, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var attempt = upload.CopyToAsync(Stream.Null, 0, data.Length, cancel.Token);
        await source.Waiting.Task.WaitAsync(Wait.Patience);

        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => attempt);
        Assert.True(upload.WaitingForCaller);
        Assert.Null(upload.Failure);
        await upload.FreeAsync();
    }

    [Fact]
    public async Task StopAsync_PullWaitingForTheCaller_ReadEndedWhenItReturnsAndNotTheAttemptsOwnCancellation()
    {
        var data = BodyBytes.Of(Length);
        var source = new GatedSource(data, StreamedUpload.ChunkSize);
        var upload = StreamedUpload.Create(source, data.Length, CancellationToken.None);
        var attempt = upload.CopyToAsync(Stream.Null, 0, data.Length, CancellationToken.None);
        await source.Waiting.Task.WaitAsync(Wait.Patience);

        await upload.StopAsync();

        Assert.Equal(0, source.ReadsInFlight);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => attempt.WaitAsync(Wait.Patience));
        Assert.False(upload.WaitingForCaller);
        Assert.Null(upload.Failure);
        await upload.FreeAsync();
    }

    [Fact]
    public async Task StopAsync_ThenAnAttemptReachesThePull_ItEndsAtOnceWithoutReadingTheCaller()
    {
        var data = BodyBytes.Of(Length);
        var source = new TrickleStream(data, 10_000);
        var upload = StreamedUpload.Create(source, data.Length, CancellationToken.None);

        await upload.StopAsync();
        await upload.StopAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => upload.CopyToAsync(Stream.Null, 0, data.Length, CancellationToken.None));
        Assert.Equal(0, source.TotalRead);
        await upload.FreeAsync();
        await upload.StopAsync();
    }

    [Fact]
    public async Task FreeAsync_TheFile_Deleted()
    {
        var before = BodyTempFiles.Now();
        var upload = StreamedUpload.Create(new TrickleStream(BodyBytes.Of(Length), 10_000), Length, CancellationToken.None);
        var file = Assert.Single(BodyTempFiles.Now().Except(before));

        await upload.FreeAsync();

        Assert.False(File.Exists(file));
    }

    /// <summary>Gives its bytes up to <paramref name="failAt"/>, then throws <paramref name="failure"/>; counts its reads.</summary>
    private sealed class FailingSource(byte[] data, int failAt, Exception failure) : ReadOnlyTestStream
    {
        private int _position;

        public int Reads { get; private set; }

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Reads++;
            if (_position >= failAt)
            {
                return ValueTask.FromException<int>(failure);
            }

            var count = Math.Min(buffer.Length, Math.Min(failAt, data.Length) - _position);
            data.AsMemory(_position, count).CopyTo(buffer);
            _position += count;
            return ValueTask.FromResult(count);
        }
    }
}
