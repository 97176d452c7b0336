using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Answers;

/// <summary>
/// How a request ended: a backend's answer relayed, the caller gone, or one of the proxy's own answers.
/// <see cref="ProxyOutcomes.StatusCode"/> is the one mapping of the proxy's answers to HTTP statuses; the first two write
/// nothing of their own.
/// </summary>
internal enum ProxyOutcome
{
    /// <summary>A backend's answer was relayed (whatever its status).</summary>
    Relayed,

    /// <summary>The caller went away (or reset the connection) before an answer was complete: nothing to write.</summary>
    CallerGone,

    /// <summary>The target is not under /openai/ (404).</summary>
    NotProxied,

    /// <summary>The request names a deployment that no backend serves (Proxy:Backends:{i}:Deployments) (404).</summary>
    DeploymentNotFound,

    /// <summary>The target tries to leave /openai/ or is malformed (400).</summary>
    InvalidPath,

    /// <summary>The method is not an HTTP method Azure OpenAI uses (405).</summary>
    MethodNotAllowed,

    /// <summary>The body exceeds Proxy:MaxRequestBodyBytes (413).</summary>
    BodyTooLarge,

    /// <summary>The request itself was malformed at the HTTP level (400).</summary>
    BadRequest,

    /// <summary>No caller credential, or one the proxy does not accept (401 with a Bearer WWW-Authenticate challenge).</summary>
    Unauthenticated,

    /// <summary>A valid Entra ID token of a caller outside Proxy:Auth:EntraId:AllowedCallers (403).</summary>
    Forbidden,

    /// <summary>
    /// Caller tokens cannot be checked because the tenant's signing keys could not be retrieved (503): not the caller's
    /// fault, retryable, and never a reason to let the request through.
    /// </summary>
    AuthenticationUnavailable,

    /// <summary>
    /// The proxy could not obtain its own Entra ID token for the backends (503 with Retry-After): a proxy identity
    /// problem, retryable, no backend contacted and none blamed.
    /// </summary>
    ProxyIdentityUnavailable,

    /// <summary>Every candidate was cooling or failed, and throttling was among the causes (429).</summary>
    Throttled,

    /// <summary>Every candidate failed with 5xx/408 or in transport (502).</summary>
    BackendsFailed,

    /// <summary>Every candidate timed out waiting for response headers (504).</summary>
    BackendsTimedOut,

    /// <summary>A defect of the proxy itself, caught as a last resort (502, never an empty 500).</summary>
    ProxyFailure,
}

/// <summary>The documented mapping of outcomes to statuses and Azure error codes.</summary>
internal static class ProxyOutcomes
{
    /// <summary>Status of a proxy-made answer; 0 for outcomes that write none of their own.</summary>
    public static int StatusCode(ProxyOutcome outcome) => outcome switch
    {
        ProxyOutcome.NotProxied => StatusCodes.Status404NotFound,
        ProxyOutcome.DeploymentNotFound => StatusCodes.Status404NotFound,
        ProxyOutcome.InvalidPath => StatusCodes.Status400BadRequest,
        ProxyOutcome.MethodNotAllowed => StatusCodes.Status405MethodNotAllowed,
        ProxyOutcome.BodyTooLarge => StatusCodes.Status413PayloadTooLarge,
        ProxyOutcome.BadRequest => StatusCodes.Status400BadRequest,
        ProxyOutcome.Unauthenticated => StatusCodes.Status401Unauthorized,
        ProxyOutcome.Forbidden => StatusCodes.Status403Forbidden,
        ProxyOutcome.AuthenticationUnavailable => StatusCodes.Status503ServiceUnavailable,
        ProxyOutcome.ProxyIdentityUnavailable => StatusCodes.Status503ServiceUnavailable,
        ProxyOutcome.Throttled => StatusCodes.Status429TooManyRequests,
        ProxyOutcome.BackendsFailed => StatusCodes.Status502BadGateway,
        ProxyOutcome.BackendsTimedOut => StatusCodes.Status504GatewayTimeout,
        ProxyOutcome.ProxyFailure => StatusCodes.Status502BadGateway,
        _ => 0,
    };

    /// <summary>The "code" of the Azure-shaped error body.</summary>
    public static string ErrorCode(ProxyOutcome outcome) => outcome switch
    {
        ProxyOutcome.NotProxied => "NotFound",
        ProxyOutcome.DeploymentNotFound => "DeploymentNotFound",
        ProxyOutcome.InvalidPath => "InvalidPath",
        ProxyOutcome.MethodNotAllowed => "MethodNotAllowed",
        ProxyOutcome.BodyTooLarge => "RequestBodyTooLarge",
        ProxyOutcome.BadRequest => "BadRequest",
        ProxyOutcome.Unauthenticated => "401",
        ProxyOutcome.Forbidden => "PermissionDenied",
        ProxyOutcome.AuthenticationUnavailable => "AuthenticationUnavailable",
        ProxyOutcome.ProxyIdentityUnavailable => "ProxyIdentityUnavailable",
        ProxyOutcome.Throttled => "429",
        ProxyOutcome.BackendsFailed => "BackendsUnavailable",
        ProxyOutcome.BackendsTimedOut => "BackendsTimedOut",
        _ => "ProxyError",
    };
}
