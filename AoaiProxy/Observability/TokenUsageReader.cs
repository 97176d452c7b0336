using System.Buffers;
using System.IO.Compression;
using System.Text.Json;

namespace AoaiProxy.Observability;

/// <summary>Token counts from a response's <c>usage</c> object; a count the object lacks is null.</summary>
internal readonly record struct TokenUsage(long? PromptTokens, long? CompletionTokens, long? TotalTokens);

/// <summary>
/// Finds the <c>"usage": { ... }</c> object in a relayed body while it streams by, chunk by chunk, without holding the
/// body: it keeps only the few bytes of a key that straddles two chunks and the usage object itself (bounded by
/// <see cref="MaxUsageBytes"/>). Works for JSON answers (usage near the end) and for server-sent event streams
/// (<c>stream_options.include_usage</c>: every chunk carries <c>"usage":null</c>, the last one the counts); the last
/// usage object seen wins. Chat Completions names the counts prompt/completion_tokens, the Responses API
/// input/output_tokens; both are read.
/// </summary>
/// <remarks>
/// Our own scanner rather than a JSON parser over the body: System.Text.Json's Utf8JsonReader needs the whole document
/// or a caller-managed buffer of every unfinished token, and an SSE stream is not one JSON document. The key is safe to
/// look for bytewise: inside a JSON string a quote is escaped, so <c>"usage"</c> followed by a colon is a key.
/// A compressed answer (the caller's Accept-Encoding goes to the backend, and the relay passes bytes as they are) is
/// decoded on the side for the scan only: the decoder pulls each chunk's bytes as they pass, nothing is held back.
/// </remarks>
internal sealed class TokenUsageReader : IDisposable
{
    /// <summary>Far above any usage object (a few hundred bytes with its details); a larger one is not a usage object.</summary>
    internal const int MaxUsageBytes = 4096;

    private const int InitialUsageBytes = 512;

    private static readonly byte[] Key = "\"usage\""u8.ToArray();

    private State _state;
    private int _matched;
    private byte[]? _object;
    private int _length;
    private int _depth;
    private bool _inString;
    private bool _escaped;
    private ChunkFeed? _feed;
    private Stream? _decoder;
    private byte[]? _decoded;
    private bool _unreadable;

    private enum State
    {
        Searching,
        AfterKey,
        AfterColon,
        Capturing,
    }

    /// <summary>The last complete usage object seen so far, or null.</summary>
    public TokenUsage? Usage { get; private set; }

    /// <summary>
    /// Says how the body is encoded (its Content-Encoding), before the first chunk. gzip, deflate and br are decoded for
    /// the scan; another encoding is not scanned at all (its bytes would only be noise).
    /// </summary>
    public void UseEncoding(string? contentEncoding)
    {
        Dispose();
        _unreadable = false;
        var encoding = contentEncoding?.Trim().ToLowerInvariant();
        if (string.IsNullOrEmpty(encoding) || encoding == "identity")
        {
            return;
        }

        _feed = new ChunkFeed();
        _decoder = encoding switch
        {
            "gzip" or "x-gzip" => new GZipStream(_feed, CompressionMode.Decompress),
            "deflate" => new ZLibStream(_feed, CompressionMode.Decompress),
            "br" => new BrotliStream(_feed, CompressionMode.Decompress),
            _ => null,
        };
        _decoded = _decoder is null ? null : new byte[InitialUsageBytes * 16];
        _unreadable = _decoder is null;
    }

    /// <summary>Scans the next chunk of the body.</summary>
    public void Observe(ReadOnlySpan<byte> chunk)
    {
        if (_unreadable)
        {
            return;
        }

        if (_decoder is null)
        {
            Scan(chunk);
            return;
        }

        // The decoder reads the chunk from the feed, and stops (returns 0) when it needs the next one.
        _feed!.Set(chunk);
        try
        {
            int read;
            while ((read = _decoder.Read(_decoded!, 0, _decoded!.Length)) > 0)
            {
                Scan(_decoded.AsSpan(0, read));
            }
        }
        catch (InvalidDataException)
        {
            // Not what the header said: no counts rather than counts read from garbage.
            _unreadable = true;
        }
    }

    /// <summary>Releases the decoder's native state (zlib, brotli), if the body was compressed, and the pooled usage buffer.</summary>
    public void Dispose()
    {
        _decoder?.Dispose();
        _decoder = null;
        if (_object is { } usageBuffer)
        {
            _object = null;
            _length = 0;
            if (_state == State.Capturing)
            {
                _state = State.Searching;
            }

            ArrayPool<byte>.Shared.Return(usageBuffer);
        }
    }

