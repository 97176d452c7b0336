namespace AoaiProxy.Pipeline;

/// <summary>How one attempt ended, as YARP's forwarder returns a ForwarderError: a value, never an exception.</summary>
internal enum AttemptError
{
    /// <summary>The backend answered with a status to relay.</summary>
    None,

    /// <summary>429: not run by the backend; its cooldown is recorded at once.</summary>
    Throttled,

    /// <summary>408 or a 5xx failover status: the backend answered, and may have run the request.</summary>
    FailureStatus,

    /// <summary>No connection (name resolution, refused, TLS, connect timeout): the request provably never left the proxy.</summary>
    NotStarted,

    /// <summary>The exchange broke before response headers, after the request may have reached the backend.</summary>
    Transport,

    /// <summary>The request's deadline passed while the backend, which had accepted the request, was working.</summary>
    DeadlineExceeded,

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
    /// <summary>True when the request went out to the backend.</summary>
    public bool Sent => Error is not (AttemptError.Cooling or AttemptError.NoCredential);

    /// <summary>
    /// True when the backend may have executed the request (billed it, created an object): everything but a refusal
    /// before any work (429, 503), a 404 for an object it does not hold, or a request that never left the proxy. The basis for replay rules of stateful requests.
    /// </summary>
    public bool MayHaveRun => Sent && Error is not (AttemptError.Throttled or AttemptError.NotStarted or AttemptError.ObjectNotHeld or AttemptError.CallerBodyFailed)
        && !(Error == AttemptError.FailureStatus && Status == ServiceUnavailable);

    /// <summary>503: the backend refused the request (overloaded, not ready); nothing ran.</summary>
    private const int ServiceUnavailable = 503;

    /// <summary>
    /// True when the next candidate may be tried: the backend refused or failed with an answer, never got the request, or
    /// dropped it without answering. A backend still working when the deadline passed is not replaced by another (that
    /// would run, and bill, the request twice), and a caller that left needs no answer.
    /// </summary>
    public bool AllowsFailover => Error is not (AttemptError.None or AttemptError.DeadlineExceeded or AttemptError.CallerGone or AttemptError.CallerBodyFailed);
}
