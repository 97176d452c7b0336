using System.Buffers;

namespace AoaiProxy.Observability;

/// <summary>
/// Finds the <c>"usage": { ... }</c> objects in JSON text that arrives in chunks, without holding the text: it keeps only
/// the few bytes of a key that straddles two chunks and the usage object itself (bounded by <see cref="MaxUsageBytes"/>).
/// Works for JSON answers (usage near the end) and for server-sent event streams (<c>stream_options.include_usage</c>:
/// every chunk carries <c>"usage":null</c>, the last one the counts); the last usage object seen wins.
/// </summary>
/// <remarks>
/// Our own scanner rather than a JSON parser over the body: System.Text.Json's Utf8JsonReader needs the whole document
/// or a caller-managed buffer of every unfinished token, and an SSE stream is not one JSON document. The key is safe to
/// look for bytewise: inside a JSON string a quote is escaped, so <c>"usage"</c> followed by a colon is a key.
/// </remarks>
internal sealed class UsageObjectScanner : IDisposable
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

    private enum State
    {
        Searching,
        AfterKey,
        AfterColon,
        Capturing,
    }

    /// <summary>The last complete usage object seen so far, or null.</summary>
    public TokenUsage? Usage { get; private set; }

    /// <summary>Scans the next chunk of the text.</summary>
    public void Scan(ReadOnlySpan<byte> chunk)
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

    /// <summary>Gives back the pooled buffer of a usage object being captured (an unfinished one is dropped).</summary>
    public void Dispose()
    {
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
                Usage = TokenUsage.Parse(_object.AsSpan(0, _length)) ?? Usage;
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
}
