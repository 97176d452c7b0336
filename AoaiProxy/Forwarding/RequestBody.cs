using System.Buffers;
using System.Net;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Http;
using Microsoft.Win32.SafeHandles;

namespace AoaiProxy.Forwarding;

/// <summary>A replacement of <paramref name="Length"/> bytes at <paramref name="Start"/> by <paramref name="Replacement"/>, made while sending.</summary>
internal sealed record BodyEdit(long Start, long Length, byte[] Replacement);

/// <summary>Result of buffering a request body: the body, or the fact that it exceeded the limit.</summary>
internal readonly record struct RequestBodyResult(RequestBody? Body, bool TooLarge);

/// <summary>
/// The caller's request body, buffered so that failover can replay it byte for byte. Small bodies (every chat
/// completion) stay in pooled memory; past <see cref="MemoryThreshold"/> the body spills to a temporary file that is
/// deleted when the request ends, so a 100 MB upload does not hold 100 MB of memory per request.
/// A body announced (Content-Length) over the threshold, that nothing reads before routing, is not received before the
/// first attempt but streamed through it (<see cref="ReceiveAsync"/>): the attempt pulls each chunk from the caller, appends
/// it to the file and sends it on, so an upload is not received whole and then sent whole. A later attempt replays the
/// file and pulls the rest itself if the body is still arriving.
/// </summary>
internal sealed class RequestBody : IAsyncDisposable
{
    internal const int MemoryThreshold = 4 * 1024 * 1024;
    private const int SegmentSize = 64 * 1024;

    /// <summary>
    /// The most a streamed body moves per pull (see <see cref="ReceiveAsync"/>): one buffer per attempt in flight. Larger
    /// than a segment because the caller's bytes usually wait in the server's buffer (up to 1 MiB) while the proxy sends:
    /// fewer, larger reads, file writes and socket writes per MiB.
    /// </summary>
    private const int StreamChunkSize = 256 * 1024;

    /// <summary>
    /// The least a pull of a streamed body waits for (or what is left of the body). The caller's bytes come from the
    /// server a few KiB per read, about as fast as they are sent on, and every pull costs a file write (a thread-pool
    /// work item) and a socket write to the backend: taking each read as it came made about 5,000 of each per 50 MiB
    /// (measured with strace: 10,500 file writes and 29,800 futex calls for two uploads), where 64 KiB makes at most 800.
    /// </summary>
    private const int MinimumPull = 64 * 1024;

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

    // A streamed body (see ReceiveAsync): the caller's stream still being read, and one puller at a time. The pull lock
    // is held only while reading the caller and appending to the file, never while writing to a backend, so an attempt
    // whose backend stopped reading cannot hold up the next one. Its file is written and read at explicit offsets through
    // one handle, asynchronously (on Linux a thread-pool work item per pull of 64-256 KiB): the attempt resumes from its
    // backend's socket, which with inline socket completions (the standalone host's default) is an epoll thread serving
    // every other connection of its share, and a write can wait for the disk once dirty pages pile up (many 50 MiB uploads).
    private readonly SemaphoreSlim? _pull;
    private SafeFileHandle? _handle;
    private Stream? _source;
    private long _received;
    private ExceptionDispatchInfo? _failure;

    // Attempts that streamed the body so far (each takes the next number), and the highest number of an attempt cancelled
    // while it waited for the caller (0: none). Numbers rather than a flag: over HTTP/2 an attempt's send may still be
    // pulling when the next attempt starts, and its late cancellation must not speak for the attempt now in flight.
    private int _attempts;
    private int _cancelledWaitingForCaller;

    // Guarded by _gate: attempts still writing the body, and whether it was released meanwhile.
    private int _writers;
    private bool _released;
    private bool _freed;

    private RequestBody() { }

