using System.Buffers;
using System.Text.Json;

namespace AoaiProxy.Routing;

/// <summary>
/// Finds the deployment of a v1 API request: the top-level "model" of a JSON body. Never throws on bad JSON (the proxy
/// does not judge request content, it only forwards it). The SDKs write "model" after "messages", so a vision request
/// with megabytes of base64 images has it far from the start: bodies spilled to disk are scanned as a stream.
/// </summary>
internal static class ModelName
{
    private const int StreamBufferSize = 64 * 1024;

    private static readonly JsonReaderOptions ReaderOptions = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    private static ReadOnlySpan<byte> ModelProperty => "model"u8;

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    private enum Scan
    {
        NeedMore,
        Found,
        NotFound,
    }

    /// <summary>The model of a body held in memory.</summary>
    public static string? FromJson(ReadOnlySequence<byte> body)
    {
        // JSON text may start with a UTF-8 byte order mark (RFC 8259 lets parsers ignore it); Utf8JsonReader does not.
        // The first bytes are copied to the stack (they may span segments) rather than to a new array per request.
        Span<byte> start = stackalloc byte[Utf8Bom.Length];
        if (body.Length >= Utf8Bom.Length)
        {
            body.Slice(0, Utf8Bom.Length).CopyTo(start);
            if (start.SequenceEqual(Utf8Bom))
            {
                body = body.Slice(Utf8Bom.Length);
            }
        }

        var reader = new Utf8JsonReader(body, isFinalBlock: true, new JsonReaderState(ReaderOptions));
        var cursor = new Cursor();
        return Step(ref reader, ref cursor) == Scan.Found ? cursor.Model : null;
    }

    /// <summary>
    /// The model of a body read from <paramref name="stream"/>, a window at a time. The window grows only as far as the
    /// longest single token before "model" needs (a base64 image string, say), never to the whole body.
    /// </summary>
    public static async Task<string?> FromStreamAsync(Stream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = ArrayPool<byte>.Shared.Rent(StreamBufferSize);
        try
        {
            var state = new JsonReaderState(ReaderOptions);
            var cursor = new Cursor();
            var length = 0;
            var final = false;
            var first = true;
            while (true)
            {
                if (length == buffer.Length)
                {
                    var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, length).CopyTo(larger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = larger;
                }

                var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                final = read == 0;
                length += read;
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
    }
}
