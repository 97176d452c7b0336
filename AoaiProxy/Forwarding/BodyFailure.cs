using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Forwarding;

/// <summary>Why a request body could not be received or stored whole.</summary>
internal enum BodyFailureKind
{
    /// <summary>The caller's connection reset, aborted or cancelled: nothing to answer, nobody to blame.</summary>
    CallerGone,

    /// <summary>The caller sent a body the server cannot parse (chunk framing) or fewer bytes than announced: its 400.</summary>
    Malformed,

    /// <summary>The body exceeds a limit (the proxy's Proxy:MaxRequestBodyBytes, or the server's): 413.</summary>
    TooLarge,

    /// <summary>The proxy's temporary file for the body failed: the proxy's own problem, not the caller's or a backend's.</summary>
    Storage,
}

/// <summary>
/// A failed request body, as a value: how it failed, a <paramref name="Message"/> safe to show the caller (no internal
/// paths), and a <paramref name="Detail"/> for the proxy's log (the error's type and message).
/// </summary>
internal readonly record struct BodyFailure(BodyFailureKind Kind, string Message, string Detail)
{
    private const string NotReadPrefix = "The request could not be read: ";

    /// <summary>
    /// Classifies what reading the caller's body threw; null for anything that is not the caller's or the server's body
    /// error (a defect of the proxy, which the caller of this method rethrows). <paramref name="callerAborted"/> is the
    /// request's RequestAborted; an <see cref="OperationCanceledException"/> passed here is never the reader's own
    /// cancellation (the reader handles that first).
    /// </summary>
    public static BodyFailure? OfCallerRead(Exception exception, bool callerAborted)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return exception switch
        {
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } e =>
                new BodyFailure(BodyFailureKind.TooLarge, "The request body exceeds the server's limit.", DetailOf(e)),

            // Kestrel's framing errors (bad chunk size, suffix or extension, unexpected end of content, slow data).
            BadHttpRequestException e => new BodyFailure(BodyFailureKind.Malformed, NotReadPrefix + e.Message, DetailOf(e)),

            // Kestrel's chunk-size parser reports a size past int.MaxValue ("ffffffffffffffffff1", "80000000") this way.
            IOException { InnerException: OverflowException } e => new BodyFailure(BodyFailureKind.Malformed, NotReadPrefix + e.Message, DetailOf(e)),

            // ConnectionResetException is an IOException, ConnectionAbortedException an OperationCanceledException; an HTTP/2
            // stream the caller reset reads as an IOException once RequestAborted is set. Any other I/O failure of the
            // caller's stream is its connection breaking too.
            IOException or OperationCanceledException => CallerGone(exception, callerAborted),
            _ => null,
        };
    }

    /// <summary>A body that ended before the bytes its Content-Length announced.</summary>
    public static BodyFailure Truncated(long received, long announced)
    {
        var message = $"The request body ended after {received} of the {announced} bytes its Content-Length announced.";
        return new BodyFailure(BodyFailureKind.Malformed, NotReadPrefix + message, message);
    }

    /// <summary>A body over the proxy's own limit.</summary>
    public static BodyFailure OverLimit(long limit) =>
        new(BodyFailureKind.TooLarge, $"The request body exceeds the proxy's limit of {limit} bytes.", $"over {limit} bytes");

    /// <summary>The temporary file failed (<paramref name="exception"/> may name its path: only the log sees it).</summary>
    public static BodyFailure Storage(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return new BodyFailure(BodyFailureKind.Storage, "The proxy could not store the request body; it has been logged.", DetailOf(exception));
    }

    /// <summary>True for the exceptions a temporary file's operations throw when the disk or the file fails.</summary>
    public static bool IsStorageError(Exception exception) => exception is IOException or UnauthorizedAccessException;

    private static BodyFailure CallerGone(Exception exception, bool callerAborted) =>
        new(BodyFailureKind.CallerGone, "The caller went away while its request body was read.",
            callerAborted ? DetailOf(exception) + " (request aborted)" : DetailOf(exception));

    private static string DetailOf(Exception exception) => exception.GetType().Name + ": " + exception.Message;
}

/// <summary>
/// Ends an attempt's send because the body failed (<see cref="RequestBody.Failure"/> has the value, read by whoever
/// handles the send's end): an <see cref="HttpContent"/> can stop a send only by throwing.
/// </summary>
internal sealed class BodyFailedException : IOException
{
    public BodyFailedException()
    {
    }

    public BodyFailedException(string message)
        : base(message)
    {
    }

    public BodyFailedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
