using System.Diagnostics.CodeAnalysis;

namespace AoaiProxy.Content;

/// <summary>A whole body decoded by <see cref="ContentDecoder.Decode"/>: its bytes when complete, otherwise why not.</summary>
/// <param name="Status">Ok, or why decoding stopped.</param>
/// <param name="Bytes">The decoded body; null unless <paramref name="Status"/> is Ok (a partial body is never handed out).</param>
internal readonly record struct DecodedBody(DecodeStatus Status, byte[]? Bytes)
{
    /// <summary>True when the whole body was decoded within the limit.</summary>
    [MemberNotNullWhen(true, nameof(Bytes))]
    public bool Complete => Status == DecodeStatus.Ok && Bytes is not null;
}
