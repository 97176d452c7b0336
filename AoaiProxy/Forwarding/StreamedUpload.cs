using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using Microsoft.Win32.SafeHandles;

namespace AoaiProxy.Forwarding;

/// <summary>
/// A body announced over the memory threshold and streamed through the attempts as it arrives: each attempt sends what
/// the file holds, then pulls the next chunk from the caller itself (or finds that another attempt pulled it meanwhile),
/// appends it to the file and sends it on. One puller at a time; the pull lock is held only while reading the caller and
/// appending to the file, never while writing to a backend, so an attempt whose backend stopped reading cannot hold up
/// the next one. The file is written and read at explicit offsets through one handle, asynchronously (on Linux a
/// thread-pool work item per pull of 64-256 KiB): the attempt resumes from its backend's socket, which with inline socket
/// completions (the standalone host's default) is an epoll thread serving every other connection of its share, and a
/// write can wait for the disk once dirty pages pile up (many 50 MiB uploads).
/// </summary>
[SuppressMessage("Design", "CA1001:Types that own disposable fields should be disposable",
    Justification = "The pull lock and the stop source hold no handle (no wait handle is ever asked for, no timer) and must stay usable for a StopAsync after FreeAsync; the file handle is freed by FreeAsync.")]
internal sealed class StreamedUpload : IBodyStore
{
    /// <summary>
    /// The most a pull moves: one buffer per attempt in flight. Larger than a segment because the caller's bytes usually
    /// wait in the server's buffer (up to 1 MiB) while the proxy sends: fewer, larger reads, file writes and socket writes.
    /// </summary>
    internal const int ChunkSize = 256 * 1024;

    /// <summary>
    /// The least a pull waits for (or what is left of the body). The caller's bytes come from the server a few KiB per
    /// read, about as fast as they are sent on, and every pull costs a file write (a thread-pool work item) and a socket
    /// write to the backend: taking each read as it came made about 5,000 of each per 50 MiB (measured with strace: 10,500
    /// file writes and 29,800 futex calls for two uploads), where 64 KiB makes at most 800.
    /// </summary>
    internal const int MinimumPull = 64 * 1024;

    private readonly Stream _source;
    private readonly CancellationToken _callerAborted;
    private readonly SafeFileHandle _handle;
    private readonly SemaphoreSlim _pull = new(1, 1);

    // Cancelled when the request ends (StopAsync): the pull in flight ends, and no other starts.
    private readonly CancellationTokenSource _stop = new();
    private readonly CallerWaits _waits = new();
    private long _received;
    private FailureSlot _failure;

    private StreamedUpload(Stream source, long length, SafeFileHandle handle, CancellationToken callerAborted)
    {
        _source = source;
        Length = length;
        _callerAborted = callerAborted;
        _handle = handle;
    }

    public long Length { get; }

    /// <summary>
    /// Why the body could not be received or stored whole (the caller went away, sent fewer bytes than announced or bad
    /// framing, or the file failed); null while it is fine. Every later attempt ends with it too.
    /// </summary>
    public BodyFailure? Failure => _failure.Value;

    /// <inheritdoc cref="CallerWaits.WaitingForCaller"/>
    public bool WaitingForCaller => _waits.WaitingForCaller;

    /// <summary>
    /// Creates the body's file; nothing is read from <paramref name="source"/> yet. Throws what the file system throws.
    /// <paramref name="callerAborted"/> is the request's RequestAborted, for telling the caller's failures apart.
    /// </summary>
    public static StreamedUpload Create(Stream source, long length, CancellationToken callerAborted)
    {
        var handle = File.OpenHandle(SpillFile.NewPath(), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
        return new StreamedUpload(source, length, handle, callerAborted);
    }

    /// <summary>
    /// Sends the whole body to one attempt's backend: what is in the file first, then each chunk this attempt pulls from
    /// the caller (or another attempt pulled meanwhile), until <see cref="Length"/> bytes are sent. Each attempt has its own
    /// buffer and position. A streamed body is never edited (only v1 bodies are, and those are read whole).
    /// </summary>
    public async Task CopyToAsync(Stream target, long from, long to, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (from != 0 || to != Length)
        {
            throw new InvalidOperationException("A streamed body is sent whole, never edited.");
        }

        var attempt = _waits.Start();
        using var pulling = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stop.Token);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        try
        {
            long position = 0;
            while (position < Length)
            {
                var received = Volatile.Read(ref _received);
                int count;
                if (position < received)
                {
                    count = await ReadBackAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, received - position)), position, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    count = await PullAsync(buffer, position, attempt, cancellationToken, pulling.Token).ConfigureAwait(false);
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
    /// The request ends: the pull in flight, if any, is cancelled and awaited, so that no read of the caller's stream is
    /// pending once this returns (the server drains the rest of the body then); later pulls end at once. An attempt still
    /// sending what the file holds goes on (its lease frees the file when it ends).
    /// </summary>
    public async ValueTask StopAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);

        // A pull holds the lock for as long as it reads the caller or appends what it read.
        await _pull.WaitAsync().ConfigureAwait(false);
        _pull.Release();
    }

