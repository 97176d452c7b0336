using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace AoaiProxy.Logging;

/// <summary>
/// The log line of an exhausted answer, summarised per deployment: the first of an interval is written as it happens,
/// the rest are counted and written as one line when the next one comes after the interval. At overload every answer
/// would otherwise be a Warning line (hundreds a minute, billed in Application Insights), all saying the same.
/// </summary>
internal sealed class ExhaustedLog(ILogger logger, TimeProvider time)
{
    /// <summary>How long exhausted answers of one deployment are counted before the next line.</summary>
    internal static readonly TimeSpan Interval = TimeSpan.FromSeconds(60);

    /// <summary>Deployments come from callers: the set is bounded, and starts over when full.</summary>
    internal const int MaxTrackedDeployments = 1024;

    private readonly ConcurrentDictionary<string, Entry> _deployments = new(StringComparer.Ordinal);

    /// <summary>An exhausted answer of <paramref name="deployment"/>: written, or counted into the next summary.</summary>
    public void Write(string deployment, int attempts, int status, long retryAfterMs)
    {
        if (!_deployments.TryGetValue(deployment, out var entry))
        {
            if (_deployments.Count >= MaxTrackedDeployments)
            {
                _deployments.Clear();
            }

            entry = _deployments.GetOrAdd(deployment, static _ => new Entry());
        }

        var now = time.GetTimestamp();
        long suppressed;
        lock (entry)
        {
            if (entry.Started != long.MinValue && time.GetElapsedTime(entry.Started, now) < Interval)
            {
                entry.Suppressed++;
                return;
            }

            suppressed = entry.Suppressed;
            entry.Started = now;
            entry.Suppressed = 0;
        }

        if (suppressed > 0)
        {
            Log.ExhaustedSummary(logger, suppressed, deployment, Interval.TotalSeconds, status, retryAfterMs);
        }

        Log.Exhausted(logger, deployment, attempts, status, retryAfterMs);
    }

    private sealed class Entry
    {
        public long Started = long.MinValue;
        public long Suppressed;
    }
}