    private RequestBody(Stream source, long length)
    {
        _source = source;
        _pull = new SemaphoreSlim(1, 1);
        Length = length;
        _filePath = TempFilePath();
        _handle = File.OpenHandle(_filePath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
    }

    /// <summary>Total bytes of the body (of a streamed body: its Content-Length, also while it is still arriving).</summary>
    public long Length { get; private set; }

    /// <summary>True when the body is streamed from the caller through the first attempt (see <see cref="ReceiveAsync"/>).</summary>
    public bool Streamed => _pull is not null;

    /// <summary>
    /// Why a streamed body could not be received or stored whole (the caller went away, sent fewer bytes than announced,
    /// or the temporary file failed): the request ends as it would have if the body had been read before the attempts,
    /// and no backend is blamed. Null while the body is fine.
    /// </summary>
    public ExceptionDispatchInfo? Failure => Volatile.Read(ref _failure);

    /// <summary>
    /// True when the latest attempt was cancelled while it waited for the caller's bytes (the deadline passed while the
    /// caller was still sending): slowness of the caller, not of the backend. Waiting for the pull of another attempt counts
    /// (it is held only while that attempt reads the caller); an earlier attempt's cancellation does not.
    /// </summary>
    public bool WaitingForCaller
    {
        get
        {
            var cancelled = Volatile.Read(ref _cancelledWaitingForCaller);
            return cancelled != 0 && cancelled == Volatile.Read(ref _attempts);
        }
    }

    /// <summary>True when the whole body is in memory (see <see cref="AsSequence"/>).</summary>
    public bool InMemory => _file is null && !Streamed;

    /// <summary>
    /// The caller's body for the attempts. When <paramref name="mayStream"/> (nothing needs the whole body before the
    /// first attempt) and the caller announced a length over <see cref="MemoryThreshold"/>, the body is streamed through the
    /// attempts as it arrives; everything else is read whole first (<see cref="ReadAsync"/>). The announced length must
    /// already be checked against the limit; the server ends a body at its Content-Length.
    /// </summary>
    public static Task<RequestBodyResult> ReceiveAsync(Stream source, long? contentLength, bool mayStream, long limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (mayStream && contentLength is { } length && length > MemoryThreshold && length <= limit)
        {
            return Task.FromResult(new RequestBodyResult(new RequestBody(source, length), false));
        }

        return ReadAsync(source, limit, cancellationToken);
    }

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
        if (Streamed)
        {
            throw new InvalidOperationException("A streamed body is read only by its attempts' contents.");
        }

        if (_file is null)
        {
            throw new InvalidOperationException("The body is in memory; use AsSequence.");
        }

        await _file.FlushAsync(cancellationToken).ConfigureAwait(false);
        return OpenReader();
    }

    private FileStream OpenReader() => new(_filePath!, new FileStreamOptions
    {
        Mode = FileMode.Open,
        Access = FileAccess.Read,
        Share = FileShare.ReadWrite | FileShare.Delete,
        Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
    });

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
        if (_file is not null || _handle is not null)
        {
            // Closing a deleted 50 MiB file frees its pages synchronously (2.6-3.3 ms here, about 10 ms for 200 MiB), and
            // this runs right after a backend's answer arrived, which with inline socket completions is on an epoll
            // thread serving other connections: the close goes to the pool.
            await Task.Yield();
        }

        if (_file is not null)
        {
            await _file.DisposeAsync().ConfigureAwait(false);
            _file = null;
        }

        // No writer is left, so nobody reads the file or holds or waits for the pull lock.
        _handle?.Dispose();
        _handle = null;
        _pull?.Dispose();
        _source = null;
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

    private static string TempFilePath() => Path.Combine(Path.GetTempPath(), "aoaiproxy-body-" + Guid.NewGuid().ToString("N"));

