using System.Buffers;

namespace AoaiProxy.Forwarding;

/// <summary>
/// A body read whole that outgrew memory: a temporary file, appended to while the body is read, deleted when it is freed
/// (or when the process ends, as the file is opened delete-on-close). Each replay reads it through a handle of its own.
/// </summary>
internal sealed class SpillFile : IBodyStore
{
    private const string Prefix = "aoaiproxy-body-";
    private const int CopyBufferSize = PooledSegments.SegmentSize;

    private readonly string _path;
    private FileStream? _writer;
    private FailureSlot _failure;

    private SpillFile(string path, FileStream writer)
    {
        _path = path;
        _writer = writer;
    }

    public long Length { get; private set; }

    /// <summary>Why a replay could not read the file back; null while it could.</summary>
    public BodyFailure? Failure => _failure.Value;

    /// <summary>A fresh path for a body's temporary file (also a streamed upload's).</summary>
    public static string NewPath() => Path.Combine(Path.GetTempPath(), Prefix + Guid.NewGuid().ToString("N"));

    /// <summary>
    /// Creates the file with what <paramref name="start"/> holds and frees <paramref name="start"/>'s segments. Throws what
    /// the file system throws (see <see cref="BodyFailure.IsStorageError"/>); the file is gone then.
    /// </summary>
    public static async Task<SpillFile> CreateAsync(PooledSegments start, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(start);
        var path = NewPath();
        var writer = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.Read | FileShare.Delete,
            Options = FileOptions.DeleteOnClose | FileOptions.Asynchronous,
        });
        var file = new SpillFile(path, writer);
        try
        {
            await start.CopyToAsync(writer, 0, start.Length, cancellationToken).ConfigureAwait(false);
            file.Length = start.Length;
            start.Free();
            return file;
        }
        catch
        {
            await file.FreeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Appends the next bytes read. Throws what the file system throws.</summary>
    public async Task AppendAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        await _writer!.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
        Length += bytes.Length;
    }

    /// <summary>A new read stream over the whole file, positioned at its start; each reader has its own position.</summary>
    public async Task<Stream> OpenReaderAsync(CancellationToken cancellationToken)
    {
        await _writer!.FlushAsync(cancellationToken).ConfigureAwait(false);
        return new FileStream(_path, new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            Share = FileShare.ReadWrite | FileShare.Delete,
            Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
        });
    }

    /// <summary>
    /// Copies a range of the file to an attempt's backend. A failure to read the file is the proxy's, kept as
    /// <see cref="Failure"/> (the attempt's send then ends with <see cref="BodyFailedException"/>); a failure to write to
    /// <paramref name="target"/> is the backend's connection and is thrown as it is.
    /// </summary>
    public async Task CopyToAsync(Stream target, long from, long to, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        if (to <= from)
        {
            return;
        }

        Stream reader;
        try
        {
            reader = await OpenReaderAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (BodyFailure.IsStorageError(ex))
        {
            throw Fail(ex);
        }

        await using (reader.ConfigureAwait(false))
        {
            var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
            try
            {
                reader.Seek(from, SeekOrigin.Begin);
                var remaining = to - from;
                while (remaining > 0)
                {
                    int read;
                    try
                    {
                        read = await reader.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, remaining)), cancellationToken).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (BodyFailure.IsStorageError(ex))
                    {
                        throw Fail(ex);
                    }

                    if (read == 0)
                    {
                        throw Fail(new EndOfStreamException("The body's temporary file ended before the bytes written to it."));
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

    public async ValueTask FreeAsync()
    {
        if (_writer is not { } writer)
        {
            return;
        }

        // Closing a deleted 50 MiB file frees its pages synchronously (2.6-3.3 ms here, about 10 ms for 200 MiB), and this
        // may run right after a backend's answer arrived, which with inline socket completions is on an epoll thread
        // serving other connections: the close goes to the pool.
        _writer = null;
        await Task.Yield();
        await writer.DisposeAsync().ConfigureAwait(false);
    }

    private BodyFailedException Fail(Exception ex) => new(_failure.Record(BodyFailure.Storage(ex)).Message);
}
