using System.Buffers;
using System.Net;

namespace AoaiProxy.Forwarding;

/// <summary>A replacement of <paramref name="Length"/> bytes at <paramref name="Start"/> by <paramref name="Replacement"/>, made while sending.</summary>
internal sealed record BodyEdit(long Start, long Length, byte[] Replacement);

/// <summary>Result of buffering a request body: the body, or the fact that it exceeded the limit.</summary>
internal readonly record struct RequestBodyResult(RequestBody? Body, bool TooLarge);

/// <summary>
/// The caller's request body, buffered so that failover can replay it byte for byte. Small bodies (every chat
/// completion) stay in pooled memory; past <see cref="MemoryThreshold"/> the body spills to a temporary file that is
/// deleted when the request ends, so a 100 MB upload does not hold 100 MB of memory per request.
/// </summary>
internal sealed class RequestBody : IAsyncDisposable
{
    internal const int MemoryThreshold = 4 * 1024 * 1024;
    private const int SegmentSize = 64 * 1024;

    /// <summary>
    /// A body up to this size moves from its 64 KiB read segment to a pooled array of its own size once read: the body is
    /// held until the request ends, which for a streamed completion is its whole stream, and 1,000 concurrent streams
    /// would otherwise hold 64 MiB of segments for bodies of about 1 KB.
    /// </summary>
    private const int CompactBelow = SegmentSize / 2;

    private readonly List<byte[]> _segments = [];
    private readonly Lock _gate = new();
    private string? _filePath;
    private FileStream? _file;

    // Guarded by _gate: attempts still writing the body, and whether it was released meanwhile.
    private int _writers;
    private bool _released;
    private bool _freed;

    private RequestBody() { }

    /// <summary>Total bytes buffered.</summary>
    public long Length { get; private set; }

    /// <summary>True when the whole body is in memory (see <see cref="AsSequence"/>).</summary>
    public bool InMemory => _file is null;

