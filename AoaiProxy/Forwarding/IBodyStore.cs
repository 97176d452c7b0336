namespace AoaiProxy.Forwarding;

/// <summary>Where a request body's bytes are kept for the attempts: pooled memory, a spill file, or a streamed upload's file.</summary>
internal interface IBodyStore
{
    /// <summary>Total bytes of the body.</summary>
    long Length { get; }

    /// <summary>Writes bytes [<paramref name="from"/>, <paramref name="to"/>) of the body to <paramref name="target"/>.</summary>
    Task CopyToAsync(Stream target, long from, long to, CancellationToken cancellationToken);

    /// <summary>Gives the buffers or the file back. Called once, when no attempt writes the body any more (<see cref="BodyLease"/>).</summary>
    ValueTask FreeAsync();
}
