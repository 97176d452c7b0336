using System.Buffers;

namespace AoaiProxy.Forwarding;

/// <summary>
/// A body in pooled memory: 64 KiB segments rented as the body is read, or, for a small body once read, one pooled array
/// of about its size (<see cref="Compact"/>). Filled by one reader, then only read.
/// </summary>
internal sealed class PooledSegments : IBodyStore
{
    internal const int SegmentSize = 64 * 1024;

    /// <summary>
    /// A body up to this size moves from its 64 KiB read segment to a pooled array of its own size once read: the body is
    /// held until the request ends, which for a streamed completion is its whole stream, and 1,000 concurrent streams
    /// would otherwise hold 64 MiB of segments for bodies of about 1 KB.
    /// </summary>
    internal const int CompactBelow = SegmentSize / 2;

    // The first segment apart from the others: a body of one segment (nearly every request) needs no list.
    private byte[]? _first;
    private List<byte[]>? _rest;

    public long Length { get; private set; }

    /// <summary>Bytes of pooled memory held (the arrays' sizes).</summary>
    public long Capacity
    {
        get
        {
            long capacity = 0;
            for (var i = 0; i < Count; i++)
            {
                capacity += Segment(i).Length;
            }

            return capacity;
        }
    }

    private int Count => _first is null ? 0 : 1 + (_rest?.Count ?? 0);

    /// <summary>Where the next bytes read go: the free tail of the last segment, or a new segment when it is full.</summary>
    public Memory<byte> FreeSpace()
    {
        var used = (int)(Length - ((long)Math.Max(Count - 1, 0) * SegmentSize));
        if (_first is null || used == SegmentSize)
        {
            var segment = ArrayPool<byte>.Shared.Rent(SegmentSize);
            if (_first is null)
            {
                _first = segment;
            }
            else
            {
                (_rest ??= []).Add(segment);
            }

            used = 0;
        }

        return Segment(Count - 1).AsMemory(used, SegmentSize - used);
    }

    /// <summary>Counts <paramref name="count"/> bytes written into the last <see cref="FreeSpace"/>.</summary>
    public void Advance(int count) => Length += count;

    /// <summary>Swaps the read segment of a small body (see <see cref="CompactBelow"/>) for a pooled array of about its size.</summary>
    public void Compact()
    {
        if (_first is not { } segment || _rest is { Count: > 0 } || Length > CompactBelow)
        {
            return;
        }

        _first = null;
        if (Length > 0)
        {
            _first = ArrayPool<byte>.Shared.Rent((int)Length);
            segment.AsSpan(0, (int)Length).CopyTo(_first);
        }

        ArrayPool<byte>.Shared.Return(segment);
    }

    /// <summary>The body as one sequence over the segments (valid until freed).</summary>
    public ReadOnlySequence<byte> AsSequence()
    {
        if (Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        if (_rest is not { Count: > 0 })
        {
            return new ReadOnlySequence<byte>(_first!, 0, (int)Length);
        }

        Chain? head = null;
        Chain? last = null;
        for (var i = 0; i < Count; i++)
        {
            var memory = new ReadOnlyMemory<byte>(Segment(i), 0, CountOf(i));
            last = last is null ? head = new Chain(memory, 0) : last.Append(memory);
        }

        return new ReadOnlySequence<byte>(head!, 0, last!, last!.Memory.Length);
    }

    public async Task CopyToAsync(Stream target, long from, long to, CancellationToken cancellationToken)
    {
        long position = 0;
        for (var i = 0; i < Count && position < to; i++)
        {
            var count = CountOf(i);
            var start = Math.Max(from, position);
            var end = Math.Min(to, position + count);
            if (end > start)
            {
                await target.WriteAsync(Segment(i).AsMemory((int)(start - position), (int)(end - start)), cancellationToken).ConfigureAwait(false);
            }

            position += count;
        }
    }

    /// <summary>Returns every array to the pool, once.</summary>
    public void Free()
    {
        if (_first is { } first)
        {
            ArrayPool<byte>.Shared.Return(first);
        }

        if (_rest is not null)
        {
            foreach (var segment in _rest)
            {
                ArrayPool<byte>.Shared.Return(segment);
            }
        }

        _first = null;
        _rest = null;
    }

    public ValueTask FreeAsync()
    {
        Free();
        return ValueTask.CompletedTask;
    }

    private byte[] Segment(int index) => index == 0 ? _first! : _rest![index - 1];

    private int CountOf(int index) => (int)Math.Min(SegmentSize, Length - ((long)index * SegmentSize));

    private sealed class Chain : ReadOnlySequenceSegment<byte>
    {
        public Chain(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Chain Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Chain(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
