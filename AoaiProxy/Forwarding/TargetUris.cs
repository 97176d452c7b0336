using System.Collections.Concurrent;
using AoaiProxy.Configuration;

namespace AoaiProxy.Forwarding;

/// <summary>
/// The absolute URIs attempts send to, kept per backend by the caller's target (path and query as received). A chat app
/// sends the same few targets again and again; parsing a Uri for each request was about 1.5% of the proxy's CPU and 300
/// bytes. A Uri is immutable, so one instance serves every request to that target. Bounded: past
/// <see cref="MaxPerBackend"/> targets of one backend (list pages, varied queries), further ones are parsed per request.
/// </summary>
internal sealed class TargetUris
{
    internal const int MaxPerBackend = 1024;

    private readonly ConcurrentDictionary<string, Uri>[] _byBackend;

    /// <summary>Entries per backend, counted here: ConcurrentDictionary.Count takes every lock of the dictionary.</summary>
    private readonly int[] _counts;
    private readonly IReadOnlyList<BackendOptions> _backends;

    public TargetUris(IReadOnlyList<BackendOptions> backends)
    {
        ArgumentNullException.ThrowIfNull(backends);
        _backends = backends;
        _byBackend = new ConcurrentDictionary<string, Uri>[backends.Count];
        _counts = new int[backends.Count];
        for (var i = 0; i < _byBackend.Length; i++)
        {
            _byBackend[i] = new ConcurrentDictionary<string, Uri>(StringComparer.Ordinal);
        }
    }

    /// <summary>Backend <paramref name="index"/>'s endpoint joined with <paramref name="pathAndQuery"/> (see <see cref="Join"/>).</summary>
    public Uri For(int index, string pathAndQuery)
    {
        var known = _byBackend[index];
        if (known.TryGetValue(pathAndQuery, out var uri))
        {
            return uri;
        }

        uri = Join(_backends[index].Endpoint, pathAndQuery);
        if (Volatile.Read(ref _counts[index]) < MaxPerBackend && known.TryAdd(pathAndQuery, uri))
        {
            Interlocked.Increment(ref _counts[index]);
        }

        return uri;
    }

    /// <summary>The endpoint ends with '/', the path starts with '/': joined without doubling and without re-encoding.</summary>
    public static Uri Join(Uri endpoint, string pathAndQuery)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(pathAndQuery);
        var root = endpoint.AbsoluteUri;
        return new Uri(string.Concat(root.AsSpan(0, root.Length - 1), pathAndQuery), UriKind.Absolute);
    }
}
