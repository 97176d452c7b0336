using Microsoft.Extensions.Logging;

namespace AoaiProxy.Logging;

internal static partial class Log
{
    [LoggerMessage(90, LogLevel.Debug, "Refused {Path} to a remote caller: without caller authentication, status and metrics are served to loopback callers only")]
    public static partial void StatusRefusedRemote(ILogger logger, string path);
}
