using Microsoft.AspNetCore.Http;

namespace AoaiProxy.Pipeline;

/// <summary>How a request ended. <see cref="ProxyOutcomes.StatusCode"/> is the one mapping to HTTP statuses.</summary>
internal enum ProxyOutcome
{
    /// <summary>A backend's answer was relayed (its own status).</summary>
    Relayed,

    /// <summary>The target is not under /openai/ (404).</summary>
    NotProxied,

    /// <summary>The target tries to leave /openai/ or is malformed (400).</summary>
    InvalidPath,

    /// <summary>The method is not an HTTP method Azure OpenAI uses (405).</summary>
    MethodNotAllowed,

    /// <summary>The body exceeds Proxy:MaxRequestBodyBytes (413).</summary>
    BodyTooLarge,

    /// <summary>The request itself was malformed at the HTTP level (400).</summary>
    BadRequest,

    /// <summary>Every candidate was cooling or failed, and throttling was among the causes (429).</summary>
    Throttled,

    /// <summary>Every candidate failed with 5xx/408 or in transport (502).</summary>
    BackendsFailed,

    /// <summary>Every candidate timed out waiting for response headers (504).</summary>
    BackendsTimedOut,

    /// <summary>The caller went away; nothing is written and no backend is blamed.</summary>
    CallerCancelled,

    /// <summary>The backend's body broke off after bytes reached the caller; the connection is aborted.</summary>
    RelayAborted,
}

/// <summary>The documented mapping of outcomes to statuses and Azure error codes.</summary>
internal static class ProxyOutcomes
{
    /// <summary>Status of a proxy-made answer; 0 for outcomes that write none of their own.</summary>
    public static int StatusCode(ProxyOutcome outcome) => outcome switch
    {
        ProxyOutcome.NotProxied => StatusCodes.Status404NotFound,
        ProxyOutcome.InvalidPath => StatusCodes.Status400BadRequest,
        ProxyOutcome.MethodNotAllowed => StatusCodes.Status405MethodNotAllowed,
        ProxyOutcome.BodyTooLarge => StatusCodes.Status413PayloadTooLarge,
        ProxyOutcome.BadRequest => StatusCodes.Status400BadRequest,
        ProxyOutcome.Throttled => StatusCodes.Status429TooManyRequests,
        ProxyOutcome.BackendsFailed => StatusCodes.Status502BadGateway,
        ProxyOutcome.BackendsTimedOut => StatusCodes.Status504GatewayTimeout,
        _ => 0,
    };

    /// <summary>The "code" of the Azure-shaped error body.</summary>
    public static string ErrorCode(ProxyOutcome outcome) => outcome switch
    {
        ProxyOutcome.NotProxied => "NotFound",
        ProxyOutcome.InvalidPath => "InvalidPath",
        ProxyOutcome.MethodNotAllowed => "MethodNotAllowed",
        ProxyOutcome.BodyTooLarge => "RequestBodyTooLarge",
        ProxyOutcome.BadRequest => "BadRequest",
        ProxyOutcome.Throttled => "429",
        ProxyOutcome.BackendsFailed => "BackendsUnavailable",
        ProxyOutcome.BackendsTimedOut => "BackendsTimedOut",
        _ => "ProxyError",
    };
}
