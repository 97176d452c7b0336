using System.Buffers;
using System.Text.Json;

namespace AoaiProxy.Routing;

/// <summary>Where a body's "model" string token (quotes included) is, in bytes from the body's start.</summary>
/// <param name="Model">The model, null when the body names none.</param>
/// <param name="Start">Offset of the opening quote.</param>
/// <param name="Length">Length of the token, both quotes included.</param>
internal readonly record struct ModelLocation(string? Model, long Start, long Length);

/// <summary>
/// Finds the deployment of a v1 API request: the top-level "model" of a JSON body. Never throws on bad JSON (the proxy
/// does not judge request content, it only forwards it). The SDKs write "model" after "messages", so a vision request
/// with megabytes of base64 images has it far from the start: bodies spilled to disk are scanned as a stream.
/// </summary>
internal static class ModelName
{
    private const int StreamBufferSize = 64 * 1024;

    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <summary>What may precede an unfinished token in a window: whitespace and separators.</summary>
    private static readonly SearchValues<byte> BeforeToken = SearchValues.Create(" \t\r\n,:[{"u8);

    private static ReadOnlySpan<byte> ModelProperty => "model"u8;

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    private enum Scan
    {
        NeedMore,
        Found,
        NotFound,
    }

    /// <summary>The model of a body held in memory.</summary>
    public static string? FromJson(ReadOnlySequence<byte> body) => Locate(body).Model;

    /// <summary>
    /// The model of a body held in memory and where its JSON string token (quotes included) lies in the body, so that it
    /// can be replaced by a backend's own deployment name.
    /// </summary>
    public static ModelLocation Locate(ReadOnlySequence<byte> body)
    {
        var offset = 0;
        // JSON text may start with a UTF-8 byte order mark (RFC 8259 lets parsers ignore it); Utf8JsonReader does not.
        // The first bytes are copied to the stack (they may span segments) rather than to a new array per request.
        Span<byte> start = stackalloc byte[Utf8Bom.Length];
        if (body.Length >= Utf8Bom.Length)
        {
            body.Slice(0, Utf8Bom.Length).CopyTo(start);
            if (start.SequenceEqual(Utf8Bom))
            {
                body = body.Slice(Utf8Bom.Length);
                offset = Utf8Bom.Length;
            }
        }

        var reader = new Utf8JsonReader(body, isFinalBlock: true, new JsonReaderState(ReaderOptions));
        var cursor = new Cursor();
        return Step(ref reader, ref cursor) == Scan.Found
            ? new ModelLocation(cursor.Model, offset + cursor.TokenStart, cursor.TokenLength)
            : default;
    }