    private async Task SpillAsync(CancellationToken cancellationToken)
    {
        _filePath = TempFilePath();
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
            if (Streamed)
            {
                // Only requests whose body nothing reads are streamed (never a v1 body, the only one edited).
                if (edit is not null)
                {
                    throw new InvalidOperationException("A streamed body is never edited.");
                }

                await StreamToAsync(target, cancellationToken).ConfigureAwait(false);
            }
            else if (edit is null)
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

    /// <summary>
    /// Sends a streamed body: what is in the file first, then each chunk this attempt pulls from the caller (or another
    /// attempt pulled meanwhile), until <see cref="Length"/> bytes are sent. Each attempt has its own buffer and position.
    /// </summary>
    private async Task StreamToAsync(Stream target, CancellationToken cancellationToken)
    {
        var attempt = Interlocked.Increment(ref _attempts);
        var buffer = ArrayPool<byte>.Shared.Rent(StreamChunkSize);
        try
        {
            long position = 0;
            while (position < Length)
            {
                var received = Volatile.Read(ref _received);
                int count;
                if (position < received)
                {
                    count = await RandomAccess.ReadAsync(_handle!, buffer.AsMemory(0, (int)Math.Min(buffer.Length, received - position)), position,
                        cancellationToken).ConfigureAwait(false);
                    if (count == 0)
                    {
                        throw new InvalidOperationException("The body's temporary file ended before the bytes appended to it.");
                    }
                }
                else
                {
                    count = await PullAsync(buffer, position, attempt, cancellationToken).ConfigureAwait(false);
                    if (count == 0)
                    {
                        // Another attempt pulled the next chunk first: it is in the file now.
                        continue;
                    }
                }

                await target.WriteAsync(buffer.AsMemory(0, count), cancellationToken).ConfigureAwait(false);
                position += count;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// Reads the next chunk of a streamed body from the caller into <paramref name="buffer"/> and appends it to the file;
    /// 0 when another attempt got past <paramref name="position"/> meanwhile. A failure of the caller or of the file is
    /// kept (<see cref="Failure"/>) and thrown to every attempt; a cancellation is this attempt's only (its deadline, its
    /// backend resetting the stream): the caller's stream stays readable for the next.
    /// </summary>
    private async Task<int> PullAsync(byte[] buffer, long position, int attempt, CancellationToken cancellationToken)
    {
        // Cancelled before it waited for anything: whatever it waited on before (its backend) was the slow part.
        cancellationToken.ThrowIfCancellationRequested();
        try
        {
            await _pull!.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The pull is held only while another attempt reads the caller (or appends what it read): waiting for the caller.
            CancelledWaitingForCaller(attempt);
            throw;
        }

        try
        {
            _failure?.Throw();
            if (_received > position)
            {
                return 0;
            }

            var wanted = (int)Math.Min(buffer.Length, Length - _received);
            var least = Math.Min(wanted, MinimumPull);
            var count = 0;
            try
            {
                try
                {
                    do
                    {
                        var read = await _source!.ReadAsync(buffer.AsMemory(count, wanted - count), cancellationToken).ConfigureAwait(false);
                        if (read == 0)
                        {
                            throw new BadHttpRequestException(
                                $"The request body ended after {_received + count} of the {Length} bytes its Content-Length announced.");
                        }

                        count += read;
                    }
                    while (count < least);
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && count > 0)
                {
                    // Bytes already taken from the caller belong to the body whatever happens to this attempt: into the
                    // file with them, so that the next attempt finds them, then this attempt ends as cancelled.
                    await AppendAsync(buffer, count).ConfigureAwait(false);
                    throw;
                }

                await AppendAsync(buffer, count).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                CancelledWaitingForCaller(attempt);
                throw;
            }
            catch (Exception ex)
            {
                // Also an OperationCanceledException that is not this attempt's (Kestrel's ConnectionAbortedException).
                Volatile.Write(ref _failure, ExceptionDispatchInfo.Capture(ex));
                throw;
            }

            return count;
        }
        finally
        {
            _pull.Release();
        }
    }

    /// <summary>Records that <paramref name="attempt"/> was cancelled waiting for the caller, unless a later attempt already was.</summary>
    private void CancelledWaitingForCaller(int attempt)
    {
        var recorded = Volatile.Read(ref _cancelledWaitingForCaller);
        while (attempt > recorded)
        {
            var seen = Interlocked.CompareExchange(ref _cancelledWaitingForCaller, attempt, recorded);
            if (seen == recorded)
            {
                return;
            }

            recorded = seen;
        }
    }

    /// <summary>Appends the first <paramref name="count"/> bytes of <paramref name="buffer"/> to a streamed body's file.</summary>
    private async Task AppendAsync(byte[] buffer, int count)
    {
        // Not cancellable: the chunk is already taken from the caller, and a cancellation here would read as the caller
        // being slow.
        await RandomAccess.WriteAsync(_handle!, buffer.AsMemory(0, count), _received, CancellationToken.None).ConfigureAwait(false);
        Volatile.Write(ref _received, _received + count);
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