    private void Scan(ReadOnlySpan<byte> chunk)
    {
        var i = 0;
        while (i < chunk.Length)
        {
            switch (_state)
            {
                case State.Searching:
                    i = Search(chunk, i);
                    break;
                case State.AfterKey:
                    i = SkipWhitespace(chunk, i);
                    if (i < chunk.Length)
                    {
                        _state = chunk[i] == (byte)':' ? State.AfterColon : State.Searching;
                        i += chunk[i] == (byte)':' ? 1 : 0;
                    }

                    break;
                case State.AfterColon:
                    i = SkipWhitespace(chunk, i);
                    if (i < chunk.Length)
                    {
                        if (chunk[i] == (byte)'{')
                        {
                            _state = State.Capturing;
                            _length = 0;
                            _depth = 0;
                            _inString = false;
                            _escaped = false;
                        }
                        else
                        {
                            // "usage": null (every chunk of a stream but the last), or not a usage object.
                            _state = State.Searching;
                        }
                    }

                    break;
                default:
                    i = Capture(chunk, i);
                    break;
            }
        }
    }

    /// <summary>Finds the key, also across chunks: <see cref="_matched"/> bytes of it ended the previous chunk.</summary>
    private int Search(ReadOnlySpan<byte> chunk, int i)
    {
        if (_matched > 0)
        {
            while (_matched < Key.Length && i < chunk.Length)
            {
                if (chunk[i] != Key[_matched])
                {
                    // Restart on this byte: it may itself open the key.
                    _matched = 0;
                    return i;
                }

                _matched++;
                i++;
            }

            if (_matched == Key.Length)
            {
                _matched = 0;
                _state = State.AfterKey;
            }

            return i;
        }

        var rest = chunk[i..];
        var found = rest.IndexOf(Key);
        if (found >= 0)
        {
            _state = State.AfterKey;
            return i + found + Key.Length;
        }

        // Keep how much of the key the chunk ends with (the longest suffix that is a prefix of the key).
        for (var take = Math.Min(Key.Length - 1, rest.Length); take > 0; take--)
        {
            if (rest[^take..].SequenceEqual(Key.AsSpan(0, take)))
            {
                _matched = take;
                break;
            }
        }

        return chunk.Length;
    }

    private int Capture(ReadOnlySpan<byte> chunk, int i)
    {
        // A usual usage object (with its details) is 200-300 bytes: start there, grow up to the bound. Pooled: nearly every
        // answer has one, and Dispose (at the request's end) gives it back.
        _object ??= ArrayPool<byte>.Shared.Rent(InitialUsageBytes);
        for (; i < chunk.Length; i++)
        {
            var b = chunk[i];
            if (_length == _object.Length)
            {
                if (_length >= MaxUsageBytes)
                {
                    // Not a usage object after all: give up on this one and look for the next key.
                    _state = State.Searching;
                    return i;
                }

                var larger = ArrayPool<byte>.Shared.Rent(Math.Min(_length * 2, MaxUsageBytes));
                _object.AsSpan(0, _length).CopyTo(larger);
                ArrayPool<byte>.Shared.Return(_object);
                _object = larger;
            }

            _object[_length++] = b;
            if (_inString)
            {
                if (_escaped)
                {
                    _escaped = false;
                }
                else if (b == (byte)'\\')
                {
                    _escaped = true;
                }
                else if (b == (byte)'"')
                {
                    _inString = false;
                }
            }
            else if (b == (byte)'"')
            {
                _inString = true;
            }
            else if (b == (byte)'{')
            {
                _depth++;
            }
            else if (b == (byte)'}' && --_depth == 0)
            {
                Usage = Parse(_object.AsSpan(0, _length)) ?? Usage;
                _state = State.Searching;
                return i + 1;
            }
        }

        return i;
    }

    private static int SkipWhitespace(ReadOnlySpan<byte> chunk, int i)
    {
        while (i < chunk.Length && chunk[i] is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n')
        {
            i++;
        }

        return i;
    }

    /// <summary>The top-level counts of one usage object; null when it is not valid JSON or has none.</summary>
    internal static TokenUsage? Parse(ReadOnlySpan<byte> json)
    {
        long? prompt = null, completion = null, total = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            while (reader.Read())
            {
                if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1)
                {
                    continue;
                }

                var name = reader.ValueSpan;
                if (!reader.Read())
                {
                    break;
                }

                if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt64(out var value))
                {
                    continue;
                }

                if (name.SequenceEqual("prompt_tokens"u8) || name.SequenceEqual("input_tokens"u8))
                {
                    prompt = value;
                }
                else if (name.SequenceEqual("completion_tokens"u8) || name.SequenceEqual("output_tokens"u8))
                {
                    completion = value;
                }
                else if (name.SequenceEqual("total_tokens"u8))
                {
                    total = value;
                }
            }
        }
        catch (JsonException)
        {
            return null;
        }

        return prompt is null && completion is null && total is null ? null : new TokenUsage(prompt, completion, total);
    }

    /// <summary>The compressed bytes of the chunk being observed, read by the decoder; empty (0) until the next chunk.</summary>
    private sealed class ChunkFeed : Stream
    {
        private byte[] _bytes = [];
        private int _offset;
        private int _length;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public void Set(ReadOnlySpan<byte> chunk)
        {
            if (_bytes.Length < chunk.Length)
            {
                _bytes = new byte[chunk.Length];
            }

            chunk.CopyTo(_bytes);
            _offset = 0;
            _length = chunk.Length;
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, _length - _offset);
            _bytes.AsSpan(_offset, n).CopyTo(buffer);
            _offset += n;
            return n;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