    /// <summary>
    /// The model of a body read from <paramref name="stream"/>, a window at a time, in a fixed window whatever the body:
    /// a string that does not fit (a base64 image before "model") is skipped rather than buffered. The reader is shown
    /// it as an empty string, which keeps the JSON structure it walks intact. Any other token that does not fit (a
    /// number of 64 KiB) ends the scan without a model.
    /// </summary>
    public static async Task<string?> FromStreamAsync(Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = ArrayPool<byte>.Shared.Rent(StreamBufferSize);
        try
        {
            var state = new JsonReaderState(ReaderOptions);
            var cursor = new Cursor();
            var skip = new StringSkip();
            var length = 0;
            var first = true;
            while (true)
            {
                if (length == buffer.Length)
                {
                    // The window is full of one unfinished token.
                    if (!skip.TryStart(buffer.AsSpan(0, length), out length) || length == buffer.Length)
                    {
                        return null;
                    }
                }

                var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                var final = read == 0;
                if (skip.Active)
                {
                    // Drop the string's content up to its closing quote (kept), then go on with what follows it.
                    length = skip.Continue(buffer, length, read);
                    if (skip.Active && !final)
                    {
                        continue;
                    }
                }
                else
                {
                    length += read;
                }

                var start = 0;
                if (first && (length >= Utf8Bom.Length || final))
                {
                    first = false;
                    start = buffer.AsSpan(0, length).StartsWith(Utf8Bom) ? Utf8Bom.Length : 0;
                }
                else if (first)
                {
                    continue;
                }

                var (scan, consumed) = StepWindow(buffer.AsSpan(start, length - start), final, ref state, ref cursor);
                if (scan != Scan.NeedMore)
                {
                    return scan == Scan.Found ? cursor.Model : null;
                }

                if (final)
                {
                    return null;
                }

                // Keep the unconsumed tail (a token cut by the window's end) for the next read.
                var kept = length - start - consumed;
                buffer.AsSpan(start + consumed, kept).CopyTo(buffer);
                length = kept;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Skipping the content of a JSON string too long for the window, across reads.</summary>
    private struct StringSkip
    {
        private bool _escaped;

        public bool Active { get; private set; }

        /// <summary>
        /// Starts skipping if the window's unfinished token is a string: keeps what precedes it and its opening quote,
        /// drops the rest of its content read so far. False when the token is not a string.
        /// </summary>
        public bool TryStart(Span<byte> window, out int kept)
        {
            kept = window.Length;
            var quote = window.IndexOfAnyExcept(BeforeToken);
            if (quote < 0 || window[quote] != (byte)'"')
            {
                return false;
            }

            Active = true;
            _escaped = false;
            kept = quote + 1;
            var end = Find(window[kept..]);
            if (end >= 0)
            {
                // A finished string the reader still held back (a property name waiting for its colon): drop its content.
                Active = false;
                window[(kept + end)..].CopyTo(window[kept..]);
                kept = window.Length - end;
            }

            return true;
        }

        /// <summary>
        /// Scans <paramref name="read"/> new bytes at <paramref name="length"/>; drops those inside the string and
        /// returns the new length of the window (ending with the closing quote and what followed it, once found).
        /// </summary>
        public int Continue(byte[] buffer, int length, int read)
        {
            var fresh = buffer.AsSpan(length, read);
            var end = Find(fresh);
            if (end < 0)
            {
                return length;
            }

            Active = false;
            fresh[end..].CopyTo(buffer.AsSpan(length));
            return length + read - end;
        }

        /// <summary>Index of the unescaped closing quote in <paramref name="bytes"/>, carrying the escape state; -1 if none.</summary>
        private int Find(ReadOnlySpan<byte> bytes)
        {
            for (var i = 0; i < bytes.Length; i++)
            {
                if (_escaped)
                {
                    _escaped = false;
                }
                else if (bytes[i] == (byte)'\\')
                {
                    _escaped = true;
                }
                else if (bytes[i] == (byte)'"')
                {
                    return i;
                }
            }

            return -1;
        }
    }

    private static (Scan Scan, int Consumed) StepWindow(ReadOnlySpan<byte> window, bool final, ref JsonReaderState state, ref Cursor cursor)
    {
        var reader = new Utf8JsonReader(window, final, state);
        var scan = Step(ref reader, ref cursor);
        state = reader.CurrentState;
        return (scan, (int)reader.BytesConsumed);
    }

    /// <summary>Walks the tokens available to <paramref name="reader"/>: the first top-level "model" string, or why not.</summary>
    private static Scan Step(ref Utf8JsonReader reader, ref Cursor cursor)
    {
        try
        {
            while (reader.Read())
            {
                if (!cursor.Started)
                {
                    cursor.Started = true;
                    if (reader.TokenType != JsonTokenType.StartObject)
                    {
                        return Scan.NotFound;
                    }
                }
                else if (cursor.AtModelValue)
                {
                    cursor.Model = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
                    cursor.TokenStart = reader.TokenStartIndex;
                    cursor.TokenLength = reader.BytesConsumed - reader.TokenStartIndex;
                    return cursor.Model is null ? Scan.NotFound : Scan.Found;
                }
                else if (reader.TokenType == JsonTokenType.PropertyName && reader.CurrentDepth == 1 && reader.ValueTextEquals(ModelProperty))
                {
                    cursor.AtModelValue = true;
                }
                else if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0)
                {
                    return Scan.NotFound;
                }
            }

            return reader.IsFinalBlock ? Scan.NotFound : Scan.NeedMore;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not our business: the backend will answer malformed JSON itself. GetString throws
            // InvalidOperationException (not JsonException) for a string that is not valid UTF-8.
            return Scan.NotFound;
        }
    }

    /// <summary>Where the scan is, carried across windows.</summary>
    private struct Cursor
    {
        public bool Started;
        public bool AtModelValue;
        public string? Model;
        public long TokenStart;
        public long TokenLength;
    }
}
