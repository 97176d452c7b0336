using System.Buffers;

namespace AoaiProxy.Forwarding;

/// <summary>Result of receiving a request body: the body, or why it could not be received (<see cref="Failure"/>).</summary>
internal readonly record struct RequestBodyResult(RequestBody? Body, BodyFailure? Failure = null)
{
    /// <summary>True when the body exceeded a limit (the proxy's or the server's).</summary>
    public bool TooLarge => Failure is { Kind: BodyFailureKind.TooLarge };
}

/// <summary>
/// The caller's request body, buffered so that failover can replay it byte for byte. Small bodies (every chat
/// completion) stay in pooled memory (<see cref="PooledSegments"/>); past <see cref="MemoryThreshold"/> the body spills to
/// a temporary file (<see cref="SpillFile"/>) that is deleted when the request ends, so a 100 MB upload does not hold
/// 100 MB of memory per request. A body announced (Content-Length) over the threshold, that nothing reads before routing,
/// is not received before the first attempt but streamed through it (<see cref="StreamedUpload"/>), so an upload is not
/// received whole and then sent whole. Each attempt sends a <see cref="ReplayContent"/>; the <see cref="BodyLease"/>
/// decides who frees the buffers.
/// </summary>
internal sealed class RequestBody : IAsyncDisposable
{
    internal const int MemoryThreshold = 4 * 1024 * 1024;

    private readonly IBodyStore _store;
    private readonly BodyLease _lease = new();

    private RequestBody(IBodyStore store) => _store = store;

    /// <summary>Total bytes of the body (of a streamed body: its Content-Length, also while it is still arriving).</summary>
    public long Length => _store.Length;

    /// <summary>True when the body is streamed from the caller through the first attempt (see <see cref="ReceiveAsync"/>).</summary>
    public bool Streamed => _store is StreamedUpload;

    /// <summary>True when the whole body is in memory (see <see cref="AsSequence"/>).</summary>
    public bool InMemory => _store is PooledSegments;

    /// <summary>
    /// Why the body could not be received or stored whole after the attempts began (a streamed body's caller went away,
    /// sent fewer bytes than announced or bad framing; the temporary file failed): the request ends as it would have if the
    /// body had been read before the attempts, and no backend is blamed. Null while the body is fine.
    /// </summary>
    public BodyFailure? Failure => _store switch
    {
        StreamedUpload upload => upload.Failure,
        SpillFile file => file.Failure,
        _ => null,
    };

    /// <inheritdoc cref="CallerWaits.WaitingForCaller"/>
    public bool WaitingForCaller => _store is StreamedUpload { WaitingForCaller: true };

    /// <summary>Bytes of buffer memory the body holds (the arrays it rented), for tests of its footprint.</summary>
    internal long BufferedCapacity => _store is PooledSegments segments ? segments.Capacity : 0;

    /// <summary>
    /// The caller's body for the attempts. When <paramref name="mayStream"/> (nothing needs the whole body before the
    /// first attempt) and the caller announced a length over <see cref="MemoryThreshold"/>, the body is streamed through the
    /// attempts as it arrives; everything else is read whole first (<see cref="ReadAsync"/>). The announced length must
    /// already be checked against the limit; the server ends a body at its Content-Length. <paramref name="cancellationToken"/>
    /// is the request's RequestAborted. The caller's and the file's failures are returned, never thrown.
    /// </summary>
    public static Task<RequestBodyResult> ReceiveAsync(Stream source, long? contentLength, bool mayStream, long limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (mayStream && contentLength is { } length && length > MemoryThreshold && length <= limit)
        {
            try
            {
                return Task.FromResult(new RequestBodyResult(new RequestBody(StreamedUpload.Create(source, length, cancellationToken))));
            }
            catch (Exception ex) when (BodyFailure.IsStorageError(ex))
            {
                return Task.FromResult(new RequestBodyResult(null, BodyFailure.Storage(ex)));
            }
        }

        return ReadAsync(source, limit, cancellationToken);
    }