    /// <summary>
    /// Reads the stream to its end. A body over <paramref name="limit"/> is refused (and everything buffered is
    /// released) without reading the rest.
    /// </summary>
    public static async Task<RequestBodyResult> ReadAsync(Stream source, long limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        var body = new RequestBody();
        try
        {
            while (true)
            {
                var segment = body.CurrentSegment(out var offset);
                var read = await source.ReadAsync(segment.AsMemory(offset, SegmentSize - offset), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    body.Compact();
                    return new RequestBodyResult(body, false);
                }

                body.Length += read;
                if (body.Length > limit)
                {
                    await body.DisposeAsync().ConfigureAwait(false);
                    return new RequestBodyResult(null, true);
                }

                if (body._file is not null)
                {
                    await body._file.WriteAsync(segment.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                }
                else if (body.Length > MemoryThreshold)
                {
                    await body.SpillAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch
        {
            await body.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Bytes of buffer memory the body holds (the arrays it rented), for tests of its footprint.</summary>
    internal long BufferedCapacity
    {
        get
        {
            long capacity = 0;
            foreach (var segment in _segments)
            {
                capacity += segment.Length;
            }

            return capacity;
        }
    }

    /// <summary>The in-memory body as one sequence (empty when spilled to a file).</summary>
    public ReadOnlySequence<byte> AsSequence()
    {
        if (!InMemory || Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        if (_segments.Count == 1)
        {
            return new ReadOnlySequence<byte>(_segments[0], 0, (int)Length);
        }

        Segment? first = null;
        Segment? last = null;
        var remaining = Length;
        foreach (var array in _segments)
        {
            var count = (int)Math.Min(SegmentSize, remaining);
            remaining -= count;
            var memory = new ReadOnlyMemory<byte>(array, 0, count);
            last = last is null ? first = new Segment(memory, 0) : last.Append(memory);
        }

        return new ReadOnlySequence<byte>(first!, 0, last!, last!.Memory.Length);
    }

    /// <summary>A new read stream over a body spilled to a file (see <see cref="InMemory"/>); each reader has its own position.</summary>
    public async Task<Stream> OpenFileAsync(CancellationToken cancellationToken)
    {
        if (_file is null)
        {
            throw new InvalidOperationException("The body is in memory; use AsSequence.");
        }

        await _file.FlushAsync(cancellationToken).ConfigureAwait(false);
        return new FileStream(_filePath!, new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            Share = FileShare.ReadWrite | FileShare.Delete,
            Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
        });
    }

    /// <summary>A fresh content for one attempt. Attempts never share a read position.</summary>
    public HttpContent CreateContent(BodyEdit? edit = null) => new BufferedContent(this, edit);

    /// <summary>
    /// Gives the buffers back as soon as nothing can be replayed any more (relaying began), rather than when the request
    /// ends. An attempt may still be sending the body (a backend may answer before reading all of it): then the last
    /// writer frees it, so pooled arrays are never returned while in use. Later attempts cannot start.
    /// </summary>
    public ValueTask ReleaseAsync()
    {
        lock (_gate)
        {
            _released = true;

            // Whoever frees claims it under the lock: the last writer finishing and the request ending can both get here
            // at once, and a second Return of the same pooled arrays would hand them to two other requests.
            if (_writers > 0 || _freed)
            {
                return ValueTask.CompletedTask;
            }

            _freed = true;
        }

        return FreeAsync();
    }

    /// <summary>As <see cref="ReleaseAsync"/>: a writer still sending the body frees it when done.</summary>
    public ValueTask DisposeAsync() => ReleaseAsync();

    private async ValueTask FreeAsync()
    {
        foreach (var segment in _segments)
        {
            ArrayPool<byte>.Shared.Return(segment);
        }

        _segments.Clear();
        if (_file is not null)
        {
            await _file.DisposeAsync().ConfigureAwait(false);
            _file = null;
        }
    }

    /// <summary>Swaps the read segment of a small body (see <see cref="CompactBelow"/>) for a pooled array of about its size.</summary>
    private void Compact()
    {
        if (_file is not null || _segments.Count != 1 || Length > CompactBelow)
        {
            return;
        }

        var segment = _segments[0];
        _segments.Clear();
        if (Length > 0)
        {
            var exact = ArrayPool<byte>.Shared.Rent((int)Length);
            segment.AsSpan(0, (int)Length).CopyTo(exact);
            _segments.Add(exact);
        }

        ArrayPool<byte>.Shared.Return(segment);
    }

    /// <summary>The buffer to read into next: the free tail of the last memory segment, or a scratch segment in file mode.</summary>
    private byte[] CurrentSegment(out int offset)
    {
        if (_file is not null)
        {
            offset = 0;
            return _segments[0];
        }

        var used = (int)(Length % SegmentSize);
        if (_segments.Count == 0 || (used == 0 && Length == (long)_segments.Count * SegmentSize))
        {
            _segments.Add(ArrayPool<byte>.Shared.Rent(SegmentSize));
            used = 0;
        }

        offset = used;
        return _segments[^1];
    }

    private async Task SpillAsync(CancellationToken cancellationToken)
    {
        _filePath = Path.Combine(Path.GetTempPath(), "aoaiproxy-body-" + Guid.NewGuid().ToString("N"));
        _file = new FileStream(_filePath, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.Read | FileShare.Delete,
            Options = FileOptions.DeleteOnClose | FileOptions.Asynchronous,
        });

        var remaining = Length;
        foreach (var segment in _segments)
        {
            var count = (int)Math.Min(SegmentSize, remaining);
            remaining -= count;
            await _file.WriteAsync(segment.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
        }

        // Keep one segment as the scratch buffer for the rest of the upload.
        for (var i = 1; i < _segments.Count; i++)
        {
            ArrayPool<byte>.Shared.Return(_segments[i]);
        }

        _segments.RemoveRange(1, _segments.Count - 1);
    }

    private async Task WriteToAsync(Stream target, BodyEdit? edit, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_released, this);
            _writers++;
        }

        try
        {
            if (edit is null)
            {
                await CopyToAsync(target, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await CopyRangeAsync(target, 0, edit.Start, cancellationToken).ConfigureAwait(false);
                await target.WriteAsync(edit.Replacement, cancellationToken).ConfigureAwait(false);
                await CopyRangeAsync(target, edit.Start + edit.Length, Length, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            bool free;
            lock (_gate)
            {
                free = --_writers == 0 && _released && !_freed;
                _freed |= free;
            }

            if (free)
            {
                await FreeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task CopyToAsync(Stream target, CancellationToken cancellationToken)
    {
        if (_file is null)
        {
            var remaining = Length;
            foreach (var segment in _segments)
            {
                var count = (int)Math.Min(SegmentSize, remaining);
                remaining -= count;
                await target.WriteAsync(segment.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        var reader = await OpenFileAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            await reader.CopyToAsync(target, SegmentSize, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Copies bytes [<paramref name="from"/>, <paramref name="to"/>) of the body.</summary>
    private async Task CopyRangeAsync(Stream target, long from, long to, CancellationToken cancellationToken)
    {
        if (to <= from)
        {
            return;
        }

        if (_file is null)
        {
            long position = 0;
            foreach (var segment in _segments)
            {
                var count = Math.Min(SegmentSize, Length - position);
                var start = Math.Max(from, position);
                var end = Math.Min(to, position + count);
                if (end > start)
                {
                    await target.WriteAsync(segment.AsMemory((int)(start - position), (int)(end - start)), cancellationToken).ConfigureAwait(false);
                }

                position += count;
            }

            return;
        }

        var reader = await OpenFileAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            reader.Seek(from, SeekOrigin.Begin);
            var buffer = ArrayPool<byte>.Shared.Rent(SegmentSize);
            try
            {
                var remaining = to - from;
                while (remaining > 0)
                {
                    var read = await reader.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining)), cancellationToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }

                    await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                    remaining -= read;
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private sealed class BufferedContent(RequestBody body, BodyEdit? edit) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
            body.WriteToAsync(stream, edit, CancellationToken.None);

        protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken) =>
            body.WriteToAsync(stream, edit, cancellationToken);

        protected override bool TryComputeLength(out long length)
        {
            length = edit is null ? body.Length : body.Length - edit.Length + edit.Replacement.Length;
            return true;
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
