using Microsoft.Extensions.Logging;

namespace AoaiProxy.Logging;

internal static partial class Log
{
    [LoggerMessage(110, LogLevel.Debug, "Request for deployment {Deployment} waited {WaitedMs} ms for a throttled window and goes to backend {Backend}")]
    public static partial void WaitEnded(ILogger logger, string deployment, long waitedMs, string backend);

    [LoggerMessage(111, LogLevel.Information, "Request for deployment {Deployment} refused after waiting for a throttled window ({Reason}); answering 429 (retry after {RetryAfterMs} ms)")]
    public static partial void WaitRefused(ILogger logger, string deployment, string reason, long retryAfterMs);

    [LoggerMessage(112, LogLevel.Warning, "{Count} more requests for deployment {Deployment} found no backend in the last {Seconds} s; the last answered {Status} (retry after {RetryAfterMs} ms)")]
    public static partial void ExhaustedSummary(ILogger logger, long count, string deployment, double seconds, int status, long retryAfterMs);
}
