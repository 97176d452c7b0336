using Microsoft.Extensions.Logging;

namespace AoaiProxy.Logging;

/// <summary>Log lines of cross-origin (CORS) handling (event ids from 80).</summary>
internal static partial class Log
{
    [LoggerMessage(80, LogLevel.Debug, "Answered a CORS preflight from origin {Origin} (allowed: {Allowed})")]
    public static partial void CorsPreflightAnswered(ILogger logger, string origin, bool allowed);
}