    /// <summary>
    /// Reads the stream to its end. A body over <paramref name="limit"/> is refused (and everything buffered is released)
    /// without reading the rest; a failure of the caller's stream or of the file is returned, never thrown, with
    /// everything buffered released. <paramref name="cancellationToken"/> is the request's RequestAborted.
    /// </summary>
    public static async Task<RequestBodyResult> ReadAsync(Stream source, long limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var segments = new PooledSegments();
        SpillFile? file = null;
        byte[]? scratch = null;
        var complete = false;
        try
        {
            while (true)
            {
                var buffer = file is null ? segments.FreeSpace() : scratch!;
                int read;
                try
                {
                    read = await source.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (BodyFailure.OfCallerRead(ex, cancellationToken.IsCancellationRequested) is { } failure)
                {
                    return new RequestBodyResult(null, failure);
                }

                if (read == 0)
                {
                    complete = true;
                    if (file is not null)
                    {
                        return new RequestBodyResult(new RequestBody(file));
                    }

                    segments.Compact();
                    return new RequestBodyResult(new RequestBody(segments));
                }

                var length = (file?.Length ?? segments.Length) + read;
                if (length > limit)
                {
                    return new RequestBodyResult(null, BodyFailure.OverLimit(limit));
                }

                try
                {
                    if (file is not null)
                    {
                        await file.AppendAsync(scratch.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                        continue;
                    }

                    segments.Advance(read);
                    if (segments.Length > MemoryThreshold)
                    {
                        // Past the threshold the rest goes through one scratch segment into the file.
                        file = await SpillFile.CreateAsync(segments, cancellationToken).ConfigureAwait(false);
                        scratch = ArrayPool<byte>.Shared.Rent(PooledSegments.SegmentSize);
                    }
                }
                catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested)
                {
                    return new RequestBodyResult(null, BodyFailure.OfCallerRead(ex, callerAborted: true));
                }
                catch (Exception ex) when (BodyFailure.IsStorageError(ex))
                {
                    return new RequestBodyResult(null, BodyFailure.Storage(ex));
                }
            }
        }
        finally
        {
            if (scratch is not null)
            {
                ArrayPool<byte>.Shared.Return(scratch);
            }

            if (!complete)
            {
                segments.Free();
                if (file is not null)
                {
                    await file.FreeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>The in-memory body as one sequence (empty when spilled to a file or streamed).</summary>
    public ReadOnlySequence<byte> AsSequence() => _store is PooledSegments segments ? segments.AsSequence() : ReadOnlySequence<byte>.Empty;

    /// <summary>A new read stream over a body spilled to a file (see <see cref="InMemory"/>); each reader has its own position.</summary>
    public Task<Stream> OpenFileAsync(CancellationToken cancellationToken) => _store switch
    {
        SpillFile file => file.OpenReaderAsync(cancellationToken),
        StreamedUpload => throw new InvalidOperationException("A streamed body is read only by its attempts' contents."),
        _ => throw new InvalidOperationException("The body is in memory; use AsSequence."),
    };

    /// <summary>A fresh content for one attempt. Attempts never share a read position.</summary>
    public HttpContent CreateContent(BodyEdit? edit = null) => new ReplayContent(_store, _lease, edit);

    /// <summary>
    /// Gives the buffers back as soon as nothing can be replayed any more (relaying began), rather than when the request
    /// ends. An attempt may still be sending the body (a backend may answer before reading all of it): then the last
    /// writer frees it, so pooled arrays are never returned while in use. Later attempts cannot start.
    /// </summary>
    public ValueTask ReleaseAsync() => _lease.Release() ? _store.FreeAsync() : ValueTask.CompletedTask;

    /// <summary>
    /// The request ends: as <see cref="ReleaseAsync"/>, and a streamed body's pull of the caller's bytes still in flight
    /// (an attempt's send can outlive the attempt, over HTTP/2 or when a backend answered early) is cancelled and awaited,
    /// so that no read of the caller's stream is pending when the server drains the rest of the body.
    /// </summary>
    public ValueTask DisposeAsync() => _store is StreamedUpload upload ? StopAndReleaseAsync(upload) : ReleaseAsync();

    private async ValueTask StopAndReleaseAsync(StreamedUpload upload)
    {
        await upload.StopAsync().ConfigureAwait(false);
        await ReleaseAsync().ConfigureAwait(false);
    }
}
