using System.Net;

namespace AoaiProxy.Forwarding;

/// <summary>A replacement of <paramref name="Length"/> bytes at <paramref name="Start"/> by <paramref name="Replacement"/>, made while sending.</summary>
internal sealed record BodyEdit(long Start, long Length, byte[] Replacement);

/// <summary>
/// One attempt's content: the body from its store, with an optional <see cref="BodyEdit"/>. Attempts never share a read
/// position. Each send holds the body's lease, so the buffers are not freed under it, and the last writer after the
/// release frees them; once released, no send starts.
/// </summary>
internal sealed class ReplayContent : HttpContent
{
    private readonly IBodyStore _store;
    private readonly BodyLease _lease;
    private readonly BodyEdit? _edit;

    public ReplayContent(IBodyStore store, BodyLease lease, BodyEdit? edit)
    {
        _store = store;
        _lease = lease;
        _edit = edit;
    }

    protected override Task SerializeToStreamAsync(Stream stream, TransportContext? context) =>
        SerializeToStreamAsync(stream, context, CancellationToken.None);

    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(!_lease.TryEnter(), typeof(RequestBody));
        try
        {
            if (_edit is null)
            {
                await _store.CopyToAsync(stream, 0, _store.Length, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                await _store.CopyToAsync(stream, 0, _edit.Start, cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync(_edit.Replacement, cancellationToken).ConfigureAwait(false);
                await _store.CopyToAsync(stream, _edit.Start + _edit.Length, _store.Length, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (_lease.Exit())
            {
                await _store.FreeAsync().ConfigureAwait(false);
            }
        }
    }

    protected override bool TryComputeLength(out long length)
    {
        length = _edit is null ? _store.Length : _store.Length - _edit.Length + _edit.Replacement.Length;
        return true;
    }
}
