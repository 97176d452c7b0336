using System.Buffers;

namespace AoaiProxy.Content;

/// <summary>
/// The source a decompression stream reads: the encoded bytes given so far, then 0 (end for now) until the next ones.
/// The decompression streams keep their state across such ends, which is what lets a body be decoded chunk by chunk.
/// </summary>
internal sealed class EncodedFeed : Stream
{
    private byte[]? _rented;
    private ReadOnlyMemory<byte> _pending;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    /// <summary>Copies the next encoded bytes (the caller's buffer is reused as soon as this returns).</summary>
    public void Copy(ReadOnlySpan<byte> encoded)
    {
        if (_rented is null || _rented.Length < encoded.Length)
        {
            Release();
            _rented = ArrayPool<byte>.Shared.Rent(encoded.Length);
        }

        encoded.CopyTo(_rented);
        _pending = _rented.AsMemory(0, encoded.Length);
    }

    /// <summary>Reads the next encoded bytes in place (they must stay unchanged until they have been read).</summary>
    public void Set(ReadOnlyMemory<byte> encoded) => _pending = encoded;

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        var n = Math.Min(buffer.Length, _pending.Length);
        _pending.Span[..n].CopyTo(buffer);
        _pending = _pending[n..];
        return n;
    }

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            Release();
        }

        base.Dispose(disposing);
    }

    private void Release()
    {
        _pending = default;
        if (_rented is { } rented)
        {
            _rented = null;
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
