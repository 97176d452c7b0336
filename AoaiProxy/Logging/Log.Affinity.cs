using Microsoft.Extensions.Logging;

namespace AoaiProxy.Logging;

/// <summary>Object affinity, deployment maps and the replay rule (event ids from 100).</summary>
internal static partial class Log
{
    [LoggerMessage(100, LogLevel.Debug, "Object {ObjectId} recorded on backend {Backend}")]
    public static partial void ObjectRecorded(ILogger logger, string objectId, string backend);

    [LoggerMessage(101, LogLevel.Warning, "Object store {Store} is unavailable ({ErrorType}: {Error}); object records are kept per instance and written when it recovers")]
    public static partial void ObjectStoreUnavailable(ILogger logger, string store, string errorType, string error);

    [LoggerMessage(102, LogLevel.Information, "Object store {Store} recovered; {Pending} object records still to write")]
    public static partial void ObjectStoreRecovered(ILogger logger, string store, int pending);

    [LoggerMessage(103, LogLevel.Debug, "Request names object {ObjectId}, held by backend {Backend}: sent there only")]
    public static partial void ObjectRouted(ILogger logger, string objectId, string backend);

    [LoggerMessage(104, LogLevel.Information, "Object {ObjectId}, unknown to the proxy, found on backend {Backend} after {Attempts} attempts")]
    public static partial void ObjectFound(ILogger logger, string objectId, string backend, int attempts);

    [LoggerMessage(105, LogLevel.Warning, "Backend {Backend} may have run a request that creates or changes a stateful object ({Failure}); not replayed on another backend")]
    public static partial void StatefulNotReplayed(ILogger logger, string backend, string failure);

    [LoggerMessage(106, LogLevel.Debug, "No backend serves deployment {Deployment}; answered 404 without calling any")]
    public static partial void DeploymentNotServed(ILogger logger, string deployment);

    [LoggerMessage(107, LogLevel.Debug, "Object {ObjectId} forgotten (deleted)")]
    public static partial void ObjectForgotten(ILogger logger, string objectId);

    [LoggerMessage(108, LogLevel.Warning, "Object {ObjectId} is recorded on backend {Backend}, which is no longer configured; routed as an unknown object")]
    public static partial void ObjectOwnerUnknown(ILogger logger, string objectId, string backend);
}
