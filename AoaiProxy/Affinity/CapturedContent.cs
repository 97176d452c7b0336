using System.Net;
using AoaiProxy.Content;

namespace AoaiProxy.Affinity;

/// <summary>
/// A backend's answer relayed unchanged while its first bytes are kept, so that the id of an object it created can be
/// read once the answer has passed (the id is the first field Azure OpenAI writes). Nothing is buffered ahead of the
/// caller: bytes are kept as they are read for the relay.
/// </summary>
internal sealed class CapturedContent : HttpContent
{
    /// <summary>Far more than an object's "id" needs, even behind a server-sent event's preamble.</summary>
    internal const int Limit = 8 * 1024;

    private readonly HttpContent _inner;
    private readonly byte[] _captured = new byte[Limit];
    private int _length;

    public CapturedContent(HttpContent inner)
    {
        _inner = inner;
        foreach (var header in inner.Headers.NonValidated)
        {
            Headers.TryAddWithoutValidation(header.Key, header.Value);
        }
    }

    /// <summary>The bytes relayed so far, up to <see cref="Limit"/>.</summary>
    public ReadOnlySpan<byte> Captured => _captured.AsSpan(0, _length);

    /// <summary>
    /// The captured bytes as JSON text: decoded when the backend compressed its answer (the caller asked for it with
    /// Accept-Encoding, and the proxy relays bytes as they are), at most <see cref="Limit"/> bytes of it. A cut-off
    /// compressed prefix, or a corrupt one, gives what it can; an encoding the proxy does not read gives nothing.
    /// </summary>
    public byte[] Decoded()
    {
        var coding = ContentCodings.Of(Headers.ContentEncoding);
        if (coding == ContentCoding.Identity)
        {
            return Captured.ToArray();
        }

        // The decoder stops at the limit: a few compressed kilobytes can inflate to gigabytes, of which the id needs the first.
        using var decoder = new ContentDecoder(coding, Limit);
        decoder.Write(Captured);
        var decoded = new byte[Limit];
        var length = 0;
        while (decoder.TryRead(out var piece))
        {
            piece.CopyTo(decoded.AsSpan(length));
            length += piece.Length;
        }

        return length == decoded.Length ? decoded : decoded[..length];
    }

    protected override async Task<Stream> CreateContentReadStreamAsync(CancellationToken cancellationToken) =>
        new CapturingStream(this, await _inner.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false));

    protected override Task<Stream> CreateContentReadStreamAsync() => CreateContentReadStreamAsync(CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        var source = await CreateContentReadStreamAsync().ConfigureAwait(false);
        await using (source.ConfigureAwait(false))
        {
            await source.CopyToAsync(stream).ConfigureAwait(false);
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = 0;
        return false;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }

    private void Keep(ReadOnlySpan<byte> read)
    {
        var count = Math.Min(read.Length, Limit - _length);
        read[..count].CopyTo(_captured.AsSpan(_length));
        _length += count;
    }

    private sealed class CapturingStream(CapturedContent owner, Stream inner) : Stream
    {
        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var read = await inner.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            owner.Keep(buffer.Span[..read]);
            return read;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override int Read(byte[] buffer, int offset, int count)
        {
            var read = inner.Read(buffer, offset, count);
            owner.Keep(buffer.AsSpan(offset, read));
            return read;
        }

        public override void Flush() { }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
            }

            base.Dispose(disposing);
        }

        public override async ValueTask DisposeAsync()
        {
            await inner.DisposeAsync().ConfigureAwait(false);
            await base.DisposeAsync().ConfigureAwait(false);
        }
    }
}
