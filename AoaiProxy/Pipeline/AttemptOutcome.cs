using AoaiProxy.Affinity;
using AoaiProxy.Throttling;

namespace AoaiProxy.Pipeline;

/// <summary>How one attempt ended, as YARP's forwarder returns a ForwarderError: a value, never an exception.</summary>
internal enum AttemptError
{
    /// <summary>The backend answered with a status to relay.</summary>
    None,

    /// <summary>429: not run by the backend; <see cref="BackendHealth"/> cools it for as long as it asks.</summary>
    Throttled,

    /// <summary>408 or a 5xx failover status: the backend answered, and may have run the request.</summary>
    FailureStatus,

    /// <summary>
    /// The backend's answer is not a final one (an informational 1xx, 101 Switching Protocols to a request that asked for
    /// no upgrade): it cannot be relayed as the answer, and may follow a request the backend ran.
    /// </summary>
    NotFinal,

    /// <summary>No connection (name resolution, refused, TLS, connect timeout): the request provably never left the proxy.</summary>
    NotStarted,

    /// <summary>The exchange broke before response headers, after the request may have reached the backend.</summary>
    Transport,

    /// <summary>The request's deadline passed while the backend, which had accepted the request, was working.</summary>
    DeadlineExceeded,

    /// <summary>
    /// The request's deadline passed while the backend waited for the caller's body bytes (a streamed upload still
    /// arriving): the caller was slow, so the backend is not blamed; otherwise as <see cref="DeadlineExceeded"/>.
    /// </summary>
    DeadlineWaitingForCaller,

    /// <summary>The caller went away; nothing more is done and nobody is blamed.</summary>
    CallerGone,

    /// <summary>Not sent: another request cooled the backend after the plan was made.</summary>
    Cooling,

    /// <summary>Not sent: the proxy could not obtain its own token for the backend.</summary>
    NoCredential,

    /// <summary>404 from a backend asked for an object the proxy has no record of: the next backend may hold it.</summary>
    ObjectNotHeld,

    /// <summary>
    /// The send ended because the caller's body failed (RequestBody.Failure says how: the caller went away, sent a
    /// malformed body, or the proxy's copy failed). The backend never got the whole body; nobody is blamed.
    /// </summary>
    CallerBodyFailed,
}

/// <summary>The outcome of one planned attempt.</summary>
/// <param name="Backend">Index of the backend in the configured list.</param>
/// <param name="Error">How it ended.</param>
/// <param name="Status">The backend's status, when it answered (0 otherwise).</param>
internal readonly record struct AttemptOutcome(int Backend, AttemptError Error, int Status = 0)
{
    /// <summary>503: the backend refused the request (overloaded, not ready); nothing ran.</summary>
    private const int ServiceUnavailable = 503;

    /// <summary>Which send of the request this was (1 for the first backend called); 0 when nothing was sent.</summary>
    public int Attempt { get; init; }

    /// <summary>When the attempt was sent (<see cref="TimeProvider.GetTimestamp"/>).</summary>
    public long Started { get; init; }

    /// <summary>From sending to the response headers, or to the failure.</summary>
    public TimeSpan Elapsed { get; init; }

    /// <summary>What failed in transport (the exception's message), for the log; null otherwise.</summary>
    public string? Detail { get; init; }

    /// <summary>The throttle headers of a 429 answer (how long the backend asks to be left alone).</summary>
    public ThrottleHeaderValues Throttle { get; init; }

    /// <summary>What the answer reported its deployment has left (x-ratelimit-remaining-tokens / -requests), if it did.</summary>
    public QuotaLeft Left { get; init; }

    /// <summary>The request's place in its deployment's ledger of estimated tokens (<see cref="Headroom"/>), when it has a cost.</summary>
    public Headroom.Ticket? Ticket { get; init; }

    /// <summary>True when the request went out to the backend.</summary>
    public bool Sent => Error is not (AttemptError.Cooling or AttemptError.NoCredential);

    /// <summary>
    /// True when the backend may have executed the request (billed it, created an object): everything but a refusal
    /// before any work (429, 503), a 404 for an object it does not hold, or a request that never left the proxy. The basis for replay rules of stateful requests.
    /// </summary>
    public bool MayHaveRun => Sent && Error is not (AttemptError.Throttled or AttemptError.NotStarted or AttemptError.ObjectNotHeld or AttemptError.CallerBodyFailed)
        && !(Error == AttemptError.FailureStatus && Status == ServiceUnavailable);

    /// <summary>
    /// True when the next candidate may be tried: the backend refused or failed with an answer, never got the request, or
    /// dropped it without answering. A backend still working when the deadline passed is not replaced by another (that
    /// would run, and bill, the request twice), and a caller that left needs no answer.
    /// </summary>
    public bool AllowsFailover => Error is not (AttemptError.None or AttemptError.DeadlineExceeded or AttemptError.DeadlineWaitingForCaller or AttemptError.CallerGone
        or AttemptError.CallerBodyFailed);

    /// <summary>True when the backend answered (any status), which proves the connection.</summary>
    public bool Answered => Error is AttemptError.None or AttemptError.Throttled or AttemptError.FailureStatus or AttemptError.NotFinal;

    /// <summary>
    /// Whether the next candidate may be tried after this outcome, for a request of <paramref name="kind"/>: a request
    /// that creates or changes a stateful object moves on only when the backend provably did not run it, unless
    /// <paramref name="replayStateful"/> (Proxy:Replay:StatefulRequests).
    /// </summary>
    public bool AllowsNext(RequestKind kind, bool replayStateful) =>
        AllowsFailover && !(kind == RequestKind.Stateful && MayHaveRun && !replayStateful);
}
