using AoaiProxy.Configuration;

namespace AoaiProxy.Observability;

/// <summary>
/// This instance's attempts per backend: totals since start, and per minute over the last
/// <see cref="Minutes"/> minutes in a ring buffer (the status page's charts). Per instance by design: the fleet-wide
/// picture is the metrics' job.
/// </summary>
internal sealed class BackendActivity
{
    /// <summary>How many minutes the charts show.</summary>
    public const int Minutes = 15;

    private readonly Dictionary<string, Series> _series;
    private readonly TimeProvider _time;

    public BackendActivity(ProxyOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(options);
        _time = time;
        _series = options.Backends.ToDictionary(b => b.Name, _ => new Series(), StringComparer.Ordinal);
    }

    /// <summary>Counts one attempt of <paramref name="backend"/>.</summary>
    public void Record(string backend, bool throttled, bool failed)
    {
        if (_series.TryGetValue(backend, out var series))
        {
            series.Record(MinuteOf(_time.GetUtcNow()), throttled, failed);
        }
    }

    /// <summary>The backend's totals and its last <see cref="Minutes"/> minutes, oldest first, the current minute last.</summary>
    public BackendCounts Read(string backend)
    {
        return _series.TryGetValue(backend, out var series)
            ? series.Read(MinuteOf(_time.GetUtcNow()))
            : new BackendCounts(0, 0, 0, new long[Minutes], new long[Minutes]);
    }

    private static long MinuteOf(DateTimeOffset now) => now.ToUnixTimeSeconds() / 60;

    private sealed class Series
    {
        private readonly Lock _gate = new();
        private readonly long[] _minute = new long[Minutes];
        private readonly long[] _requests = new long[Minutes];
        private readonly long[] _throttled = new long[Minutes];
        private long _totalRequests;
        private long _totalThrottled;
        private long _totalFailures;

        public Series() => Array.Fill(_minute, -1);

        public void Record(long minute, bool throttled, bool failed)
        {
            var slot = (int)(minute % Minutes);
            lock (_gate)
            {
                if (_minute[slot] != minute)
                {
                    // The slot last held a minute at least Minutes ago: start it afresh.
                    _minute[slot] = minute;
                    _requests[slot] = 0;
                    _throttled[slot] = 0;
                }

                _requests[slot]++;
                _totalRequests++;
                if (throttled)
                {
                    _throttled[slot]++;
                    _totalThrottled++;
                }

                if (failed)
                {
                    _totalFailures++;
                }
            }
        }

        public BackendCounts Read(long now)
        {
            var requests = new long[Minutes];
            var throttled = new long[Minutes];
            lock (_gate)
            {
                for (var i = 0; i < Minutes; i++)
                {
                    var minute = now - (Minutes - 1) + i;
                    var slot = (int)(minute % Minutes);
                    if (_minute[slot] == minute)
                    {
                        requests[i] = _requests[slot];
                        throttled[i] = _throttled[slot];
                    }
                }

                return new BackendCounts(_totalRequests, _totalThrottled, _totalFailures, requests, throttled);
            }
        }
    }
}

/// <summary>One backend's attempts as seen by this instance.</summary>
/// <param name="Requests">Attempts sent since start.</param>
/// <param name="Throttled">Of those, answered 429.</param>
/// <param name="Failures">Of those, answered 5xx/408, timed out or failed in transport.</param>
/// <param name="RequestsPerMinute">Attempts per minute, oldest first, the current minute last.</param>
/// <param name="ThrottledPerMinute">429s per minute, aligned with <paramref name="RequestsPerMinute"/>.</param>
internal sealed record BackendCounts(long Requests, long Throttled, long Failures, long[] RequestsPerMinute, long[] ThrottledPerMinute);
