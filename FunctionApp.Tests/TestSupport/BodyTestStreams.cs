using AoaiProxy.Forwarding;

namespace AoaiProxy.Tests.TestSupport;

/// <summary>Request bodies for the body and upload tests.</summary>
internal static class BodyBytes
{
    /// <summary><paramref name="data"/> in pooled segments, written <paramref name="readSize"/> bytes at a time as a read would.</summary>
    public static PooledSegments InSegments(byte[] data, int readSize = PooledSegments.SegmentSize)
    {
        var segments = new PooledSegments();
        var at = 0;
        while (at < data.Length)
        {
            var space = segments.FreeSpace();
            var count = Math.Min(Math.Min(readSize, space.Length), data.Length - at);
            data.AsSpan(at, count).CopyTo(space.Span);
            segments.Advance(count);
            at += count;
        }

        return segments;
    }

    /// <summary>Bytes whose value depends on the position beyond 256, so a shifted or repeated chunk shows.</summary>
    public static byte[] Of(int length)
    {
        var data = new byte[length];
        for (var i = 0; i < length; i++)
        {
            data[i] = (byte)((i * 31) ^ (i >> 8) ^ (i >> 16));
        }

        return data;
    }

    /// <summary>Every byte <paramref name="content"/> sends.</summary>
    public static async Task<byte[]> OfAsync(HttpContent content)
    {
        ArgumentNullException.ThrowIfNull(content);
        using var target = new MemoryStream();
        await content.CopyToAsync(target);
        return target.ToArray();
    }

    /// <summary>Every byte left in <paramref name="stream"/>.</summary>
    public static async Task<byte[]> OfAsync(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var target = new MemoryStream();
        await stream.CopyToAsync(target);
        return target.ToArray();
    }

    /// <summary>Pseudo-random bytes, the same for the same length (an upload's payload: nothing in it repeats).</summary>
    public static byte[] Random(int length)
    {
        var data = new byte[length];
        new System.Random(length).NextBytes(data);
        return data;
    }
}

/// <summary>The bodies' temporary files in the shared temp directory (tests that count them run alone: RequestBodyTests' collection).</summary>
internal static class BodyTempFiles
{
    public static HashSet<string> Now() => [.. Directory.EnumerateFiles(Path.GetTempPath(), "aoaiproxy-body-*")];
}

/// <summary>A source that gives at most a few bytes per read, optionally forever or failing at its end.</summary>
internal sealed class TrickleStream(byte[] data, int maxPerRead, bool endless = false, bool failAtEnd = false) : ReadOnlyTestStream
{
    private int _position;

    public long TotalRead { get; private set; }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position == data.Length)
        {
            if (failAtEnd)
            {
                throw new IOException("The client went away.");
            }

            if (!endless)
            {
                return 0;
            }

            _position = 0;
        }

        var count = Math.Min(Math.Min(maxPerRead, buffer.Length), data.Length - _position);
        data.AsSpan(_position, count).CopyTo(buffer);
        _position += count;
        TotalRead += count;
        return count;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }
}

/// <summary>A caller that sends its first <paramref name="gateAt"/> bytes, then waits for <see cref="Gate"/> (or cancellation).</summary>
internal sealed class GatedSource(byte[] data, int gateAt) : ReadOnlyTestStream
{
    private int _position;

    public TaskCompletionSource Waiting { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private int _readsInFlight;

    /// <summary>Reads started and not yet returned (or thrown): what the server would see as a read in progress.</summary>
    public int ReadsInFlight => Volatile.Read(ref _readsInFlight);

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Interlocked.Increment(ref _readsInFlight);
        try
        {
            if (_position == gateAt && !Gate.Task.IsCompleted)
            {
                Waiting.TrySetResult();
                await Gate.Task.WaitAsync(cancellationToken);
            }

            var limit = Gate.Task.IsCompleted ? data.Length : gateAt;
            var count = Math.Min(buffer.Length, limit - _position);
            data.AsMemory(_position, count).CopyTo(buffer);
            _position += count;
            return count;
        }
        finally
        {
            Interlocked.Decrement(ref _readsInFlight);
        }
    }
}

/// <summary>Blocks its first write until <see cref="Gate"/> opens.</summary>
internal sealed class GatedStream : MemoryStream
{
    public TaskCompletionSource FirstWrite { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        FirstWrite.TrySetResult();
        await Gate.Task;
        await base.WriteAsync(buffer, cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
}
