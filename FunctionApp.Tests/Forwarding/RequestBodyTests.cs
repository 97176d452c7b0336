using System.Buffers;
using AoaiProxy.Forwarding;
using AoaiProxy.Tests.TestSupport;

namespace AoaiProxy.Tests.Forwarding;

/// <summary>Looks at the shared temp directory, so runs alone: another test's spilled body must not count as ours.</summary>
[CollectionDefinition(nameof(RequestBodyTests), DisableParallelization = true)]
public class RequestBodyRunsAlone;

[Collection(nameof(RequestBodyTests))]
public class RequestBodyTests
{
    private const int Threshold = RequestBody.MemoryThreshold;
    private const int SegmentSize = 64 * 1024;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1_000)]
    [InlineData(SegmentSize - 1)]
    [InlineData(SegmentSize)]
    [InlineData(SegmentSize + 1)]
    [InlineData((3 * SegmentSize) + 17)]
    [InlineData(Threshold)]
    public async Task ReadAsync_UpToThreshold_InMemoryAndReplaysExactly(int length)
    {
        var data = Data(length);

        await using var body = await ReadAsync(new MemoryStream(data), limit: long.MaxValue);

        Assert.True(body.InMemory);
        Assert.Equal(length, body.Length);
        Assert.Equal(data, body.AsSequence().ToArray());
        await AssertReplaysAsync(body, data);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 16)]
    [InlineData(1_000, 1_024)]
    [InlineData(20_000, 32 * 1024)]
    public async Task ReadAsync_SmallBody_HoldsABufferOfAboutItsSizeNotA64KiBSegment(int length, int maxCapacity)
    {
        var data = Data(length);

        await using var body = await ReadAsync(new MemoryStream(data), limit: long.MaxValue);

        // ArrayPool rounds up to a power of two (at least 16 bytes); the body is held until the request ends.
        Assert.InRange(body.BufferedCapacity, length, maxCapacity);
        Assert.Equal(data, body.AsSequence().ToArray());
        await AssertReplaysAsync(body, data);
    }

    [Fact]
    public async Task ReadAsync_BodyOverHalfASegment_KeepsItsReadSegment()
    {
        var data = Data(SegmentSize - 1);

        await using var body = await ReadAsync(new MemoryStream(data), limit: long.MaxValue);

        Assert.Equal(SegmentSize, body.BufferedCapacity);
        Assert.Equal(data, body.AsSequence().ToArray());
    }

    [Theory]
    [InlineData(Threshold + 1)]
    [InlineData(Threshold + SegmentSize)]
    [InlineData(Threshold + 12_345)]
    public async Task ReadAsync_OverThreshold_SpillsToFileAndReplaysExactly(int length)
    {
        var data = Data(length);

        await using var body = await ReadAsync(new MemoryStream(data), limit: long.MaxValue);

        Assert.False(body.InMemory);
        Assert.Equal(length, body.Length);
        Assert.True(body.AsSequence().IsEmpty);
        await AssertReplaysAsync(body, data);
    }

    [Theory]
    [InlineData(SegmentSize + 3, 1)]
    [InlineData(1_000, 7)]
    [InlineData(Threshold + 101, 4_093)]
    [InlineData(Threshold + 101, SegmentSize + 1)]
    public async Task ReadAsync_StreamGivingFewBytesPerRead_SameBytes(int length, int bytesPerRead)
    {
        var data = Data(length);

        await using var body = await ReadAsync(new TrickleStream(data, bytesPerRead), limit: long.MaxValue);

        Assert.Equal(length, body.Length);
        Assert.Equal(length <= Threshold, body.InMemory);
        await AssertReplaysAsync(body, data);
    }

    [Theory]
    [InlineData(100, 100)]
    [InlineData(Threshold + 5, Threshold + 5)]
    public async Task ReadAsync_LengthEqualToLimit_Accepted(int length, long limit)
    {
        var data = Data(length);

        await using var body = await ReadAsync(new MemoryStream(data), limit);

        await AssertReplaysAsync(body, data);
    }

    [Theory]
    [InlineData(101, 100)]
    [InlineData(1, 0)]
    [InlineData(Threshold + 1, Threshold)]
    [InlineData(Threshold + 50_000, Threshold + 10_000)]
    public async Task ReadAsync_OverLimit_TooLargeWithoutBodyOrTempFile(int length, long limit)
    {
        var before = TempFiles();

        var result = await RequestBody.ReadAsync(new MemoryStream(Data(length)), limit, CancellationToken.None);

        Assert.True(result.TooLarge);
        Assert.Null(result.Body);
        Assert.Empty(TempFiles().Except(before));
    }

    [Theory]
    [InlineData(10)]
    [InlineData(Threshold + 10)]
    public async Task ReadAsync_EndlessStreamOverLimit_StopsReadingSoonAfterLimit(long limit)
    {
        var endless = new TrickleStream(Data(SegmentSize), SegmentSize, endless: true);

        var result = await RequestBody.ReadAsync(endless, limit, CancellationToken.None);

        Assert.True(result.TooLarge);
        Assert.InRange(endless.TotalRead, limit + 1, limit + SegmentSize);
    }

    [Fact]
    public async Task DisposeAsync_SpilledBody_TempFileDeleted()
    {
        var data = Data(Threshold + 4_321);
        var before = TempFiles();

        var body = await ReadAsync(new MemoryStream(data), limit: long.MaxValue);
        await AssertReplaysAsync(body, data);
        var spilled = Assert.Single(TempFiles().Except(before));
        Assert.Equal(data.Length, new FileInfo(spilled).Length);

        await body.DisposeAsync();

        Assert.False(File.Exists(spilled));
        await body.DisposeAsync();
    }

    [Fact]
    public async Task ReadAsync_SourceFailsAfterSpill_CallerGoneAndTempFileDeleted()
    {
        var before = TempFiles();
        var failing = new TrickleStream(Data(Threshold + SegmentSize), SegmentSize, failAtEnd: true);

        var result = await RequestBody.ReadAsync(failing, long.MaxValue, CancellationToken.None);

        Assert.Null(result.Body);
        Assert.Equal(BodyFailureKind.CallerGone, result.Failure?.Kind);
        Assert.Empty(TempFiles().Except(before));
    }

    [Fact]
    public async Task ReadAsync_Cancelled_CallerGone()
    {
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        var result = await RequestBody.ReadAsync(new TrickleStream(Data(100), 10), long.MaxValue, cancelled.Token);

        Assert.Null(result.Body);
        Assert.Equal(BodyFailureKind.CallerGone, result.Failure?.Kind);
    }

    /// <summary>
    /// The body is released when relaying begins, while a backend that answered early may still be reading
    /// it. The attempt still sending gets every byte intact; no later attempt can start.
    /// </summary>
    [Fact]
    public async Task ReleaseAsync_WhileAnAttemptStillSends_ThatAttemptCompletesIntactAndNoOtherStarts()
    {
        var data = Data(300 * 1024);
        var body = await ReadAsync(new MemoryStream(data), long.MaxValue);
        var target = new GatedStream();
        var sending = body.CreateContent().CopyToAsync(target);
        await target.FirstWrite.Task.WaitAsync(Wait.Patience);

        await body.ReleaseAsync();
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => body.CreateContent().CopyToAsync(Stream.Null));
        Assert.IsType<ObjectDisposedException>(refused.InnerException);
        target.Gate.SetResult();
        await sending.WaitAsync(Wait.Patience);

        Assert.Equal(data, target.ToArray());
        await body.DisposeAsync();
    }

    [Theory]
    [InlineData(100, 10, 5, 3)]
    [InlineData(200 * 1024, 64 * 1024 - 2, 7, 40)]
    [InlineData(RequestBody.MemoryThreshold + 100_000, 4_200_000, 12, 1)]
    [InlineData(1000, 0, 3, 0)]
    [InlineData(1000, 990, 10, 5)]
    public async Task CreateContent_WithEdit_ReplacesTheRangeInMemoryAndInFile(int length, int start, int removed, int inserted)
    {
        var data = Data(length);
        await using var body = await ReadAsync(new MemoryStream(data), long.MaxValue);
        var replacement = Enumerable.Repeat((byte)'#', inserted).ToArray();

        using var content = body.CreateContent(new BodyEdit(start, removed, replacement));
        var sent = await content.ReadAsByteArrayAsync();

        var expected = data.Take(start).Concat(replacement).Concat(data.Skip(start + removed)).ToArray();
        Assert.Equal(expected, sent);
        Assert.Equal(expected.Length, content.Headers.ContentLength);
    }

    [Theory]
    [InlineData(Threshold + 1, 4_093)]
    [InlineData(Threshold + (3 * SegmentSize) + 17, SegmentSize + 1)]
    [InlineData(2 * Threshold, SegmentSize)]
    public async Task ReceiveAsync_AnnouncedOverThreshold_StreamedThroughTheAttemptsAndReplayedExactly(int length, int bytesPerRead)
    {
        var data = Data(length);
        var source = new TrickleStream(data, bytesPerRead);

        await using var body = await ReceiveAsync(source, length);

        // Nothing is read before the first attempt, and no memory segment is held: the chunks go to the file.
        Assert.True(body.Streamed);
        Assert.Equal(0, source.TotalRead);
        Assert.Equal(length, body.Length);
        Assert.Equal(0, body.BufferedCapacity);
        await AssertReplaysAsync(body, data);
        Assert.Equal(length, source.TotalRead);
    }

    [Theory]
    [InlineData(Threshold, (long)Threshold, true)]
    [InlineData(Threshold + 10, (long)Threshold + 10, false)]
    [InlineData(Threshold + 10, null, true)]
    [InlineData(100, 100L, true)]
    public async Task ReceiveAsync_SmallNotStreamableOrWithoutContentLength_ReadWholeFirst(int length, long? contentLength, bool mayStream)
    {
        var data = Data(length);
        var source = new TrickleStream(data, SegmentSize);

        var result = await RequestBody.ReceiveAsync(source, contentLength, mayStream, long.MaxValue, CancellationToken.None);
        await using var body = Assert.IsType<RequestBody>(result.Body);

        Assert.False(body.Streamed);
        Assert.Equal(length, source.TotalRead);
        Assert.Equal(length <= Threshold, body.InMemory);
        await AssertReplaysAsync(body, data);
    }

    [Fact]
    public async Task CreateContent_StreamedAttemptBreaksMidway_NextAttemptSendsEveryByteAndTheCallerIsReadOnce()
    {
        var data = Data((2 * Threshold) + 123);
        var source = new TrickleStream(data, 10_000);
        await using var body = await ReceiveAsync(source, data.Length);

        var broken = await Assert.ThrowsAsync<HttpRequestException>(() => body.CreateContent().CopyToAsync(new BreakingStream(Threshold + 5)));

        Assert.IsType<IOException>(broken.InnerException);
        Assert.InRange(source.TotalRead, Threshold + 5, Threshold + 5 + 10_000);
        Assert.Null(body.Failure);
        Assert.Equal(data, await BodyBytes.OfAsync(body.CreateContent()));
        Assert.Equal(data.Length, source.TotalRead);
    }

    [Fact]
    public async Task CreateContent_TwoStreamedAttemptsAtOnce_BothSendEveryByteAndTheCallerIsReadOnce()
    {
        var data = Data((2 * Threshold) + 999);
        var source = new TrickleStream(data, 7_000);
        await using var body = await ReceiveAsync(source, data.Length);

        var first = Task.Run(() => BodyBytes.OfAsync(body.CreateContent()));
        var second = Task.Run(() => BodyBytes.OfAsync(body.CreateContent()));

        Assert.Equal(data, await first);
        Assert.Equal(data, await second);
        Assert.Equal(data.Length, source.TotalRead);
    }

    [Theory]
    [InlineData(false, nameof(BodyFailureKind.Malformed))]
    [InlineData(true, nameof(BodyFailureKind.CallerGone))]
    public async Task CreateContent_CallerStreamEndsEarlyOrFails_FailureKeptAndEveryAttemptStops(bool failAtEnd, string expected)
    {
        var data = Data(Threshold + 1_000);
        var source = new TrickleStream(data, SegmentSize, failAtEnd: failAtEnd);
        await using var body = await ReceiveAsync(source, data.Length + 500);

        var first = await Assert.ThrowsAsync<HttpRequestException>(() => BodyBytes.OfAsync(body.CreateContent()));

        Assert.IsType<BodyFailedException>(first.InnerException);
        var failure = Assert.NotNull(body.Failure);
        Assert.Equal(Enum.Parse<BodyFailureKind>(expected), failure.Kind);
        var again = await Assert.ThrowsAsync<HttpRequestException>(() => BodyBytes.OfAsync(body.CreateContent()));
        Assert.IsType<BodyFailedException>(again.InnerException);
        Assert.Equal(failure, body.Failure);
        Assert.Equal(data.Length, source.TotalRead);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1_000)]
    public async Task CreateContent_StreamedAttemptCancelledWhileWaitingForTheCaller_NoFailureAndTheNextAttemptSendsEveryByte(int partOfAChunk)
    {
        // With partOfAChunk > 0 the caller's last bytes before the gate are read into the first attempt's chunk, which then
        // waits for more: they were taken from the caller and must still reach the next attempt.
        var data = Data(Threshold + 5_000);
        var source = new GatedSource(data, Threshold + partOfAChunk);
        await using var body = await ReceiveAsync(source, data.Length);

        await CancelWhileWaitingForCallerAsync(body, source);

        Assert.True(body.WaitingForCaller);
        Assert.Null(body.Failure);
        source.Gate.SetResult();
        Assert.Equal(data, await BodyBytes.OfAsync(body.CreateContent()));
        Assert.False(body.WaitingForCaller);
    }

    [Fact]
    public async Task CreateContent_NextAttemptSendsToItsBackendAfterACancelledPull_NotWaitingForCaller()
    {
        // The first attempt is cancelled while it waits for the caller (over HTTP/2 its backend answered 429 early); the
        // next one replays the file to a backend that does not read. A deadline now is that backend's, not the caller's.
        var data = Data(Threshold + 5_000);
        var source = new GatedSource(data, Threshold);
        await using var body = await ReceiveAsync(source, data.Length);
        await CancelWhileWaitingForCallerAsync(body, source);
        var stalled = new GatedStream();

        var second = body.CreateContent().CopyToAsync(stalled);
        await stalled.FirstWrite.Task.WaitAsync(Wait.Patience);

        Assert.False(body.WaitingForCaller);
        stalled.Gate.SetResult();
        source.Gate.SetResult();
        await second;
        Assert.Equal(data, stalled.ToArray());
    }

    [Fact]
    public async Task CreateContent_EarlierAttemptCancelledWhileTheNextSendsToItsBackend_NotWaitingForCaller()
    {
        // Over HTTP/2 an attempt's body may still be pulling from the caller when the next attempt starts; its send is
        // cancelled later. That late cancellation says nothing about the attempt now in flight.
        var data = Data(Threshold + 5_000);
        var source = new GatedSource(data, Threshold);
        await using var body = await ReceiveAsync(source, data.Length);
        using var cancel = new CancellationTokenSource();
        var first = body.CreateContent().CopyToAsync(Stream.Null, cancel.Token);
        await source.Waiting.Task.WaitAsync(Wait.Patience);
        var stalled = new GatedStream();
        var second = body.CreateContent().CopyToAsync(stalled);
        await stalled.FirstWrite.Task.WaitAsync(Wait.Patience);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);

        Assert.False(body.WaitingForCaller);
        stalled.Gate.SetResult();
        source.Gate.SetResult();
        await second;
        Assert.Equal(data, stalled.ToArray());
    }

    [Fact]
    public async Task CreateContent_AttemptCancelledWhileAnotherPullsFromTheCaller_WaitingForCaller()
    {
        // The first attempt holds the pull while it waits for the caller's first bytes; the second waits for that pull
        // (it is waiting from the moment CopyToAsync returns: nothing before the pull yields). Cancelled there, the second
        // attempt was waiting for the caller too.
        var data = Data(Threshold + 5_000);
        var source = new GatedSource(data, 0);
        await using var body = await ReceiveAsync(source, data.Length);
        var first = body.CreateContent().CopyToAsync(Stream.Null);
        await source.Waiting.Task.WaitAsync(Wait.Patience);
        using var cancel = new CancellationTokenSource();
        var second = body.CreateContent().CopyToAsync(Stream.Null, cancel.Token);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second);

        Assert.True(body.WaitingForCaller);
        Assert.Null(body.Failure);
        source.Gate.SetResult();
        await first;
        Assert.Equal(data, await BodyBytes.OfAsync(body.CreateContent()));
        Assert.False(body.WaitingForCaller);
    }

    [Fact]
    public async Task CreateContent_CallerBytesArriveInSmallReads_BackendGetsChunksOfAtLeast64KiB()
    {
        var data = Data(Threshold + 100_000);
        await using var body = await ReceiveAsync(new TrickleStream(data, 4_093), data.Length);
        var target = new SizeRecordingStream();

        await body.CreateContent().CopyToAsync(target);

        Assert.Equal(data, target.ToArray());
        Assert.All(target.Writes.SkipLast(1), size => Assert.True(size >= 64 * 1024, $"a write of {size} bytes"));
        Assert.InRange(target.Writes.Count, 2, data.Length / (64 * 1024) + 1);
    }

    [Fact]
    public async Task ReleaseAsync_StreamedBodyWhileAnAttemptStillSends_ItCompletesIntactThenTheFileIsDeleted()
    {
        var before = TempFiles();
        var data = Data(Threshold + 70_000);
        var body = await ReceiveAsync(new MemoryStream(data), data.Length);
        var file = Assert.Single(TempFiles().Except(before));
        var target = new GatedStream();
        var sending = body.CreateContent().CopyToAsync(target);
        await target.FirstWrite.Task.WaitAsync(Wait.Patience);

        await body.ReleaseAsync();
        Assert.True(File.Exists(file));
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => body.CreateContent().CopyToAsync(Stream.Null));
        Assert.IsType<ObjectDisposedException>(refused.InnerException);
        target.Gate.SetResult();
        await sending.WaitAsync(Wait.Patience);

        Assert.Equal(data, target.ToArray());
        Assert.False(File.Exists(file));
        await body.DisposeAsync();
    }

    [Fact]
    public async Task CreateContent_StreamedBodyBackendWritesCompleteOnASocketThread_FileWorkLeavesThatThread()
    {
        // With inline socket completions (the standalone host's default) a backend connection completes each write on an
        // epoll thread, and the attempt continues there: between two writes to the backend lies the file work of the next
        // chunk (appending the caller's bytes, or reading them back for a replay), which must not run on that thread, as
        // it serves every other connection of its share. A write issued from the socket thread means that work ran on it.
        using var socket = new SocketThread();
        var data = Data((2 * Threshold) + 4_321);
        await using var body = await ReceiveAsync(new MemoryStream(data), data.Length);

        var first = new SocketTarget(socket);
        await body.CreateContent().CopyToAsync(first);
        var replay = new SocketTarget(socket);
        await body.CreateContent().CopyToAsync(replay);

        Assert.Equal(data, first.ToArray());
        Assert.Equal(data, replay.ToArray());
        Assert.True(socket.Completions > 2);
        Assert.DoesNotContain(true, first.WritesOnSocketThread);
        Assert.DoesNotContain(true, replay.WritesOnSocketThread);
    }

    [Fact]
    public async Task DisposeAsync_StreamedPullWaitingForTheCaller_ReadEndedBeforeItReturnsAndNoFailure()
    {
        // The request ends while an attempt's send (over HTTP/2 it can outlive the attempt) waits for the caller's bytes:
        // the server drains the body once the handler returns, and must not find a read of it still in progress.
        var data = Data(Threshold + 5_000);
        var source = new GatedSource(data, Threshold);
        var body = await ReceiveAsync(source, data.Length);
        var attempt = body.CreateContent().CopyToAsync(Stream.Null);
        await source.Waiting.Task.WaitAsync(Wait.Patience);

        await body.DisposeAsync();

        Assert.Equal(0, source.ReadsInFlight);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => attempt.WaitAsync(Wait.Patience));
        Assert.Null(body.Failure);
        Assert.False(body.WaitingForCaller);
    }

    [Fact]
    public async Task DisposeAsync_StreamedAttemptStillSendingToItsBackend_ItsNextPullEndsAtOnceAndTheLastWriterDeletesTheFile()
    {
        var before = TempFiles();
        var data = Data(Threshold + 5_000);
        var source = new GatedSource(data, Threshold + 5_000);
        var body = await ReceiveAsync(source, data.Length);
        var file = Assert.Single(TempFiles().Except(before));
        var stalled = new GatedStream();
        var sending = body.CreateContent().CopyToAsync(stalled);
        await stalled.FirstWrite.Task.WaitAsync(Wait.Patience);

        await body.DisposeAsync();
        Assert.True(File.Exists(file));
        stalled.Gate.SetResult();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sending.WaitAsync(Wait.Patience));
        Assert.Equal(0, source.ReadsInFlight);
        Assert.False(File.Exists(file));
        Assert.Null(body.Failure);
    }

    [Fact]
    public async Task ReceiveAsync_SpilledBodyFileLostBeforeAReplay_StorageFailureAndTheSendEnds()
    {
        var before = TempFiles();
        var data = Data(Threshold + 100);
        await using var body = await ReadAsync(new MemoryStream(data), long.MaxValue);
        File.Delete(Assert.Single(TempFiles().Except(before)));

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => BodyBytes.OfAsync(body.CreateContent()));

        Assert.IsType<BodyFailedException>(refused.InnerException);
        Assert.Equal(BodyFailureKind.Storage, body.Failure?.Kind);
        Assert.DoesNotContain(Path.GetTempPath(), body.Failure!.Value.Message, StringComparison.Ordinal);
    }

    private static async Task<RequestBody> ReceiveAsync(Stream source, long contentLength)
    {
        var result = await RequestBody.ReceiveAsync(source, contentLength, mayStream: true, long.MaxValue, CancellationToken.None);
        Assert.False(result.TooLarge);
        return Assert.IsType<RequestBody>(result.Body);
    }

    /// <summary>A backend connection that breaks after some bytes.</summary>
    private sealed class BreakingStream(long after) : MemoryStream
    {
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Length + buffer.Length > after)
            {
                throw new IOException("The backend's connection broke.");
            }

            return base.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <summary>A backend connection that records the size of each write.</summary>
    private sealed class SizeRecordingStream : MemoryStream
    {
        public List<int> Writes { get; } = [];

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Writes.Add(buffer.Length);
            return base.WriteAsync(buffer, cancellationToken);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    /// <summary>A backend connection whose writes complete on the socket thread; records where each write was issued.</summary>
    private sealed class SocketTarget(SocketThread socket) : MemoryStream
    {
        public List<bool> WritesOnSocketThread { get; } = [];

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            WritesOnSocketThread.Add(socket.IsCurrent);
            Write(buffer.Span);
            return new ValueTask(socket.CompleteOnThread(Task.FromResult(buffer.Length)));
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    private static async Task<RequestBody> ReadAsync(Stream source, long limit)
    {
        var result = await RequestBody.ReadAsync(source, limit, CancellationToken.None);
        Assert.False(result.TooLarge);
        return Assert.IsType<RequestBody>(result.Body);
    }

    /// <summary>Both one content copied twice and a fresh content per attempt give the exact bytes, with the length announced.</summary>
    private static async Task AssertReplaysAsync(RequestBody body, byte[] expected)
    {
        using var content = body.CreateContent();
        Assert.Equal(expected.Length, content.Headers.ContentLength);
        Assert.Equal(expected, await BodyBytes.OfAsync(content));
        Assert.Equal(expected, await BodyBytes.OfAsync(content));

        using var another = body.CreateContent();
        Assert.Equal(expected, await BodyBytes.OfAsync(another));
    }

    /// <summary>Starts an attempt, lets it wait at <paramref name="source"/>'s gate, cancels it and sees it end cancelled.</summary>
    private static async Task CancelWhileWaitingForCallerAsync(RequestBody body, GatedSource source)
    {
        using var cancel = new CancellationTokenSource();
        var attempt = body.CreateContent().CopyToAsync(Stream.Null, cancel.Token);
        await source.Waiting.Task.WaitAsync(Wait.Patience);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => attempt);
    }

    private static HashSet<string> TempFiles() => BodyTempFiles.Now();

    private static byte[] Data(int length) => BodyBytes.Of(length);
}
