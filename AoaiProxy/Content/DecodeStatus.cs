namespace AoaiProxy.Content;

/// <summary>Where decoding a body stands, or why it stopped.</summary>
internal enum DecodeStatus
{
    /// <summary>Decoding (incrementally: so far), or decoded completely (a whole body).</summary>
    Ok,

    /// <summary>The decoded bytes would exceed the limit: decoding stopped there and its memory was released.</summary>
    LimitReached,

    /// <summary>The body's encoding is not one the decoder reads (<see cref="ContentCoding.Unsupported"/>).</summary>
    UnsupportedCoding,

    /// <summary>The bytes are not what the encoding says (bad header, bad data, bad checksum).</summary>
    Corrupt,
}
