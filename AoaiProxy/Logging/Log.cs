using Microsoft.Extensions.Logging;

namespace AoaiProxy.Logging;

/// <summary>
/// Every log line of the engine, source-generated, with stable event ids. No secrets reach these methods: only backend
/// names, deployments, statuses, durations and store descriptions (which never include keys or SAS).
/// Levels are production defaults: a request that a backend served writes nothing at Information (its attempt is Debug);
/// failovers, cooldowns, exhausted answers and store outages are Information or Warning. Client-caused events (refused
/// callers, paths, methods and bodies, callers that went away) are Debug, so that nobody can fill the log at Information
/// by sending bad requests.
/// </summary>
internal static partial class Log
{
    /// <summary>
    /// One attempt's answer: Debug when the backend served, Information when its status moves the request on (a 429,
    /// 408 or 5xx). A served request thus writes nothing at the production default (Information), while failovers stay
    /// visible; one event id for both, so a query over event 1 sees every attempt when Debug is on.
    /// </summary>
    public static void AttemptCompleted(ILogger logger, int attempt, string backend, string deployment, int status, bool movesOn, long elapsedMs) =>
        AttemptCompleted(logger, movesOn ? LogLevel.Information : LogLevel.Debug, attempt, backend, deployment, status, elapsedMs);

    [LoggerMessage(EventId = 1, Message = "Attempt {Attempt} to backend {Backend} for deployment {Deployment}: {Status} in {ElapsedMs} ms")]
    private static partial void AttemptCompleted(ILogger logger, LogLevel level, int attempt, string backend, string deployment, int status, long elapsedMs);

    [LoggerMessage(2, LogLevel.Warning, "Attempt {Attempt} to backend {Backend} for deployment {Deployment} failed in transport after {ElapsedMs} ms: {Error}")]
    public static partial void AttemptTransportFailed(ILogger logger, int attempt, string backend, string deployment, long elapsedMs, string error);

    [LoggerMessage(4, LogLevel.Information, "Backend {Backend} cooling down for {Scope} for {Seconds} s ({Reason})")]
    public static partial void CoolingDown(ILogger logger, string backend, string scope, double seconds, string reason);

    [LoggerMessage(5, LogLevel.Warning, "No backend could serve deployment {Deployment} after {Attempts} attempts; answering {Status} (retry after {RetryAfterMs} ms)")]
    public static partial void Exhausted(ILogger logger, string deployment, int attempts, int status, long retryAfterMs);

    [LoggerMessage(6, LogLevel.Debug, "Refused request target: {Reason}")]
    public static partial void PathRejected(ILogger logger, string reason);

    [LoggerMessage(7, LogLevel.Debug, "Refused request body over {Limit} bytes")]
    public static partial void BodyTooLarge(ILogger logger, long limit);

    [LoggerMessage(8, LogLevel.Debug, "Caller went away during attempt {Attempt} to backend {Backend}; not counted against it")]
    public static partial void CallerCancelled(ILogger logger, int attempt, string backend);

    [LoggerMessage(9, LogLevel.Warning, "Shared state store {Store} is unavailable ({ErrorType}: {Error}); rotation and cooldowns are per instance until it recovers")]
    public static partial void StateStoreUnavailable(ILogger logger, string store, string errorType, string error);

    [LoggerMessage(10, LogLevel.Warning, "Shared state store {Store} did not answer within {BudgetMs} ms; rotation and cooldowns are per instance until it recovers")]
    public static partial void StateStoreTimedOut(ILogger logger, string store, long budgetMs);

    [LoggerMessage(11, LogLevel.Information, "Shared state store {Store} recovered; rotation and cooldowns are shared again")]
    public static partial void StateStoreRecovered(ILogger logger, string store);

    [LoggerMessage(12, LogLevel.Information, "Shared state store {Store} is ready")]
    public static partial void StateStoreReady(ILogger logger, string store);

    [LoggerMessage(13, LogLevel.Warning, "Shared state store {Store} could not be initialized ({ErrorType}: {Error}); retrying in the background, per-instance state meanwhile")]
    public static partial void StateStoreInitializationFailed(ILogger logger, string store, string errorType, string error);

    [LoggerMessage(14, LogLevel.Warning, "No storage configured (AzureWebJobsStorage): using in-memory state, so rotation and cooldowns are not shared between instances")]
    public static partial void InMemoryState(ILogger logger);

    [LoggerMessage(15, LogLevel.Warning, "Relaying the response of backend {Backend} failed after it started: {Error}; the caller's connection is aborted")]
    public static partial void RelayFailed(ILogger logger, string backend, string error);

    [LoggerMessage(16, LogLevel.Information, "Proxy started with {Count} backends: {Backends}")]
    public static partial void Started(ILogger logger, int count, string backends);

    [LoggerMessage(27, LogLevel.Error, "Unexpected failure while proxying ({ErrorType}: {Error}); response already started: {Started}")]
    public static partial void UnexpectedFailure(ILogger logger, string errorType, string error, bool started);

    [LoggerMessage(17, LogLevel.Debug, "Refused request: {Reason}")]
    public static partial void RequestRejected(ILogger logger, string reason);

    [LoggerMessage(28, LogLevel.Debug, "Caller went away while its request body was read ({Reason}); nothing answered, no backend blamed")]
    public static partial void CallerBodyGone(ILogger logger, string reason);

    [LoggerMessage(29, LogLevel.Error, "The proxy could not store a request body in its temporary file ({Error}); answering 502")]
    public static partial void BodyStorageFailed(ILogger logger, string error);

    [LoggerMessage(60, LogLevel.Warning, "Attempt {Attempt} to backend {Backend} for deployment {Deployment} reached the request's deadline after {ElapsedMs} ms (Proxy:RequestTimeoutSeconds = {TimeoutMs} ms); not replayed elsewhere, the backend had accepted it")]
    public static partial void AttemptDeadlineExceeded(ILogger logger, int attempt, string backend, string deployment, long elapsedMs, long timeoutMs);

    [LoggerMessage(61, LogLevel.Warning, "Attempt {Attempt} to backend {Backend} for deployment {Deployment} could not connect after {ElapsedMs} ms: {Error}; the request never left the proxy")]
    public static partial void AttemptNotStarted(ILogger logger, int attempt, string backend, string deployment, long elapsedMs, string error);

    [LoggerMessage(62, LogLevel.Warning, "Relaying the response of backend {Backend} stalled for {IdleMs} ms waiting for the {Side}; the caller's connection is aborted")]
    public static partial void RelayIdleTimedOut(ILogger logger, string backend, long idleMs, string side);

    [LoggerMessage(63, LogLevel.Warning, "Cooling {Key} for {Seconds} s ({Reason}): at least {Ratio} of at least {MinimumRequests} recent attempts failed")]
    public static partial void FailureRateReached(ILogger logger, string key, double ratio, int minimumRequests, double seconds, string reason);

    [LoggerMessage(64, LogLevel.Warning, "Every backend for deployment {Deployment} is cooling after failures; trying {Backend} anyway")]
    public static partial void Panic(ILogger logger, string deployment, string backend);
}