    public async ValueTask FreeAsync()
    {
        // The same reason as SpillFile.FreeAsync: closing a deleted file of many MiB is slow, and this may run on a socket
        // thread. No writer is left, so nobody reads the file or holds the pull lock (the lock and _stop hold no resource
        // and stay usable for a late StopAsync).
        await Task.Yield();
        _handle.Dispose();
    }

    /// <summary>Reads back bytes another pull already appended.</summary>
    private async Task<int> ReadBackAsync(Memory<byte> buffer, long position, CancellationToken cancellationToken)
    {
        int count;
        try
        {
            count = await RandomAccess.ReadAsync(_handle, buffer, position, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (BodyFailure.IsStorageError(ex))
        {
            throw Fail(BodyFailure.Storage(ex));
        }

        return count > 0 ? count : throw Fail(BodyFailure.Storage(new EndOfStreamException("The body's temporary file ended before the bytes appended to it.")));
    }

    /// <summary>
    /// Reads the next chunk from the caller into <paramref name="buffer"/> and appends it to the file; 0 when another
    /// attempt got past <paramref name="position"/> meanwhile. A failure of the caller or of the file is kept
    /// (<see cref="Failure"/>) and ends every attempt; a cancellation is this attempt's only (its deadline, its backend
    /// resetting the stream) or the request's end: the caller's stream stays readable for the next attempt.
    /// </summary>
    private async Task<int> PullAsync(byte[] buffer, long position, int attempt, CancellationToken attemptToken, CancellationToken pullToken)
    {
        // Cancelled before it waited for anything: whatever it waited on before (its backend) was the slow part.
        attemptToken.ThrowIfCancellationRequested();
        try
        {
            await _pull.WaitAsync(pullToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (attemptToken.IsCancellationRequested)
        {
            // The pull is held only while another attempt reads the caller (or appends what it read): waiting for the caller.
            _waits.Cancelled(attempt);
            throw;
        }

        try
        {
            if (Failure is { } failed)
            {
                throw new BodyFailedException(failed.Message);
            }

            if (_received > position)
            {
                return 0;
            }

            var wanted = (int)Math.Min(buffer.Length, Length - _received);
            var least = Math.Min(wanted, MinimumPull);
            var count = 0;
            try
            {
                do
                {
                    var read = await _source.ReadAsync(buffer.AsMemory(count, wanted - count), pullToken).ConfigureAwait(false);
                    if (read == 0)
                    {
                        throw Fail(BodyFailure.Truncated(_received + count, Length));
                    }

                    count += read;
                }
                while (count < least);
            }
            catch (OperationCanceledException) when (pullToken.IsCancellationRequested)
            {
                // Bytes already taken from the caller belong to the body whatever happens to this attempt: into the file
                // with them, so that the next attempt finds them, then this attempt ends as cancelled.
                if (count > 0)
                {
                    await AppendAsync(buffer, count).ConfigureAwait(false);
                }

                if (attemptToken.IsCancellationRequested)
                {
                    _waits.Cancelled(attempt);
                }

                throw;
            }
            catch (Exception ex) when (ex is not BodyFailedException && BodyFailure.OfCallerRead(ex, _callerAborted.IsCancellationRequested) is { } failure)
            {
                // Also an OperationCanceledException that is not this attempt's (Kestrel's ConnectionAbortedException).
                throw Fail(failure);
            }

            await AppendAsync(buffer, count).ConfigureAwait(false);
            return count;
        }
        finally
        {
            _pull.Release();
        }
    }

    /// <summary>Appends the first <paramref name="count"/> bytes of <paramref name="buffer"/> to the file.</summary>
    private async Task AppendAsync(byte[] buffer, int count)
    {
        try
        {
            // Not cancellable: the chunk is already taken from the caller, and a cancellation here would read as the caller
            // being slow.
            await RandomAccess.WriteAsync(_handle, buffer.AsMemory(0, count), _received, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (BodyFailure.IsStorageError(ex))
        {
            throw Fail(BodyFailure.Storage(ex));
        }

        Volatile.Write(ref _received, _received + count);
    }

    private BodyFailedException Fail(BodyFailure failure) => new(_failure.Record(failure).Message);
}
